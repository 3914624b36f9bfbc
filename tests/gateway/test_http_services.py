"""`call` nodes over real HTTP: the demo shop API on a real server, errors become error paths."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from flask import Flask, Response

from devtools.shop_stub import create_shop_app
from flows.services import CallRequest
from gateway.http_services import MAX_RESPONSE_BYTES, HttpServices
from gateway.web.serving import ServerThread


@pytest.fixture(scope="module")
def shop() -> Iterator[str]:
    app = create_shop_app()

    @app.get("/slow")
    def slow() -> str:
        time.sleep(1.5)
        return "{}"

    @app.get("/huge")
    def huge() -> Response:
        return Response(b"[" + b"1," * MAX_RESPONSE_BYTES + b"1]", mimetype="application/json")

    @app.get("/html")
    def html() -> str:
        return "<html>not json</html>"

    with ServerThread(app) as server:
        yield server.url


@pytest.fixture(scope="module")
def http() -> Iterator[HttpServices]:
    services = HttpServices()
    yield services
    services.close()


def test_order_lookup_returns_json(shop: str, http: HttpServices) -> None:
    response = http.call(CallRequest("GET", f"{shop}/shop-api/orders/a1234"))
    assert response.ok and response.json["status"] == "shipped"


def test_post_with_json_body(shop: str, http: HttpServices) -> None:
    response = http.call(CallRequest("POST", f"{shop}/shop-api/coupons", json={"percent": 15}))
    assert response.status == 201 and response.json["percent"] == 15


def test_not_found_is_an_error_with_status(shop: str, http: HttpServices) -> None:
    response = http.call(CallRequest("GET", f"{shop}/shop-api/orders/Z9999"))
    assert not response.ok and response.status == 404 and response.error == "HTTP 404"


def test_timeout_is_an_error_without_status(shop: str, http: HttpServices) -> None:
    response = http.call(CallRequest("GET", f"{shop}/slow", timeout=0.3))
    assert response.status is None and response.error == "timeout"


def test_oversized_response_is_refused(shop: str, http: HttpServices) -> None:
    response = http.call(CallRequest("GET", f"{shop}/huge"))
    assert not response.ok and response.error == "response too large"


def test_non_json_body_is_ok_without_data(shop: str, http: HttpServices) -> None:
    response = http.call(CallRequest("GET", f"{shop}/html"))
    assert response.ok and response.json is None


def test_connection_refused_is_an_error(http: HttpServices) -> None:
    response = http.call(CallRequest("GET", "http://127.0.0.1:9/nothing", timeout=1))
    assert response.status is None and response.error


def test_app_factory_is_independent(shop: str) -> None:
    assert isinstance(create_shop_app(), Flask)
