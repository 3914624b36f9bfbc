"""Fuzz: mutations of the real fixtures, each signed as its platform signs it, through the real
app; not one may get a 5xx (a platform redelivers those forever) or show a traceback.

The mutations: bit flips, truncation, deep nesting, huge numbers, lone surrogates and invalid
UTF-8, wrong types for known fields, huge strings, duplicated and missing keys, null bytes;
one to three per request. Twilio cases go as forms and as JSON webhooks (bodySHA256).
Seeded, so a failure names a reproducible case: `Fuzzer(SEED).cases(n)` yields the same
requests on every run. `bench/bench_fuzz.py` sends 10,000 of them and measures memory.

Every request is signed; the status must be one its signing allows: 200 or 400 (413 past the
body limit), and 403 only where the platform could not have signed it either (a Twilio form
that no longer parses as a form, a Twilio JSON body that is not UTF-8).
"""

from __future__ import annotations

import copy
import json
import logging
import os
import random
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
import requests

from devtools.demo import demo_environment
from gateway.context import Gateway
from gateway.web.app import create_app
from gateway.web.serving import ServerThread
from tests.e2e.conftest import sign
from tests.harness import make_gateway

SEED = 20240611
COUNT = int(os.environ.get("FUZZ_COUNT") or 10_000)  # through the Flask test client
HTTP_COUNT = int(os.environ.get("FUZZ_HTTP_COUNT") or 300)  # through a real HTTP server
PUBLIC = "https://gateway.example.test"  # PUBLIC_BASE_URL: the fixtures' own signed URLs
MAX_BODY = 1024 * 1024
PLACEHOLDER = "\x01fuzz\x01"  # a string the serialised JSON swaps for raw text
KNOWN_KEYS = (
    *("update_id", "message", "edited_message", "callback_query", "my_chat_member", "chat"),
    *("id", "type", "text", "caption", "from", "first_name", "date", "message_id", "data"),
    *("photo", "file_id", "width", "height", "contact", "phone_number", "location"),
    *("latitude", "longitude", "object", "entry", "messaging", "sender", "recipient", "mid"),
    *("postback", "payload", "title", "attachments", "url", "quick_reply", "is_echo"),
    *("timestamp", "referral", "ref", "delivery", "read", "watermark", "edit_date"),
)
TWILIO_KEYS = (
    *("MessageSid", "SmsSid", "From", "To", "Body", "MessageType", "NumMedia", "MediaUrl0"),
    *("MediaContentType0", "Latitude", "Longitude", "ButtonPayload", "ButtonText", "ListId"),
    *("MessageStatus", "ErrorCode", "ProfileName", "WaId"),
)
ODD_VALUES: tuple[Any, ...] = (
    None, True, False, 0, -1, 2**63, 2**64 + 1, -(2**70), 1.5, -0.0, 1e308, float("nan"),
    float("inf"), "", "x", "0", "nan", "1e999", "¹", "\u202e", "\x00", [], {}, [1, "a"],
    {"id": 1}, [[[]]], {"text": {"text": None}},
)  # fmt: skip
ODD_FORM_VALUES = ("", "lots", "¹", "-1", "nan", "inf", "1e999", "99999999999999999999999",
                   "text", "location", "button", "interactive", "media", "read", "failed",
                   "63016", "whatsapp:", "whatsapp:+", " ")  # fmt: skip
JUNK = (b"\xff", b"\xc0\x80", b"\xed\xa0\x80", b"\xed\xbf\xbf", b"\x00", b"\\", b'"', b"\\u",
        b"\\ud800", b"\\udfff\\ud800", b"}", b"]", b"[", b"{", b",", b":", b"%", b"%E", b"&",
        b"=", b"+", b"\xf0\x9f", "💥".encode(), "\u0301".encode() * 50)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Case:
    """One signed request and the statuses its signing allows."""

    label: str
    path: str  # with the query string
    body: bytes
    headers: dict[str, str]
    allowed: frozenset[int]


@dataclass(frozen=True, slots=True)
class Seed:
    rel: str
    channel: str  # whatsapp, messenger, telegram
    url: str  # the public URL it is posted to
    body: bytes


def seeds() -> list[Seed]:
    """Every inbound POST fixture, as the platform it belongs to (the empty body as each)."""
    out = []
    for rel, entry in sorted(sign.load_manifest().items()):
        if entry["direction"] != "inbound" or entry["method"] != "POST":
            continue
        body = sign.read_fixture(rel)
        platforms = ("twilio", "messenger", "telegram") if entry["platform"] == "any" else (
            entry["platform"],)  # fmt: skip
        for platform in platforms:
            channel = "whatsapp" if platform == "twilio" else platform
            url = entry["url"] if platform == entry["platform"] else f"{PUBLIC}/webhooks/{channel}"
            out.append(Seed(rel, channel, url, body))
    return out


class Fuzzer:
    """Deterministic hostile requests: the same `seed` gives the same cases, in order."""

    def __init__(self, seed: int = SEED) -> None:
        self.rng = random.Random(seed)
        self.seeds = seeds()
        self.json_ops: list[Callable[[Any], Any]] = [
            self.wrong_type, self.wrong_type, self.huge_string, self.lone_surrogate,
            self.lone_surrogate, self.huge_number, self.deep, self.null_byte, self.drop_key,
            self.rename_key,
        ]  # fmt: skip
        self.byte_ops: list[Callable[[bytes], bytes]] = [
            self.bit_flips, self.truncate, self.splice, self.duplicate_key, self.raw_deep,
            self.raw_number,
        ]  # fmt: skip

    def cases(self, n: int) -> Iterator[Case]:
        for i in range(n):
            yield self.case(i)

    def case(self, i: int) -> Case:
        seed = self.rng.choice(self.seeds)
        if seed.channel == "whatsapp":
            if self.rng.random() < 0.3:
                return self.twilio_json(i, seed)
            return self.twilio_form(i, seed)
        body, label = self.mutate_json(seed.body)
        headers = {"Content-Type": self.content_type("application/json")}
        if seed.channel == "messenger":
            secret = sign.DEFAULTS["meta_app_secret"]
            headers["X-Hub-Signature-256"] = sign.messenger_signature(secret, body)
        else:
            headers["X-Telegram-Bot-Api-Secret-Token"] = sign.DEFAULTS["telegram_secret_token"]
        return Case(f"{i}:{seed.rel}:{label}", path_of(seed.url), body, headers, ok(body))

    # ---- per platform ----

    def twilio_form(self, i: int, seed: Seed) -> Case:
        pairs = parse_qsl(seed.body.decode(), keep_blank_values=True)
        labels = []
        for _ in range(self.rng.randint(1, 3)):
            op = self.rng.choice((self.form_value, self.form_value, self.form_duplicate,
                                  self.form_drop, self.form_huge))  # fmt: skip
            pairs = op(pairs)
            labels.append(op.__name__)
        body = urlencode(pairs).encode()
        if self.rng.random() < 0.5:  # invalid Unicode, NUL, JSON-looking text, at byte level
            raw = self.rng.choice((b"%ED%A0%80", b"%ED%B0%80", b"%FF", b"\xff", b"\xed\xa0\x80",
                                   b"%00", b"\x00", b"%C0%80", b"[" * 3000, b"9" * 5000,
                                   b"%F0%9F", "зв💥".encode()))  # fmt: skip
            body = self.insert_in_value(body, raw)
            labels.append("raw_value")
        if self.rng.random() < 0.15:
            op = self.rng.choice((self.bit_flips, self.truncate, self.splice))
            body = op(body)
            labels.append(op.__name__)
        try:  # what the platform signs: the decoded params
            params = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True,
                               strict_parsing=True)  # fmt: skip
            allowed = ok(body)
        except ValueError:  # not a form any more: no platform could sign it
            params, allowed = [], unsigned(body)
        token = sign.DEFAULTS["twilio_auth_token"]
        headers = {"Content-Type": self.content_type("application/x-www-form-urlencoded"),
                   "X-Twilio-Signature": sign.twilio_signature(token, seed.url, params)}  # fmt: skip
        return Case(f"{i}:{seed.rel}:form:{'+'.join(labels)}", path_of(seed.url), body, headers,
                    allowed)  # fmt: skip

    def twilio_json(self, i: int, seed: Seed) -> Case:
        """The same fields as a Twilio JSON webhook: bodySHA256 in the signed URL."""
        try:
            fields = dict(parse_qsl(seed.body.decode(), keep_blank_values=True))
        except UnicodeDecodeError:
            fields = {}
        body, label = self.mutate_json(json.dumps(fields).encode())
        url, signature = sign.twilio_json_signature(sign.DEFAULTS["twilio_auth_token"],
                                                    seed.url, body)  # fmt: skip
        try:
            body.decode("utf-8")
            allowed = ok(body)
        except UnicodeDecodeError:  # Twilio hashes text: a body that is not UTF-8 cannot verify
            allowed = unsigned(body)
        headers = {"Content-Type": "application/json", "X-Twilio-Signature": signature}
        return Case(f"{i}:{seed.rel}:json:{label}", path_of(url), body, headers, allowed)

    def content_type(self, usual: str) -> str:
        odd = ("text/plain", "application/json", "application/x-www-form-urlencoded",
               "application/json; charset=latin-1", "")  # fmt: skip
        return self.rng.choice(odd) if self.rng.random() < 0.1 else usual

    # ---- JSON: a few structural mutations, then maybe a few on the bytes ----

    def mutate_json(self, body: bytes) -> tuple[bytes, str]:
        try:
            doc = json.loads(body)
        except ValueError:
            doc = None
        labels = []
        raw = ""
        if doc is not None:
            doc = copy.deepcopy(doc)
            for _ in range(self.rng.randint(1, 3)):
                op = self.rng.choice(self.json_ops)
                result = op(doc)
                doc = result if not isinstance(result, tuple) else result[0]
                raw = result[1] if isinstance(result, tuple) else raw
                labels.append(op.__name__)
            text = json.dumps(doc, ensure_ascii=self.rng.random() < 0.7)
            body = text.replace(json.dumps(PLACEHOLDER), raw).encode("utf-8", "surrogatepass")
        if doc is None or self.rng.random() < 0.3:
            op = self.rng.choice(self.byte_ops)
            body = op(body)
            labels.append(op.__name__)
        return body, "+".join(labels)

    def slots(self, doc: Any) -> list[tuple[Any, Any]]:
        """(container, key) of every value in `doc`, walked without recursion."""
        out: list[tuple[Any, Any]] = []
        stack = [doc]
        while stack:
            node = stack.pop()
            items = node.items() if isinstance(node, dict) else enumerate(node)
            for key, value in items:
                out.append((node, key))
                if isinstance(value, (dict, list)):
                    stack.append(value)
        return out

    def pick(self, doc: Any, strings: bool = False) -> tuple[Any, Any] | None:
        if not isinstance(doc, (dict, list)):
            return None
        slots = self.slots(doc)
        if strings:
            slots = [(c, k) for c, k in slots if isinstance(c[k], str)] or slots
        return self.rng.choice(slots) if slots else None

    def wrong_type(self, doc: Any) -> Any:
        slot = self.pick(doc)
        if slot is None:
            return self.rng.choice(ODD_VALUES)
        container, key = slot
        container[key] = copy.deepcopy(self.rng.choice(ODD_VALUES))
        return doc

    def huge_string(self, doc: Any) -> Any:
        size = self.rng.choice((4097, 20_001, 100_000))
        unit = self.rng.choice(("x", "ж", "💥", "e\u0301", "\u202e", "1 "))
        slot = self.pick(doc, strings=True)
        value = (unit * size)[:size]
        if slot is None:
            return value
        container, key = slot
        container[key] = value
        return doc

    def lone_surrogate(self, doc: Any) -> Any:
        slot = self.pick(doc, strings=True)
        bad = self.rng.choice(("\ud800", "\udfff", "\udc00\ud800", "\ud83d", "x\ud800y"))
        if slot is None:
            return bad
        container, key = slot
        value = container[key] if isinstance(container[key], str) else ""
        cut = self.rng.randint(0, len(value))
        container[key] = value[:cut] + bad + value[cut:]
        if isinstance(container, dict) and self.rng.random() < 0.2:  # in a key too
            container[key + bad] = container.pop(key)
        return doc

    def null_byte(self, doc: Any) -> Any:
        slot = self.pick(doc, strings=True)
        if slot is None:
            return "\x00"
        container, key = slot
        container[key] = f"{container[key]}\x00" if isinstance(container[key], str) else "\x00"
        return doc

    def huge_number(self, doc: Any) -> tuple[Any, str]:
        digits = self.rng.choice((20, 99, 100, 101, 400, 4300, 4301, 5000, 50_000))
        number = "9" * digits
        number = self.rng.choice((number, "-" + number, "1." + number, "1e" + number[:6],
                                  number + "e-99999", "0." + number))  # fmt: skip
        return self.place(doc), number

    def deep(self, doc: Any) -> tuple[Any, str]:
        depth = self.rng.choice((10, 63, 64, 65, 100, 999, 1001, 5000, 50_000))
        shape = self.rng.choice(("[]", "{}", "mixed"))
        if shape == "[]":
            nested = "[" * depth + "]" * depth
        elif shape == "{}":
            nested = '{"a":' * depth + "1" + "}" * depth
        else:
            nested = '[{"text":' * (depth // 2) + '"x"' + "}]" * (depth // 2)
        return self.place(doc), nested

    def place(self, doc: Any) -> Any:
        slot = self.pick(doc)
        if slot is None:
            return PLACEHOLDER
        container, key = slot
        container[key] = PLACEHOLDER
        return doc

    def drop_key(self, doc: Any) -> Any:
        slot = self.pick(doc)
        if slot is not None and isinstance(slot[0], dict):
            del slot[0][slot[1]]
        return doc

    def rename_key(self, doc: Any) -> Any:
        slot = self.pick(doc)
        if slot is not None and isinstance(slot[0], dict):
            container, key = slot
            container[self.rng.choice(KNOWN_KEYS)] = container.pop(key)
        return doc

    # ---- bytes ----

    def bit_flips(self, body: bytes) -> bytes:
        if not body:
            return body
        out = bytearray(body)
        for _ in range(self.rng.randint(1, 8)):
            out[self.rng.randrange(len(out))] ^= 1 << self.rng.randrange(8)
        return bytes(out)

    def truncate(self, body: bytes) -> bytes:
        return body[: self.rng.randint(0, len(body))]

    def splice(self, body: bytes) -> bytes:
        at = self.rng.randint(0, len(body))
        return body[:at] + self.rng.choice(JUNK) + body[at:]

    def duplicate_key(self, body: bytes) -> bytes:
        """A known key again right after an object opens: `{"update_id": "x", ...`."""
        at = body.find(b"{", self.rng.randint(0, len(body))) + 1 or body.find(b"{") + 1
        if not at:
            return body
        value = json.dumps(self.rng.choice(ODD_VALUES))
        return body[:at] + f'"{self.rng.choice(KNOWN_KEYS)}": {value}, '.encode() + body[at:]

    def raw_deep(self, body: bytes) -> bytes:
        depth = self.rng.choice((65, 1000, 20_000))
        at = self.rng.randint(0, len(body))
        return body[:at] + b"[" * depth + body[at:] + b"]" * self.rng.choice((0, depth))

    def raw_number(self, body: bytes) -> bytes:
        at = self.rng.randint(0, len(body))
        return body[:at] + b"9" * self.rng.choice((101, 4301, 10_000)) + body[at:]

    # ---- forms ----

    def form_value(self, pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
        key = self.rng.choice(TWILIO_KEYS)
        value = self.rng.choice(ODD_FORM_VALUES)
        return [(k, v) for k, v in pairs if k != key] + [(key, value)]

    def form_duplicate(self, pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
        key = self.rng.choice(TWILIO_KEYS)
        return [*pairs, (key, self.rng.choice(ODD_FORM_VALUES)), (key, "again")]

    def form_drop(self, pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
        if not pairs:
            return pairs
        drop = self.rng.randrange(len(pairs))
        return [p for i, p in enumerate(pairs) if i != drop]

    def form_huge(self, pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
        key = self.rng.choice(("Body", "ProfileName", "ButtonPayload", "Extra"))
        value = self.rng.choice(("ж" * 1601, "ж" * 4097, "1 " * 3000, "x" * 100_000))
        return [(k, v) for k, v in pairs if k != key] + [(key, value)]  # Twilio's Body: 1,600

    def insert_in_value(self, body: bytes, raw: bytes) -> bytes:
        at = body.find(b"=", self.rng.randint(0, len(body))) + 1 or body.find(b"=") + 1
        return body[:at] + raw + body[at:] if at else body + raw


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def ok(body: bytes) -> frozenset[int]:
    """A signed body: parsed or refused, or too large (refused before anything reads it)."""
    return frozenset({200, 400, 413}) if len(body) > MAX_BODY else frozenset({200, 400})


def unsigned(body: bytes) -> frozenset[int]:
    """A body the platform could not have signed: 403, or too large (refused first)."""
    return frozenset({403, 413}) if len(body) > MAX_BODY else frozenset({403})


# ---- the app under test ----


def build_gateway_for_fuzz(folder: Path) -> Gateway:
    """The real gateway (SQLite store, the three adapters, the sample flow), with the fixtures'
    secrets and public URL; nothing sends (no runtime), so no platform is needed."""
    nowhere = "http://127.0.0.1:9"
    settings = demo_environment({}, PUBLIC, nowhere, nowhere)
    del settings["STORE_URL"]  # the demo's own file: make_gateway's in `folder` instead
    return make_gateway(folder, **settings)


@contextmanager
def quiet_warnings() -> Iterator[None]:
    """Thousands of `webhook_malformed` warnings are the point; errors still log."""
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)


def check(case: Case, status: int, text: str) -> str | None:
    """What is wrong with the answer to `case`, or None."""
    if status >= 500 or status not in case.allowed:
        return f"{case.label}: {status} {text[:200]}"
    if "Traceback" in text:
        return f"{case.label}: traceback in the answer"
    return None


def run_test_client(app: Any, cases: Iterator[Case]) -> tuple[Counter[int], list[str]]:
    client = app.test_client()
    statuses: Counter[int] = Counter()
    failures: list[str] = []
    for case in cases:
        response = client.post(case.path, data=case.body, headers=case.headers)
        statuses[response.status_code] += 1
        problem = check(case, response.status_code, response.get_data(as_text=True))
        if problem:
            failures.append(problem)
    return statuses, failures


def run_http(url: str, cases: Iterator[Case], rng: random.Random) -> tuple[Counter[int], list[str]]:
    statuses: Counter[int] = Counter()
    failures: list[str] = []
    with requests.Session() as session:
        for case in cases:
            data: Any = case.body
            if rng.random() < 0.1:  # chunked: no Content-Length, Flask reads it
                data = iter([case.body[: len(case.body) // 2], case.body[len(case.body) // 2 :]])
            response = session.post(url + case.path, data=data, headers=case.headers, timeout=30)
            statuses[response.status_code] += 1
            problem = check(case, response.status_code, response.text)
            if problem:
                failures.append(problem)
    return statuses, failures


@pytest.fixture
def fuzz_gateway(tmp_path: Path) -> Iterator[Gateway]:
    gw = build_gateway_for_fuzz(tmp_path)
    yield gw
    gw.close()


def test_fuzz_is_deterministic() -> None:
    one = [(c.label, c.body, c.headers) for c in Fuzzer(7).cases(300)]
    assert one == [(c.label, c.body, c.headers) for c in Fuzzer(7).cases(300)]


def test_no_mutated_signed_webhook_gets_a_5xx(fuzz_gateway: Gateway) -> None:
    with quiet_warnings():
        statuses, failures = run_test_client(create_app(fuzz_gateway), Fuzzer(SEED).cases(COUNT))
    assert sum(statuses.values()) == COUNT
    assert not failures, f"{len(failures)} bad answers, e.g. {failures[:5]}"
    assert statuses[200] > COUNT // 10 and statuses[400] > COUNT // 10, statuses  # both reached


def test_no_mutated_signed_webhook_gets_a_5xx_over_http(fuzz_gateway: Gateway) -> None:
    with quiet_warnings(), ServerThread(create_app(fuzz_gateway)) as server:
        statuses, failures = run_http(server.url, Fuzzer(SEED + 1).cases(HTTP_COUNT),
                                      random.Random(SEED))  # fmt: skip
    assert sum(statuses.values()) == HTTP_COUNT
    assert not failures, f"{len(failures)} bad answers, e.g. {failures[:5]}"
