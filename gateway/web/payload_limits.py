"""Bounds on a verified webhook body, checked on its raw bytes before any JSON parser sees it.

A signed body can still be poison: the platform relays what it got, and redelivers whatever
we answer with a 5xx, forever. Two JSON shapes crash Python's own parser instead of failing
as a `JSONDecodeError`: arrays or objects nested thousands deep (`RecursionError` from the C
scanner) and integers of more than 4,300 digits (`ValueError` from `int()`'s digit limit).
`check_json` refuses both with a short reason, which the gateway answers as a 400.

Why a scan of the raw bytes and not `json.loads` hooks plus a depth check afterwards:

* the parser recurses *while* it reads, so a depth check on the decoded value comes too late:
  one would have to catch `RecursionError`, whose threshold depends on the interpreter's limit
  and on how deep the stack already is, and a body that parses at depth 900 still sinks any
  recursive code after it (`str()`, `json.dumps`, a store's serialiser);
* the number hooks (`parse_int`...) only see the numbers of the one `json.loads` call given
  them; the scan covers every parser behind the gateway, including Twilio's JSON webhooks,
  which `adapters.whatsapp.adapter` decodes with a plain `json.loads`;
* it is exact for what a parser reads, not a heuristic: string literals are cut out (one
  C-speed regex, after `bytes.replace` drops escaped quotes and backslashes), so brackets and
  digits in a shopper's text never count;
* it is cheap, with no Python loop over the bytes: a usual body (at most `MAX_DEPTH`
  brackets, no long digit run even inside its strings) costs two counts and a translate;
  others a regex pass, and a bracket walk in C (`itertools.accumulate`) by chunks.

A body the scan lets through may still be invalid JSON; the adapter's parser says so (400).
"""

from __future__ import annotations

import operator
import re
from itertools import accumulate, count

MAX_DEPTH = 64  # the platforms' payloads nest fewer than 10 levels
MAX_NUMBER_CHARS = 100  # ids and timestamps have at most 20 digits
JSON_WHITESPACE = b" \t\r\n"
# Only a body whose top-level value is an array, an object or a number can nest or carry a
# long number; anything else (a form, a string, a literal, garbage) is left to the parser.
JSON_STARTS = frozenset(b"{[-0123456789")
# A string literal is a quote, anything but a quote, a quote, once its escaped backslashes and
# escaped quotes are gone (`bytes.replace` pairs a run of backslashes from the left, as a JSON
# lexer does). An unterminated string does not match and its text is scanned as structure: at
# worst a 400 for a body that is invalid JSON anyway.
_STRING = re.compile(rb'"[^"]*"')
# Outside strings, a run of these is one number token (true/false/null hold at most one "e"):
# each becomes "0", any other byte a space, and a long number is a long run of "0" (found by
# `bytes.__contains__`, much faster than a regex trying every position).
_NUMBERISH = bytes(48 if chr(b) in "-+.eE0123456789" else 32 for b in range(256))
_LONG_RUN = b"0" * (MAX_NUMBER_CHARS + 1)
_BRACKETS = bytes(range(256)).translate(None, b"[]{}")  # every byte except brackets
_STEPS = bytes.maketrans(b"[{]}", b"\x02\x02\x00\x00")  # open 2, close 0: depth = sum - i
_OPENS = re.compile(b"\x02{%d}" % (MAX_DEPTH + 1))
_TOO_DEEP = f"JSON nested deeper than {MAX_DEPTH} levels"
_CHUNK = 4096  # brackets walked at a time, so a deep body stops at its first chunk


def looks_like_json(body: bytes, content_type: str) -> bool:
    """Whether a parser may read `body` as JSON: never a form, else by its first byte."""
    if "x-www-form-urlencoded" in content_type.lower():
        return False
    start = body.lstrip(JSON_WHITESPACE)[:1]
    return bool(start) and start[0] in JSON_STARTS


def check_json(body: bytes) -> str | None:
    """None if `body` is within the bounds, else what is wrong (short, safe to echo)."""
    if body.count(b"[") + body.count(b"{") <= MAX_DEPTH and not _long_number(body):
        return None  # the usual case: within bounds even counting the strings' own characters
    structure = body.replace(b"\\\\", b"").replace(b'\\"', b"") if b"\\" in body else body
    if b'"' in structure:
        structure = _STRING.sub(b'""', structure)
    if _long_number(structure):
        return f"a number longer than {MAX_NUMBER_CHARS} characters"
    if structure.count(b"[") + structure.count(b"{") <= MAX_DEPTH:
        return None  # too few brackets to nest that deep: no walk
    brackets = structure.translate(_STEPS, _BRACKETS)
    if _OPENS.search(brackets):
        return _TOO_DEEP  # the usual attack: a plain run of openers, found without a walk
    depth = 0  # at the start of the chunk; below 0 only past the top-level value's end, where
    # every parser stops with "extra data" before it nests any further
    for start in range(0, len(brackets), _CHUNK):
        steps = brackets[start : start + _CHUNK]
        if depth + max(map(operator.sub, accumulate(steps), count(1))) > MAX_DEPTH:
            return _TOO_DEEP
        depth += steps.count(2) - steps.count(0)
    return None


def _long_number(data: bytes) -> bool:
    return _LONG_RUN in data.translate(_NUMBERISH)


def check_body(body: bytes, content_type: str) -> str | None:
    """`check_json` for a body a parser may read as JSON; None for anything else."""
    return check_json(body) if looks_like_json(body, content_type) else None


__all__ = ["MAX_DEPTH", "MAX_NUMBER_CHARS", "check_body", "check_json", "looks_like_json"]
