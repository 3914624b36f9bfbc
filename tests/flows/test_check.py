"""`gateway check`: every class of mistake is caught with file:line:column, what is wrong and the fix."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from tests.conftest import ROOT, check_yaml

HEAD = """\
version: 1
settings:
  start: welcome
  disclosure: "I'm a bot."
nodes:
"""


def errors_of(nodes_yaml: str, head: str = HEAD) -> list[str]:
    result = check_yaml(head + textwrap.indent(textwrap.dedent(nodes_yaml), "  "))
    return [d.format() for d in result.errors]


def warnings_of(nodes_yaml: str, head: str = HEAD) -> list[str]:
    result = check_yaml(head + textwrap.indent(textwrap.dedent(nodes_yaml), "  "))
    assert not result.errors, [d.format() for d in result.errors]
    return [d.format() for d in result.warnings]


def test_sample_flow_is_clean() -> None:
    result = check_yaml((ROOT / "flows.yaml").read_text())
    assert [d.format() for d in result.diagnostics] == []
    assert result.flow is not None


def test_unknown_goto_names_the_line_and_suggests_the_closest_node() -> None:
    errs = errors_of("""\
        welcome:
          say: Hi
          next: trak_order
        track_order:
          say: Where?
          end: true
    """)
    assert (
        "flows.yaml:8:11: error: unknown node 'trak_order' in next; did you mean 'track_order'?"
        in errs
    )


def test_unknown_key_is_an_error_with_the_nearest_known_key() -> None:
    errs = errors_of("""\
        welcome:
          sya: Hi
          end: true
    """)
    assert errs == [
        "flows.yaml:7:5: error: unknown key 'sya' in node 'welcome'; did you mean 'say'?"
    ]


def test_wrong_type_names_the_path() -> None:
    errs = errors_of("""\
        welcome:
          say: Hi
          buttons: Track my order
    """)
    assert errs[0].startswith("flows.yaml:8:14: error: 'nodes.welcome.buttons' must be a list")


def test_yaml_syntax_error_points_at_the_line() -> None:
    result = check_yaml(HEAD + "  welcome:\n    say: [Hi\n    end: true\n")
    (err,) = result.errors
    assert err.line == 8 and "YAML syntax" in err.message and "indentation" in err.fix


def test_duplicate_key_is_an_error() -> None:
    result = check_yaml(
        HEAD + "  welcome:\n    say: Hi\n    end: true\n  welcome:\n    say: Bye\n    end: true\n"
    )
    (err,) = result.errors
    assert "duplicate key" in err.message and err.line == 9


def test_unreachable_node_is_reported_at_its_name() -> None:
    errs = errors_of("""\
        welcome:
          say: Hi
          end: true
        orphan:
          say: Nobody comes here
          end: true
    """)
    assert errs == [
        "flows.yaml:9:3: error: node 'orphan' can never be reached; "
        "link to it from a button, 'next:' or an intent, or delete it"
    ]


def test_dead_end_is_reported() -> None:
    errs = errors_of("""\
        welcome:
          say: Hi and then nothing
    """)
    assert errs == [
        "flows.yaml:6:3: error: node 'welcome' is a dead end: the shopper is left with no way "
        "forward; add 'next: node_name', buttons, or 'end: true'"
    ]


def test_question_without_next_is_a_dead_end() -> None:
    errs = errors_of("""\
        welcome:
          ask: Your email?
          save: email
    """)
    assert "after the answer to 'welcome' the conversation has nowhere to go" in errs[0]


def test_loop_that_never_waits_is_reported() -> None:
    errs = errors_of("""\
        welcome:
          say: Hi
          next: again
        again:
          set: {n: 1}
          next: welcome
    """)
    assert len(errs) == 1
    assert "loop without ever waiting for the shopper" in errs[0]
    assert "welcome → again → welcome" in errs[0]


def test_loop_through_a_question_is_fine() -> None:
    assert (
        warnings_of("""\
        welcome:
          say: Hi
          buttons:
            - Again: welcome
            - Bye: bye
        bye:
          end: true
    """)
        == []
    )


def test_split_weights_must_add_up_to_100() -> None:
    errs = errors_of("""\
        welcome:
          split:
            experiment: e1
            variants:
              - {name: a, weight: 60, goto: a}
              - {name: b, weight: 30, goto: b}
        a:
          end: true
        b:
          end: true
    """)
    assert any(
        "weights add up to 90, not 100" in e and "make the weights add up to 100" in e for e in errs
    )


def test_split_weight_must_be_positive() -> None:
    errs = errors_of("""\
        welcome:
          split:
            experiment: e1
            variants:
              - {name: a, weight: 100, goto: a}
              - {name: b, weight: 0, goto: a}
        a:
          end: true
    """)
    assert any("variant 'b' has weight 0" in e for e in errs)


def test_duplicate_button_titles_are_errors_even_with_other_case_and_accents() -> None:
    errs = errors_of("""\
        welcome:
          say: Pick
          buttons:
            - Retour: a
            - rétour: a
        a:
          end: true
    """)
    assert len(errs) == 1
    assert "flows.yaml:10:9: error: two buttons are both called 'rétour'" in errs[0]


def test_long_button_title_warns_with_the_platform() -> None:
    warns = warnings_of("""\
        welcome:
          say: Pick
          buttons:
            - A title that is much too long: a
        a:
          end: true
    """)
    assert warns == [
        "flows.yaml:9:9: warning: button title 'A title that is much too long' has 29 characters; "
        "Messenger and WhatsApp cut titles after 20; shorten it to 20 characters or fewer"
    ]


def test_template_naming_a_variable_nothing_sets_warns() -> None:
    warns = warnings_of("""\
        welcome:
          ask: Order number?
          save: order_id
          next: show
        show:
          say: "Order {{ vars.order_number }}"
          end: true
    """)
    assert warns == [
        "flows.yaml:11:10: warning: 'vars.order_number' is used here but nothing sets it; "
        "did you mean 'order_id'?"
    ]


def test_unknown_template_name_warns() -> None:
    warns = warnings_of("""\
        welcome:
          say: "Hi {{ usr.first_name }}"
          end: true
    """)
    assert warns and "'usr' is not something templates know; did you mean 'user'?" in warns[0]


def test_broken_template_is_an_error() -> None:
    errs = errors_of("""\
        welcome:
          say: "Hi {{ user.first_name"
          end: true
    """)
    assert errs and "template error" in errs[0] and errs[0].startswith("flows.yaml:7:")


def test_switch_without_else_is_an_error() -> None:
    errs = errors_of("""\
        welcome:
          switch:
            - when: vars.x == 1
              goto: a
        a:
          end: true
    """)
    assert any("the switch has no '- else: node'" in e for e in errs)


def test_broken_regex_is_an_error() -> None:
    errs = errors_of("""\
        welcome:
          ask: Code?
          save: code
          expect: {regex: '[A-Z'}
          next: a
        a:
          end: true
    """)
    assert any("the regex is broken" in e for e in errs)


def test_two_controls_in_one_node_is_an_error() -> None:
    errs = errors_of("""\
        welcome:
          say: Hi
          end: true
          handoff: support
    """)
    assert any("has both" in e and "split it into two nodes" in e for e in errs)


def test_missing_settings_start_and_disclosure_warning() -> None:
    result = check_yaml("nodes:\n  a:\n    end: true\n")
    assert any("the file has no 'settings:' section" in d.message for d in result.errors)
    result = check_yaml("settings:\n  start: a\nnodes:\n  a:\n    end: true\n")
    assert next(d.message for d in result.warnings).startswith("no 'disclosure' in settings")


def test_every_error_is_reported_not_only_the_first() -> None:
    errs = errors_of("""\
        welcome:
          say: Hi
          next: nowhere
        other:
          sya: Hi
          end: true
    """)
    assert len(errs) >= 2


def _gateway(*args: str, cwd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_check_exits_1_with_every_error(tmp_path: pytest.TempPathFactory) -> None:
    bad = tmp_path / "flows.yaml"  # type: ignore[operator]
    bad.write_text(HEAD + "  welcome:\n    say: Hi\n    next: trak\n  track:\n    end: true\n")
    done = _gateway("check", str(bad), cwd=str(tmp_path))
    assert done.returncode == 1
    assert f"{bad}:8:11: error: unknown node 'trak' in next; did you mean 'track'?" in done.stderr
    assert "1 error" in done.stderr


def test_cli_check_exits_0_with_a_one_line_summary() -> None:
    done = _gateway("check", "flows.yaml", cwd=str(ROOT))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("flows.yaml: OK, ")


def test_timeout_zero_is_refused_not_silently_five_seconds() -> None:
    errs = errors_of("""\
        welcome:
          call: {url: "http://x.test", timeout: 0}
          next: a
        a:
          end: true
    """)
    assert any("timeout 0s is out of range" in e for e in errs)


def test_goto_on_a_link_button_is_an_error() -> None:
    errs = errors_of("""\
        welcome:
          say: Pick
          buttons:
            - {title: Site, url: "https://shop.example", goto: a}
            - Go: a
        a:
          end: true
    """)
    assert any("its 'goto' is never followed" in e for e in errs)


def test_next_after_end_or_handoff_is_an_error() -> None:
    errs = errors_of("""\
        welcome:
          say: Bye
          end: true
          next: welcome
    """)
    assert any("'next' in 'welcome' is never followed: the node has 'end'" in e for e in errs)


def test_else_must_be_last_in_a_switch() -> None:
    errs = errors_of("""\
        welcome:
          switch:
            - else: a
            - when: vars.x == 1
              goto: a
        a:
          end: true
    """)
    assert any("comes after '- else:'" in e for e in errs)


def test_node_with_only_link_buttons_is_a_dead_end() -> None:
    errs = errors_of("""\
        welcome:
          say: See our site
          buttons:
            - {title: Site, url: "https://shop.example"}
    """)
    assert any("only has link buttons" in e for e in errs)


def test_call_save_must_be_a_variable_name() -> None:
    errs = errors_of("""\
        welcome:
          call: {url: "http://x.test", save: "order data"}
          next: a
        a:
          end: true
    """)
    assert any("'order data' is not a valid variable name" in e for e in errs)


def test_intent_language_not_in_settings_warns() -> None:
    result = check_yaml(
        HEAD.replace(
            "nodes:\n", "intents:\n  agent: {keywords: {fr: [agent]}, goto: welcome}\nnodes:\n"
        )
        + "  welcome:\n    say: Hi\n    end: true\n"
    )
    assert any("language 'fr' is not in settings.languages" in d.message for d in result.warnings)


def test_secret_looking_env_names_are_refused() -> None:
    result = check_yaml(
        HEAD.replace("nodes:\n", "env:\n  TELEGRAM_BOT_TOKEN: x\n  SHOP_API_URL: y\nnodes:\n")
        + "  welcome:\n    say: Hi\n    end: true\n"
    )
    (err,) = result.errors
    assert "'TELEGRAM_BOT_TOKEN' looks like a secret" in err.message


def test_a_button_titled_with_a_number_loads_instead_of_crashing_the_checker() -> None:
    result = check_yaml(HEAD + textwrap.indent(textwrap.dedent("""\
        welcome:
          say: "How many stars?"
          buttons:
            - 5: thanks
            - 4: thanks
        thanks:
          say: "Thank you!"
          end: true
    """), "  "))  # fmt: skip
    assert [d.format() for d in result.errors] == []
    assert result.flow is not None
    buttons = result.flow.nodes["welcome"].buttons
    assert [(b.title, b.goto) for b in buttons] == [("5", "thanks"), ("4", "thanks")]
