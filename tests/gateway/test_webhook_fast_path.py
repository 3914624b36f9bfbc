"""The webhook fast path reads a request from the environ exactly as `webhook_request` reads
it through werkzeug (URL as the platform signed it, headers, body, query), and refuses a body
over the limit."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from gateway.web.webhooks import FastWebhooks, webhook_request

NOW = 1_700_000_000.0


def gateway(public_base_url: str | None = None, max_body_bytes: int = 1 << 20) -> Any:
    config = SimpleNamespace(public_base_url=public_base_url, max_body_bytes=max_body_bytes)
    return SimpleNamespace(config=config)


def environ(**kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("method", "POST")
    kwargs.setdefault("data", b'{"update_id": 1}')
    return EnvironBuilder(**kwargs).get_environ()


CASES = {
    "plain": dict(path="/webhooks/telegram", headers={"X-Telegram-Bot-Api-Secret-Token": "s"}),
    "query": dict(path="/webhooks/whatsapp", query_string="a=1&a=2&b=%C5%BC&empty="),
    "escaped path": dict(path="/webhooks/tele%20gram", base_url="https://gw.example:8443/root/"),
    "unicode host": dict(path="/webhooks/messenger", base_url="http://xn--bcher-kva.example/"),
    "form": dict(
        path="/webhooks/whatsapp",
        data="Body=hi&From=whatsapp%3A%2B1",
        content_type="application/x-www-form-urlencoded",
        headers={"X-Twilio-Signature": "abc", "X-Forwarded-Proto": "https"},
    ),
}


@pytest.mark.parametrize("public", [None, "https://bot.shop.example"])
@pytest.mark.parametrize("case", CASES)
def test_fast_path_reads_what_werkzeug_reads(case: str, public: str | None) -> None:
    gw = gateway(public)
    fast = FastWebhooks(lambda e, s: [], gw)  # type: ignore[arg-type]
    expected = webhook_request(gw, Request(environ(**CASES[case])), NOW)
    assert fast.request(environ(**CASES[case]), NOW) == expected
    assert fast.request(environ(**CASES[case]), NOW) == expected  # and from its URL cache


def test_the_url_cache_tells_hosts_apart() -> None:
    fast = FastWebhooks(lambda e, s: [], gateway())  # type: ignore[arg-type]
    one = fast.request(environ(path="/webhooks/x", base_url="http://a.example/"), NOW)
    two = fast.request(environ(path="/webhooks/x", base_url="http://b.example/"), NOW)
    assert (one.url, two.url) == ("http://a.example/webhooks/x", "http://b.example/webhooks/x")


def test_a_body_over_the_limit_is_refused() -> None:
    fast = FastWebhooks(lambda e, s: [], gateway(max_body_bytes=10))  # type: ignore[arg-type]
    with pytest.raises(RequestEntityTooLarge):
        fast.request(environ(path="/webhooks/x", data=b"x" * 11), NOW)
