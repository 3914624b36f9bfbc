"""Text folding for matching: case, accents and punctuation do not change what a shopper meant."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_NON_WORD = re.compile(r"[^\w]+", re.UNICODE)


@lru_cache(maxsize=4096)
def normalise(text: str) -> str:
    """Casefolded, accents removed, punctuation collapsed: 'Ré-turns!' → 're turns'."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _NON_WORD.sub(" ", stripped.casefold()).strip()
