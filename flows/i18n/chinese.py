"""Simplified ↔ Traditional Chinese with OpenCC, for a text a flow wrote in one script only.

A Traditional-script shopper should read Traditional characters even where the marketer wrote
only Simplified (and the other way round); OpenCC's phrase tables do this far better than a
character table (发 → 發 or 髮 by context).
"""

from __future__ import annotations

from functools import lru_cache

import opencc

_TO = {"zh-Hant": opencc.OpenCC("s2t.json"), "zh-Hans": opencc.OpenCC("t2s.json")}
PAIRS = {"zh-Hant": "zh-Hans", "zh-Hans": "zh-Hant"}


@lru_cache(maxsize=2048)
def convert(text: str, language: str) -> str:
    """`text` in the script of `language` (zh-Hans or zh-Hant)."""
    return _TO[language].convert(text)


def convertible_from(language: str, present: set[str]) -> str | None:
    """The other Chinese script a missing `language` can be converted from, if present."""
    other = PAIRS.get(language)
    return other if other in present else None
