"""Signed poison bodies, over real HTTP to the real app: a 400 naming what was wrong, or the
message with its bad characters replaced by U+FFFD; never a 5xx the platform would redeliver
forever. (Deep nesting and 4,300-digit integers used to raise RecursionError and ValueError out
of the JSON parser, a lone "\\ud800" escape UnicodeEncodeError out of adapters/common/text.py.)"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

import pytest
import requests

from adapters.common.text import cap_inbound, utf16_len
from gateway.web.payload_limits import MAX_DEPTH, check_body, check_json
from tests.e2e.conftest import Stack, sign, start_stack

BAD = "\ud800"  # a lone high surrogate: what a "\ud800" escape without its pair decodes to
FFFD = "\ufffd"
ids = itertools.count(1)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    s, stop = start_stack(Path(tmp_path_factory.mktemp("poison")))
    yield s
    stop()


# ---- signing and bodies, one platform each ----


def post_messenger(stack: Stack, body: bytes) -> requests.Response:
    signature = sign.messenger_signature(sign.DEFAULTS["meta_app_secret"], body)
    headers = {"Content-Type": "application/json", "X-Hub-Signature-256": signature}
    return requests.post(stack.url + "/webhooks/messenger", data=body, headers=headers, timeout=10)


def post_telegram(stack: Stack, body: bytes) -> requests.Response:
    headers = {"Content-Type": "application/json",
               "X-Telegram-Bot-Api-Secret-Token": sign.DEFAULTS["telegram_secret_token"]}  # fmt: skip
    return requests.post(stack.url + "/webhooks/telegram", data=body, headers=headers, timeout=10)


def post_twilio_form(stack: Stack, body: bytes, path: str = "/webhooks/whatsapp"
                     ) -> requests.Response:  # fmt: skip
    """Signed as Twilio signs: over the decoded params (invalid UTF-8 read as U+FFFD)."""
    url = stack.url + path
    params = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
    headers = {"Content-Type": "application/x-www-form-urlencoded",
               "X-Twilio-Signature": sign.twilio_signature(sign.DEFAULTS["twilio_auth_token"],
                                                           url, params)}  # fmt: skip
    return requests.post(url, data=body, headers=headers, timeout=10)


def post_twilio_json(stack: Stack, body: bytes) -> requests.Response:
    """A Twilio JSON webhook: bodySHA256 in the signed URL."""
    url, signature = sign.twilio_json_signature(
        sign.DEFAULTS["twilio_auth_token"], stack.url + "/webhooks/whatsapp", body
    )
    headers = {"Content-Type": "application/json", "X-Twilio-Signature": signature}
    return requests.post(url, data=body, headers=headers, timeout=10)


def messenger_body(text: str, sender: str, raw: bytes = b"") -> bytes:
    data = json.loads(sign.read_fixture("messenger/text.json"))
    item = data["entry"][0]["messaging"][0]
    item["sender"]["id"] = sender
    item["message"]["mid"] = f"m_poison_{sender}"
    item["message"]["text"] = text
    return json.dumps(data).encode().replace(b"@RAW@", raw)  # Meta's \uXXXX escaping


def telegram_body(text: str, chat: int, name: str = "Ann", raw: bytes = b"") -> bytes:
    data = json.loads(sign.read_fixture("telegram/text_private.json"))
    data["update_id"] = chat
    data["message"]["chat"]["id"] = data["message"]["from"]["id"] = chat
    data["message"]["from"]["first_name"] = name
    data["message"]["text"] = text
    return json.dumps(data).encode().replace(b"@RAW@", raw)


def twilio_params(body: str, number: str) -> dict[str, str]:
    params = dict(parse_qsl(sign.read_fixture("twilio/wa_text.form").decode()))
    sid = f"SM{number:0>32}"
    params.update(Body=body, From=f"whatsapp:+{number}", WaId=number, MessageSid=sid,
                  SmsSid=sid, SmsMessageSid=sid)  # fmt: skip
    return params


def deep(levels: int) -> str:
    return "[" * levels + "]" * levels


def unique() -> str:
    return f"{7300000000100000 + next(ids)}"


def assert_400(response: requests.Response, naming: str) -> None:
    assert response.status_code == 400, (response.status_code, response.text)
    assert response.headers["Content-Type"] == "application/json"
    assert naming in response.json()["error"]
    assert "Traceback" not in response.text


def assert_arrives(stack: Stack, channel: str, address: str, expected: str) -> None:
    texts = stack.wait_inbound(channel, address, 1)
    assert texts[:1] == [expected], texts


# ---- depth and number size: 400, naming the bound ----

DEEP = deep(5000)  # past the interpreter's recursion limit
MID_DEEP = deep(MAX_DEPTH + 36)  # parses in Python, past the gateway's bound
HUGE = "9" * 5000  # past int()'s 4,300-digit limit
LONG = "9" * 200  # an int Python takes, past the gateway's bound


@pytest.mark.parametrize("nested", [DEEP, MID_DEEP], ids=["5000", "100"])
def test_deep_json_is_400_on_every_json_channel(stack: Stack, nested: str) -> None:
    messenger = f'{{"object":"page","entry":{nested}}}'.encode()
    telegram = f'{{"update_id":1,"message":{nested}}}'.encode()
    twilio = f'{{"MessageSid":"SM1","From":"whatsapp:+1","Body":{nested}}}'.encode()
    for response in (post_messenger(stack, messenger), post_telegram(stack, telegram),
                     post_twilio_json(stack, twilio)):  # fmt: skip
        assert_400(response, f"nested deeper than {MAX_DEPTH}")
    assert stack.gw.store.queue_depth() == 0


@pytest.mark.parametrize("digits", [HUGE, LONG], ids=["5000", "200"])
def test_huge_numbers_are_400_on_every_json_channel(stack: Stack, digits: str) -> None:
    chat = 9100000 + len(digits)
    messenger = messenger_body("hi", unique()).replace(
        b'"timestamp":', f'"timestamp":{digits},"t":'.encode()
    )
    telegram = telegram_body("hi", chat).replace(
        f'"update_id": {chat}'.encode(), f'"update_id": {digits}'.encode()
    )
    assert digits.encode() in telegram
    twilio = f'{{"MessageSid":"SM2","From":"whatsapp:+1","Body":"hi","NumMedia":{digits}}}'.encode()
    for response in (post_messenger(stack, messenger), post_telegram(stack, telegram),
                     post_twilio_json(stack, twilio), post_telegram(stack, digits.encode())):  # fmt: skip
        assert_400(response, "number longer than 100")
    assert stack.gw.store.queue_depth() == 0


def test_brackets_and_digits_inside_text_are_not_structure(stack: Stack) -> None:
    text = "[{" * 300 + "1e-5+" * 40 + ' \\" ]'  # no long digit run: cards are redacted
    sender = unique()
    assert post_messenger(stack, messenger_body(text, sender)).status_code == 200
    assert_arrives(stack, "messenger", sender, text[:4096])


def test_a_twilio_form_is_never_read_as_json(stack: Stack) -> None:
    number = "12025559001"
    body = "[" * 200 + "9" * 5000
    response = post_twilio_form(stack, urlencode(twilio_params(body, number)).encode())
    assert response.status_code == 200, response.text
    assert stack.wait_inbound("whatsapp", f"+{number}", 1)[0].startswith("[" * 200)


def test_twilio_digit_runs_past_ints_limit_in_a_form(stack: Stack) -> None:
    """A form is no JSON, but its numeric fields went through int() (found by the fuzz)."""
    status = dict(parse_qsl(sign.read_fixture("twilio/status_failed_63016.form").decode()))
    status["ErrorCode"] = HUGE
    response = post_twilio_form(stack, urlencode(status).encode(), "/webhooks/whatsapp/status")
    assert response.status_code == 200, response.text
    media = {**twilio_params("pic", "12025559004"), "NumMedia": HUGE}
    assert_400(post_twilio_form(stack, urlencode(media).encode()), "NumMedia: not a number")


# ---- invalid Unicode: the message arrives, its bad characters replaced ----


def test_messenger_lone_surrogate_arrives_as_fffd(stack: Stack) -> None:
    sender = unique()
    body = messenger_body(f"caf{BAD}e latte", sender)
    assert b"caf\\ud800e" in body
    response = post_messenger(stack, body)
    assert response.status_code == 200, response.text
    assert_arrives(stack, "messenger", sender, f"caf{FFFD}e latte")


def test_messenger_invalid_utf8_arrives_as_fffd(stack: Stack) -> None:
    sender = unique()
    response = post_messenger(stack, messenger_body("size @RAW@42", sender, raw=b"\xff\xc3"))
    assert response.status_code == 200, response.text
    assert_arrives(stack, "messenger", sender, f"size {FFFD}{FFFD}42")


def test_telegram_lone_surrogates_in_text_and_name_arrive_as_fffd(stack: Stack) -> None:
    chat = 9200001
    body = telegram_body(f"hi \udc00{BAD} there", chat, name=f"Ann{BAD}")
    response = post_telegram(stack, body)
    assert response.status_code == 200, response.text
    assert_arrives(stack, "telegram", str(chat), f"hi {FFFD}{FFFD} there")


def test_telegram_invalid_utf8_arrives_as_fffd(stack: Stack) -> None:
    chat = 9200002
    response = post_telegram(stack, telegram_body("ok @RAW@!", chat, raw=b"\xed\xa0\x80"))
    assert response.status_code == 200, response.text
    assert_arrives(stack, "telegram", str(chat), f"ok {FFFD * 3}!")


def test_twilio_form_invalid_utf8_arrives_as_fffd(stack: Stack) -> None:
    number = "12025559002"
    body = urlencode(twilio_params("@RAW@", number)).encode()
    body = body.replace(b"%40RAW%40", b"hi%ED%A0%80+\xff+there")  # percent-encoded and raw
    response = post_twilio_form(stack, body)
    assert response.status_code == 200, response.text
    assert_arrives(stack, "whatsapp", f"+{number}", f"hi{FFFD * 3} {FFFD} there")


def test_twilio_json_lone_surrogates_arrive_as_fffd(stack: Stack) -> None:
    number = "12025559003"
    params = {**twilio_params(f"hola {BAD}", number), "ProfileName": f"Eve{BAD}"}
    response = post_twilio_json(stack, json.dumps(params).encode())
    assert response.status_code == 200, response.text
    assert_arrives(stack, "whatsapp", f"+{number}", f"hola {FFFD}")


def test_the_signature_is_still_checked_first(stack: Stack) -> None:
    body = f'{{"object":"page","entry":{DEEP}}}'.encode()
    headers = {"Content-Type": "application/json", "X-Hub-Signature-256": "sha256=" + "0" * 64}
    response = requests.post(stack.url + "/webhooks/messenger", data=body, headers=headers,
                             timeout=10)  # fmt: skip
    assert response.status_code == 403


# ---- the pieces, without HTTP ----


def test_the_scan_counts_only_structure() -> None:
    assert check_json(deep(MAX_DEPTH).encode()) is None
    assert check_json(deep(MAX_DEPTH + 1).encode()) is not None
    assert check_json(("[1," * (MAX_DEPTH + 1) + "1" + "]" * (MAX_DEPTH + 1)).encode())
    assert check_json(json.dumps({"t": "[" * 999 + "9" * 999 + '\\"['}).encode()) is None
    assert check_json(b'{"t":"\\\\",' + b'"u":' + deep(MAX_DEPTH + 1).encode() + b"}")
    assert check_json(("9" * 100).encode()) is None
    assert check_json(("-0." + "1" * 98).encode())
    assert check_body(b"Body=" + b"9" * 500, "application/x-www-form-urlencoded") is None


def test_text_helpers_take_lone_surrogates() -> None:
    assert utf16_len(f"a{BAD}") == 2
    assert cap_inbound(f"a{BAD}b") == (f"a{FFFD}b", ())
