"""What a Telegram user reads for a `parse_mode` text: the markup removed, like Telegram's `text`.

Telegram answers with the plain text (formatting moves to `entities`), so the sandbox does the
same; the simulator then shows text only and never has markup to interpret.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

_MD2_ESCAPE = re.compile(r"\\([_*\[\]()~`>#+\-=|{}.!\\])")
_MD2_MARK = re.compile(r"(?<!\\)(\|\||[*_~`])")
_MD_MARK = re.compile(r"[*_`]")
_LINK = re.compile(r"(?<!\\)\[([^\]]*)\]\([^)]*\)")


class _TextOnly(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


class ParseError(ValueError):
    """The markup is malformed; Telegram answers 400 "can't parse entities"."""


def plain_text(text: str, parse_mode: str | None) -> str:
    mode = (parse_mode or "").lower()
    if mode == "html":
        parser = _TextOnly()
        parser.feed(text)
        parser.close()
        return "".join(parser.parts)
    if mode == "markdownv2":
        text = _LINK.sub(r"\1", text)
        text = _MD2_MARK.sub("", text)
        return _MD2_ESCAPE.sub(r"\1", text)
    if mode == "markdown":
        return _MD_MARK.sub("", _LINK.sub(r"\1", text))
    if mode:
        raise ParseError(f"unsupported parse_mode {parse_mode!r}")
    return text
