"""The shared text helpers: limits hold, cuts never fall inside a word or a grapheme, options
are never dropped, and a person's name leads their message."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.common.text import (
    cap_inbound,
    graphemes,
    numbered_options,
    split_text,
    split_with_footer,
    truncate,
    utf16_len,
    with_author,
)
from flows.messages import Button

FAMILY = "👨\u200d👩\u200d👧\u200d👦"  # one grapheme, 11 UTF-16 units
THUMB = "👍🏽"  # emoji + skin tone
E_ACUTE = "e\u0301"  # e + combining acute
TRICKY = [FAMILY, THUMB, E_ACUTE, "🇵🇱", "ä", "שלום", "مرحبا", "你好", "x"]

words = st.lists(
    st.lists(st.sampled_from(TRICKY), min_size=1, max_size=4).map("".join), min_size=1, max_size=60
)
separators = st.sampled_from([" ", "  ", "\n", "\n\n", ". ", "! ", "? "])


@st.composite
def texts(draw: st.DrawFn) -> str:
    parts = draw(words)
    out = parts[0]
    for w in parts[1:]:
        out += draw(separators) + w
    return out


def _assert_grapheme_aligned(original: str, pieces: list[str]) -> None:
    """Each piece is a run of whole graphemes of the original, in order."""
    source = graphemes(original)
    pos = 0
    for piece in pieces:
        own = graphemes(piece)
        while source[pos].isspace() and not own[0].isspace():
            pos += 1
        assert source[pos : pos + len(own)] == own
        pos += len(own)


@settings(max_examples=150, deadline=None)
@given(text=texts(), limit=st.integers(min_value=48, max_value=160))  # words ≤ 44 units
def test_split_respects_the_limit_and_never_cuts_a_word_or_grapheme(text: str, limit: int) -> None:
    pieces = split_text(text, limit)
    assert all(0 < utf16_len(p) <= limit for p in pieces)
    assert [w for p in pieces for w in p.split()] == text.split()  # no word was cut
    _assert_grapheme_aligned(text.strip(), pieces)


@settings(max_examples=100, deadline=None)
@given(text=st.lists(st.sampled_from([*TRICKY, " "]), min_size=1, max_size=400).map("".join))
def test_split_of_long_runs_without_spaces_still_keeps_graphemes_whole(text: str) -> None:
    pieces = split_text(text, 16)
    assert all(utf16_len(p) <= 16 for p in pieces)
    assert "".join("".join(p.split()) for p in pieces) == "".join(text.split())
    _assert_grapheme_aligned(text.strip(), pieces)


def test_split_prefers_a_sentence_end_over_a_later_space() -> None:
    text = "First sentence is here. Second one follows and is longer than the rest"
    assert split_text(text, 30)[0] == "First sentence is here."


def test_split_never_breaks_a_zwj_family_at_the_limit() -> None:
    text = "ab " + FAMILY * 3
    pieces = split_text(text, 12)
    assert pieces == ["ab", FAMILY, FAMILY, FAMILY]


def test_split_caps_the_last_piece_separately() -> None:
    pieces = split_text("word " * 300, 2000, last_limit=640)
    assert utf16_len(pieces[-1]) <= 640
    assert all(utf16_len(p) <= 2000 for p in pieces)
    assert sum(len(p.split()) for p in pieces) == 300


def test_a_single_oversized_grapheme_becomes_its_own_piece() -> None:
    zalgo = "a" + "\u0301" * 40
    assert split_text(f"x {zalgo} y", 10) == ["x", zalgo, "y"]


def test_footer_stays_whole_on_the_last_piece() -> None:
    footer = "1. Small\n2. Large"
    pieces = split_with_footer("lorem ipsum " * 40, footer, 100)
    assert pieces[-1].endswith("\n\n" + footer)
    assert all(utf16_len(p) <= 100 for p in pieces)


def test_a_footer_too_long_to_share_gets_its_own_pieces_cut_between_lines() -> None:
    footer = "\n".join(f"{i}. option number {i}" for i in range(1, 30))
    pieces = split_with_footer("Pick one:", footer, 120)
    assert pieces[0] == "Pick one:"
    assert [line for p in pieces[1:] for line in p.splitlines()] == footer.splitlines()


def test_truncate_ends_on_a_grapheme_boundary() -> None:
    assert truncate("ab" + FAMILY, 12) == "ab"
    assert truncate("ab" + FAMILY, 13) == "ab" + FAMILY


def test_inbound_size_policy_marks_the_cut_in_extras() -> None:
    text, extras = cap_inbound("x" * 5000)
    assert len(text) == 4096 and extras == (("truncated_from", "5000"),)
    assert cap_inbound("short") == ("short", ())


def test_numbered_options_list_every_button_in_order_with_the_call() -> None:
    buttons = (
        Button("Small", "S"),
        Button("Shop", "https://shop.example/p", "url"),
        Button("Call us", "+48221234567", "call"),
    )
    assert numbered_options(buttons, "+12025550100") == (
        "1. Small\n2. Shop: https://shop.example/p\n3. Call us: +48221234567\n📞 +12025550100"
    )


@pytest.mark.parametrize(
    ("author", "expected"),
    [("bot", "Hello"), ("Ann (Acme team)", "Ann (Acme team): Hello"), ("  ", "Hello")],
)
def test_agent_name_leads_a_persons_message(author: str, expected: str) -> None:
    assert with_author("Hello", author) == expected
