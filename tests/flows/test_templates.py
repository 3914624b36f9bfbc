"""The template fast path gives exactly Jinja's output, and defers to Jinja when unsure."""

from __future__ import annotations

from types import MappingProxyType

import pytest
from jinja2.exceptions import UndefinedError

from flows.templates import compile_expression, compile_template

CONTEXTS = [
    {
        "user": {"first_name": "Ann"},
        "vars": {"order": {"eta": "Fri", "n": 3, "s": None}, "csat": 4},
    },
    {"user": {"first_name": ""}, "vars": {}},
    {"user": {}, "vars": {"order": None, "csat": "4"}},
    {"user": {"first_name": "Zoë"}, "vars": {"order": ["a", "b"], "csat": 2.5}},
    {
        "user": {"first_name": "X"},
        "vars": {"order": {"eta": 0}},
        "shop": MappingProxyType({"name": "Acme"}),
    },
]
TEMPLATES = [
    "Hi {{ user.first_name or 'there' }}!",
    "{{ vars.order.eta }} and {{ vars.order.n }} / {{ vars.order.s }}",
    "{{ vars.nothing.deeper.still }}",
    "{{ shop.name }}: {{ vars.order.eta or 'soon' }}",
    "{{ vars.order }}",
    "{{ vars.csat }}",
    "{{ 'a' or vars.x }}{{ 3 }}",
]
EXPRESSIONS = [
    "vars.csat >= 4",
    "vars.csat == 4",
    "vars.csat != '4'",
    "vars.order.eta == 'Fri'",
    "vars.order.n < 5",
    "vars.missing == None",
    "user.first_name",
]


@pytest.mark.parametrize("source", TEMPLATES)
@pytest.mark.parametrize("context", CONTEXTS, ids=range(len(CONTEXTS)))
def test_fast_text_rendering_equals_jinja(source: str, context: dict) -> None:
    template = compile_template(source)
    assert template.fast is not None
    assert template.render(context) == template.render_fn(context).strip()  # type: ignore[misc]


@pytest.mark.parametrize("source", EXPRESSIONS)
@pytest.mark.parametrize("context", CONTEXTS, ids=range(len(CONTEXTS)))
def test_fast_expressions_equal_jinja(source: str, context: dict) -> None:
    from flows.templates import ENV

    slow = ENV.compile_expression(source, undefined_to_none=True)
    try:
        expected = slow(**context)
    except (TypeError, UndefinedError) as exc:  # the engine treats a failing condition as false
        expected = type(exc)
    try:
        actual = compile_expression(source)(context)
    except (TypeError, UndefinedError) as exc:
        actual = type(exc)
    assert actual == expected


@pytest.mark.parametrize(
    "source", ["{{ x | upper }}", "{{ vars.items }}", "{% if a %}b{% endif %}"]
)
def test_anything_beyond_plain_lookups_goes_to_jinja(source: str) -> None:
    assert compile_template(source).fast is None
