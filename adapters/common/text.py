"""Text helpers every adapter shares: grapheme-safe splitting, the numbered-option fallback, the
agent's name in front of a person's message, and the inbound size policy.

Lengths are counted in UTF-16 code units, as Telegram documents and as Twilio and Meta count
emoji (as two or more characters): counting code points would let an emoji-heavy text slip past a
limit. Cuts fall only between extended grapheme clusters (`regex`'s \\X), so a ZWJ family, a
skin-tone emoji or a letter with combining marks is never broken apart.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import regex

from flows.messages import Button

GRAPHEME = regex.compile(r"\X")
SENTENCE_ENDS = frozenset(".!?…。！？؟")  # a cut after these (plus a space) reads naturally
CJK_SENTENCE_ENDS = frozenset("。！？")  # no space follows in Chinese or Japanese
INBOUND_TEXT_LIMIT = 4096  # size policy for shopper text (Telegram's own cap), UTF-16 units
CALL_MARK = "📞"
# A surrogate code point in a str is always a lone one (JSON's "\ud800" escape without its
# pair). No UTF encoder takes one, so each becomes U+FFFD before the store or a send sees it.
LONE_SURROGATE = re.compile("[\ud800-\udfff]")
REPLACEMENT = "\ufffd"


def utf16_len(text: str) -> int:
    """Length as the platforms count it: UTF-16 code units (a lone surrogate is one)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def replace_lone_surrogates(text: str) -> str:
    """`text` with each lone surrogate replaced by U+FFFD, so the rest of it still arrives."""
    return LONE_SURROGATE.sub(REPLACEMENT, text) if LONE_SURROGATE.search(text) else text


def graphemes(text: str) -> list[str]:
    return GRAPHEME.findall(text)


def truncate(text: str, limit: int, measure: Callable[[str], int] = utf16_len) -> str:
    """The longest prefix within `limit` that ends on a grapheme boundary."""
    if measure(text) <= limit:
        return text
    size = 0
    out: list[str] = []
    for g in graphemes(text):
        size += measure(g)
        if size > limit:
            break
        out.append(g)
    return "".join(out)


def _is_space(g: str) -> bool:
    return g.isspace()


def _best_cut(gs: Sequence[str], start: int, end: int) -> int:
    """Where to end the piece gs[start:end] that overflowed: paragraph, sentence, word, grapheme.

    A paragraph or sentence break is taken only in the second half of the window, so pieces are
    not needlessly short; any word break beats cutting inside a word.
    """
    half = start + (end - start) // 2
    line = sentence = word = -1
    for i in range(end - 1, start, -1):
        g, prev = gs[i], gs[i - 1]
        if _is_space(g) and "\n\n" in prev + g and i + 1 > half:
            return i + 1
        if line < 0 and "\n" in g and i > half:
            line = i + 1
        if sentence < 0 and i > half:
            if _is_space(g) and prev and prev[-1] in SENTENCE_ENDS:
                sentence = i + 1
            elif prev and prev[-1] in CJK_SENTENCE_ENDS:
                sentence = i
        if word < 0 and _is_space(g):
            word = i + 1
    for cut in (line, sentence):
        if cut > 0:
            return cut
    if word > 0:
        return word
    return end


def split_text(
    text: str, limit: int, last_limit: int | None = None, measure: Callable[[str], int] = utf16_len
) -> list[str]:
    """Pieces of at most `limit` units, cut at paragraph, sentence or word boundaries.

    `last_limit` caps the final piece (it carries the buttons, e.g. Messenger's 640-character
    button template). A single word longer than the limit is cut between graphemes; a single
    grapheme longer than the limit (thousands of combining marks) becomes its own piece.
    """
    text = text.strip()
    if not text:
        return []
    final = limit if last_limit is None else min(limit, last_limit)
    if measure(text) <= final:
        return [text]
    gs = graphemes(text)
    sizes = [measure(g) for g in gs]
    pieces: list[str] = []
    start, remaining = 0, sum(sizes)
    while start < len(gs):
        if remaining <= final:
            pieces.append("".join(gs[start:]).strip())
            break
        size, end = 0, start
        while end < len(gs) and size + sizes[end] <= limit:
            size += sizes[end]
            end += 1
        if end == len(gs):  # the rest fits `limit` but not `final`: cut it again at `final`
            size, end = 0, start
            while size + sizes[end] <= final:
                size += sizes[end]
                end += 1
        cut = max(_best_cut(gs, start, end), start + 1) if end < len(gs) else end
        pieces.append("".join(gs[start:cut]).strip())
        while cut < len(gs) and _is_space(gs[cut]):
            cut += 1
        remaining -= sum(sizes[start:cut])
        start = cut
    return [p for p in pieces if p]


def split_with_footer(
    text: str, footer: str, limit: int, measure: Callable[[str], int] = utf16_len
) -> list[str]:
    """`split_text`, with `footer` (the options) kept whole at the end of the last piece.

    A footer too long to share a piece gets pieces of its own, cut between its lines.
    """
    if not footer:
        return split_text(text, limit, measure=measure)
    room = limit - measure(footer) - 2
    if room >= limit // 2:
        pieces = split_text(text, limit, last_limit=room, measure=measure)
        return [*pieces[:-1], f"{pieces[-1]}\n\n{footer}"] if pieces else [footer]
    return split_text(text, limit, measure=measure) + split_text(footer, limit, measure=measure)


def with_author(text: str, author: str) -> str:
    """A person's message starts with their name, so the shopper knows a human is talking."""
    if author == "bot" or not author.strip():
        return text
    return f"{author.strip()}: {text}"


def option_line(number: int, button: Button) -> str:
    """One numbered option; url and call buttons show where they lead."""
    if button.kind == "reply":
        return f"{number}. {button.title}"
    return f"{number}. {button.title}: {button.payload}"


def numbered_options(buttons: Sequence[Button], call: str | None = None) -> str:
    """The shared fallback: every button as "1. Title", in order, plus the call number.

    Numbers count all buttons in order, so "2" means the second button as the engine reads it;
    no option is ever left out.
    """
    lines = [option_line(i, b) for i, b in enumerate(buttons, start=1)]
    if call:
        lines.append(f"{CALL_MARK} {call}")
    return "\n".join(lines)


def with_options(text: str, buttons: Sequence[Button], call: str | None = None) -> str:
    """`text` followed by the numbered options, separated by a blank line."""
    options = numbered_options(buttons, call)
    if not options:
        return text
    return f"{text}\n\n{options}" if text else options


def cap_inbound(text: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """The inbound size policy: keep the first 4,096 units, mark the cut in extras.

    A longer text is not an attack on its own (Messenger allows 20,000), but the engine, the
    history and the inbox need a bound; the extra `truncated_from` keeps the original length.
    Lone surrogates become U+FFFD (the parsers already do so; this keeps the policy total).
    """
    text = replace_lone_surrogates(text)
    if utf16_len(text) <= INBOUND_TEXT_LIMIT:
        return text, ()
    return truncate(text, INBOUND_TEXT_LIMIT), (("truncated_from", str(utf16_len(text))),)


__all__ = [
    "INBOUND_TEXT_LIMIT",
    "cap_inbound",
    "graphemes",
    "numbered_options",
    "option_line",
    "replace_lone_surrogates",
    "split_text",
    "split_with_footer",
    "truncate",
    "utf16_len",
    "with_author",
    "with_options",
]
