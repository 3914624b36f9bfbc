# The gateway: gunicorn serves the webhooks; the same image runs `gateway worker`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    FLOWS_PATH=/app/flows.yaml \
    STORE_URL=sqlite:////data/gateway.db \
    PORT=8080 \
    GATEWAY_INLINE_WORKERS=1

WORKDIR /app
COPY requirements-runtime.txt pyproject.toml ./
RUN pip install -r requirements-runtime.txt
COPY flows ./flows
COPY adapters ./adapters
COPY gateway ./gateway
COPY flows.yaml ./
RUN pip install --no-deps --no-build-isolation . \
    && useradd --create-home --uid 10001 gateway \
    && mkdir -p /data && chown gateway /data

USER gateway
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD python -c "import urllib.request,os; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"PORT\",\"8080\")}/healthz', timeout=2)"

# By default one container does everything (web + worker threads, SQLite in /data). With Redis
# (STORE_URL=redis://...), set GATEWAY_INLINE_WORKERS=0 on web containers and run `gateway worker`
# containers beside them (docker-compose.yml). No access log: query strings can carry tokens.
CMD ["sh", "-c", "exec gunicorn --bind 0.0.0.0:${PORT} --workers 1 --threads 16 'gateway.wsgi:app'"]
