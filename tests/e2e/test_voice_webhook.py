"""`POST /webhooks/voice` on real HTTP: Twilio Voice status callbacks become calls, signed as
Twilio signs them (twilio's own RequestValidator), past the WSGI fast path to their route; on
SQLite, and on Redis, where they travel through the turn log to the report."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import pytest
import requests
from twilio.request_validator import RequestValidator

from gateway.context import Gateway
from gateway.web.app import create_app
from gateway.web.serving import ServerThread
from tests.contract.conftest import redis_database, redis_url  # noqa: F401  (its redis-server)
from tests.e2e.conftest import LateApp
from tests.harness import MakeGateway

TOKEN = "fake_twilio_auth_token_000000000"
SID = "CA" + "1" * 32


@dataclass
class Voice:
    url: str
    gw: Gateway

    def post(self, params: dict[str, str], *, signature: str | None = None,
             body: bytes | None = None) -> requests.Response:  # fmt: skip
        url = f"{self.url}/webhooks/voice"
        signed = RequestValidator(TOKEN).compute_signature(url, params)
        headers = {"Content-Type": "application/x-www-form-urlencoded",
                   "X-Twilio-Signature": signed if signature is None else signature}  # fmt: skip
        data = urlencode(params).encode() if body is None else body
        return requests.post(url, data=data, headers=headers, timeout=10)

    def calls(self) -> list[tuple]:
        """The calls a report sees (with Redis: after copying the turn log, as reports do)."""
        assert self.gw.analytics is not None
        with closing(self.gw.analytics.reader()) as db:
            return db.execute(
                "SELECT call_id, from_number, to_number, duration_s, outcome, source FROM a_call"
            ).fetchall()


@pytest.fixture(params=["sqlite", "redis"])
def store(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.param == "sqlite":
        yield "sqlite"
        return
    with redis_database(request.getfixturevalue("redis_url"), 15) as url:
        yield url


@pytest.fixture
def voice(make_gateway: MakeGateway, tmp_path: Path, store: str) -> Iterator[Voice]:
    late = LateApp()
    web = ServerThread(late).start()  # type: ignore[arg-type]
    try:
        gw = make_gateway(  # WhatsApp on too: its fast path must let /webhooks/voice through
            tmp_path, store=store, TWILIO_ACCOUNT_SID="AC" + "0" * 32, TWILIO_AUTH_TOKEN=TOKEN,
            TWILIO_WHATSAPP_FROM="whatsapp:+12025550100", PUBLIC_BASE_URL=web.url,
            ANALYTICS_URL=f"sqlite:///{tmp_path / 'analytics.db'}",
        )  # fmt: skip
        late.app = create_app(gw)
        yield Voice(web.url, gw)
    finally:
        web.stop()


def status(call_status: str, **more: str) -> dict[str, str]:
    return {"CallSid": SID, "AccountSid": "AC" + "0" * 32, "CallStatus": call_status,
            "From": "+12025550143", "To": "+12025550199", "Direction": "inbound",
            "Timestamp": "Wed, 18 Nov 2026 10:00:00 +0000", "CallbackSource": "call-progress-events",
            "SequenceNumber": "0", **more}  # fmt: skip


def test_ringing_then_completed_updates_the_call(voice: Voice) -> None:
    first = voice.post(status("ringing"))
    assert first.status_code == 200, first.text
    assert voice.calls() == [(SID, "+12025550143", "+12025550199", 0.0, "missed", "twilio")]
    done = voice.post(status("completed", CallDuration="95", SequenceNumber="2"))
    assert done.status_code == 200
    again = voice.post(status("completed", CallDuration="95", SequenceNumber="2"))  # redelivered
    assert again.status_code == 200
    late = voice.post(status("ringing"))  # out of order: must not undo the completion
    assert late.status_code == 200
    assert voice.calls() == [(SID, "+12025550143", "+12025550199", 95.0, "answered", "twilio")]


def test_unsigned_or_wrongly_signed_is_403_and_stores_nothing(voice: Voice) -> None:
    assert voice.post(status("completed", CallDuration="5"), signature="").status_code == 403
    forged = voice.post(status("completed", CallDuration="5"), signature="bm90IGl0")
    assert forged.status_code == 403
    tampered = urlencode(status("completed", CallDuration="9999")).encode()
    assert voice.post(status("completed", CallDuration="5"), body=tampered).status_code == 403
    assert voice.calls() == []


def test_a_signed_but_malformed_callback_is_400(voice: Voice) -> None:
    response = voice.post(status("exploded"))
    assert response.status_code == 400
    assert "CallStatus" in response.json()["error"]
    assert voice.post(status("completed", From="anonymous")).status_code == 400
    assert voice.calls() == []


def test_a_body_past_the_limit_is_413(voice: Voice) -> None:
    huge = status("completed", Padding="x" * (voice.gw.config.max_body_bytes + 1))
    assert voice.post(huge).status_code == 413
    assert voice.calls() == []


def test_when_the_call_cannot_be_recorded_it_is_503(voice: Voice,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    assert voice.gw.analytics is not None

    def broken(records: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(voice.gw.analytics, "write_now", broken)
    assert voice.post(status("completed", CallDuration="5")).status_code == 503
