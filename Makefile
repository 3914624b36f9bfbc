# Two commands do everything on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench faults check chat sandbox lock debian venv clean screenshots

$(STAMP): requirements.txt pyproject.toml | debian
	test -x $(BIN)/pip || { rm -rf $(VENV); $(PY) -m venv $(VENV); }
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

venv: $(STAMP)

# Debian packages the tests and the demo need (headless browser and its emoji and Chinese
# fonts, graph renderer, Redis).
debian:
	@missing=""; \
	$(PY) -c "import venv, ensurepip" 2>/dev/null || missing="$$missing python3-venv"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v dot >/dev/null || missing="$$missing graphviz"; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	[ -e /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ] || missing="$$missing fonts-noto-color-emoji"; \
	[ -e /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc ] || missing="$$missing fonts-noto-cjk"; \
	if [ -n "$$missing" ]; then \
	  echo "installing from Debian:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  [ -z "$$SUDO" ] || command -v sudo >/dev/null || { echo "run as root or install:$$missing"; exit 1; }; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

run: venv debian
	$(BIN)/python -m devtools demo

test: venv debian
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -q -p no:cacheprovider

screenshots: venv debian
	UPDATE_SCREENSHOTS=1 $(BIN)/python -m pytest -q -p no:cacheprovider tests/e2e/test_simulator_browser.py tests/e2e/test_inbox_browser.py tests/e2e/test_report_browser.py

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check flows gateway adapters
	$(BIN)/mypy

check: venv
	$(BIN)/gateway check flows.yaml

chat: venv
	$(BIN)/python -m devtools chat

bench: venv debian
	@for b in bench/bench_*.py; do $(BIN)/python $$b || exit 1; done

# Fault runs against the real gateway and sandbox (a platform outage...): minutes each.
faults: venv debian
	@for f in bench/fault_*.py; do $(BIN)/python $$f || exit 1; done

lock: venv
	$(BIN)/pip freeze --all --exclude-editable | grep -v "^pip==" | sed '1i # Exact pins for every package (make bootstraps .venv from this file). Regenerate with: make lock' > requirements.txt
	$(BIN)/python -m devtools.runtime_requirements

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache
