"""Folding text so that the same words written differently compare equal.

Shoppers type on phones in six scripts: with or without Polish and Romanian diacritics, Arabic
with or without hamza forms and vowel marks, digits in Arabic-Indic, Persian or full-width
form, Chinese in Traditional or Simplified characters. Matching and classification work on the
folded text; what the shopper wrote is never changed anywhere else.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from flows.i18n.chinese import convert

MAX_FOLD_CHARS = 2_000  # longer messages are folded (and so understood) by their start only

# Letters NFKD does not decompose, and Arabic letter forms written interchangeably.
_LETTERS = str.maketrans(
    {
        "ł": "l", "Ł": "l", "ø": "o", "đ": "d", "ß": "ss", "ı": "i",
        "أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ى": "ي", "ة": "ه", "ؤ": "و", "ئ": "ي",
        "گ": "ك", "ک": "ك", "ی": "ي", "ـ": "",
    }
)  # fmt: skip
_DIGITS = str.maketrans(
    {
        **{chr(0x0660 + i): str(i) for i in range(10)},  # Arabic-Indic ٠١٢
        **{chr(0x06F0 + i): str(i) for i in range(10)},  # Persian ۰۱۲
    }
)
# Invisible characters that change nothing a shopper meant: zero-width, bidi controls, BOM.
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff\u00ad]")
_NON_WORD = re.compile(r"[^\w]+", re.UNICODE)


def is_han(ch: str) -> bool:
    """A Chinese character (CJK unified ideographs, extension A, compatibility ideographs)."""
    return "\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff"


def has_han(text: str) -> bool:
    return any(is_han(ch) for ch in text)


def ascii_digits(text: str) -> str:
    """Arabic-Indic, Persian and full-width digits as 0-9 (other text unchanged)."""
    return unicodedata.normalize("NFKC", text).translate(_DIGITS)


def clean(text: str) -> str:
    """The text without invisible controls, width-normalised, digits as 0-9: what validation
    and entity extraction read, so "A١٢٣٤" and "Ａ１２３４" are A1234."""
    return ascii_digits(_INVISIBLE.sub("", text[:MAX_FOLD_CHARS]))


@lru_cache(maxsize=8192)
def fold(text: str) -> str:
    """Casefolded, accents and vowel marks removed, letter variants unified, Traditional
    Chinese as Simplified, punctuation collapsed to single spaces: 'Zamówienia!' → 'zamowienia',
    '我的訂單' → '我的订单', 'أين طلبي؟' → 'اين طلبي'."""
    text = clean(text).casefold().translate(_LETTERS)
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    if has_han(stripped):
        stripped = convert(stripped, "zh-Hans")
    return _NON_WORD.sub(" ", stripped).strip()
