"""Text folding for matching: case, accents, letter forms, digit forms and Chinese script do
not change what a shopper meant."""

from __future__ import annotations

from flows.understanding.fold import fold


def normalise(text: str) -> str:
    """'Ré-turns!' → 're turns'; 'Zamówienie' → 'zamowienie'; '訂單' → '订单'."""
    return fold(text)
