"""Reading texts that may come in several languages, and saying which language is missing.

A marketer keeps each translation beside its source text:

    say:
      en: "How can I help you today?"
      pl: "W czym mogę pomóc?"

A language's value may itself have per-channel wording (`{text: ..., whatsapp: ...}`). A
plain string is the source language (the first of `settings.languages`). A text missing a
language is read in another: Traditional Chinese converted from Simplified (and back) by
OpenCC, any other language in the source language; `gateway check` warns about each with the
file and line, and `--strict` makes it an error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from flows.i18n.chinese import convert, convertible_from
from flows.i18n.languages import info, is_language_code
from flows.i18n.system_texts import system_text
from flows.model import Label, Text, Wording
from flows.templates import Template, TemplateProblem, compile_template
from flows.yamlsrc import Pos, Wild

CHANNEL_KEYS = {"text", "whatsapp", "messenger", "telegram"}
# A text with no letters outside its {{ }} parts ("{{ vars.code }}", "5 😍") needs no translation.
_TEMPLATE_PART = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Missing:
    """A text without a version in `language`, and what the shopper reads instead."""

    path: str
    pos: Pos
    language: str
    instead: str  # the source language's code, or "zh-Hans:opencc" (converted from it)


@dataclass(slots=True)
class LanguageFacts:
    """The flow's languages (known before any text is read) and what is missing where."""

    languages: tuple[str, ...] = ("en",)
    missing: list[Missing] = field(default_factory=list)
    templates: list[tuple[str, Pos, bool]] = field(default_factory=list)

    @property
    def source(self) -> str:
        return self.languages[0]


def needs_words(source: str) -> bool:
    return any(ch.isalpha() for ch in _TEMPLATE_PART.sub("", source))


def language_keys(w: Wild) -> bool:
    """Is this mapping keyed by language (`en:`, `pl:`, `zh-Hant:`) rather than by channel?"""
    keys = [str(k) for k in w.value]
    return bool(keys) and all(k not in CHANNEL_KEYS and is_language_code(k) for k in keys)


def read_text(w: Wild, facts: LanguageFacts) -> Text | None:
    """A text: a string, a mapping with `text` and per-channel versions, or either per
    language."""
    if isinstance(w.value, dict) and language_keys(w):
        versions = {}
        for language, part in w.items():
            _known_language(w, language, facts)
            wording = _read_wording(part, facts)
            if wording is not None:
                versions[language] = wording
        return _assemble(w, versions, facts)
    wording = _read_wording(w, facts)
    if wording is None:
        return None
    return _assemble(w, {facts.source: wording}, facts)


def read_label(w: Wild, facts: LanguageFacts) -> Label | None:
    """A short plain text (a button title) in one language or a mapping of languages."""
    if isinstance(w.value, dict) and language_keys(w):
        texts = {}
        for language, part in w.items():
            _known_language(w, language, facts)
            text = part.str()
            if text is not None:
                texts[language] = text
        source = _source(w, texts, facts)
        if source is None:
            return None
        filled = _fill(w, texts, facts, needs_words(source), convert)
        return Label(source, tuple((k, v) for k, v in filled.items() if k != facts.source))
    if not isinstance(w.value, (str, int, float)) or isinstance(w.value, bool):
        w.expect(str, what="a title, or a mapping of languages to titles")
        return None
    text = w.str()
    if text is None:
        return None
    filled = _fill(w, {facts.source: text}, facts, needs_words(text), convert)
    return Label(text, tuple((k, v) for k, v in filled.items() if k != facts.source))


def _known_language(w: Wild, language: str, facts: LanguageFacts) -> None:
    if language not in facts.languages:
        w.diags.warning(
            w.key_pos(language),
            f"language '{language}' is not in settings.languages ({', '.join(facts.languages)})",
            f"add '{language}' to settings.languages, or fix the language code",
        )


def _read_wording(w: Wild, facts: LanguageFacts) -> Wording | None:
    if isinstance(w.value, str) or (
        isinstance(w.value, (int, float)) and not isinstance(w.value, bool)
    ):
        template = template_of(w, facts)
        return Wording(template) if template else None
    if not w.expect(str, dict, what="text, a mapping of languages, or 'text' and channels"):
        return None
    w.only_keys(CHANNEL_KEYS, f"'{w.path}' (a text with per-channel versions)")
    base = w.get("text")
    if base is None:
        w.diags.error(w.pos, f"'{w.path}' has no 'text'", "add 'text:' used on every other channel")
        return None
    default = template_of(base, facts)
    channels = []
    for name, part in w.items():
        if name != "text" and name in CHANNEL_KEYS:
            template = template_of(part, facts)
            if template:
                channels.append((name, template))
    return Wording(default, tuple(channels)) if default else None


def template_of(w: Wild, facts: LanguageFacts) -> Template | None:
    source = w.str()
    if source is None:
        return None
    try:
        template = compile_template(source)
    except TemplateProblem as exc:
        w.diags.error(
            (w.pos[0] + exc.line - 1, w.pos[1]),
            f"{exc} in '{w.path}'",
            "close every '{{' with '}}' and check the spelling of filters",
        )
        return None
    facts.templates.append((source, w.pos, False))
    return template


def _assemble(w: Wild, versions: dict[str, Wording], facts: LanguageFacts) -> Text | None:
    source = _source(w, versions, facts)
    if source is None:
        return None
    words = needs_words(source.default.source)
    filled = _fill(w, versions, facts, words, _convert_wording)
    others = tuple((k, v) for k, v in filled.items() if k != facts.source)
    return Text(source.default, source.channels, others)


def _source(w: Wild, versions: dict[str, Any], facts: LanguageFacts) -> Any:
    """The source language's version; every text must have one (the others fall back on it)."""
    if not versions:
        return None
    source = versions.get(facts.source)
    if source is None:
        fix = f"add '{facts.source}:' (the source language, first in settings.languages)"
        w.diags.error(w.pos, f"'{w.path}' has no '{facts.source}' text", fix)
    return source


def _fill(
    w: Wild, versions: dict[str, Any], facts: LanguageFacts, words: bool, converter: Any
) -> dict[str, Any]:
    """Every flow language: as written, converted from the other Chinese script, or (left
    out, so the source is read) recorded as missing."""
    out = dict(versions)
    for language in facts.languages:
        if language in out:
            continue
        other = convertible_from(language, set(versions))
        if other is not None:
            out[language] = converter(versions[other], language)
            if words:
                facts.missing.append(Missing(w.path, w.pos, language, f"{other}:opencc"))
        elif words:
            facts.missing.append(Missing(w.path, w.pos, language, facts.source))
    return out


def _convert_wording(wording: Wording, language: str) -> Wording:
    def conv(template: Template) -> Template:
        return compile_template(convert(template.source, language))

    return Wording(conv(wording.default), tuple((c, conv(t)) for c, t in wording.channels))


def describe_missing(missing: Missing) -> tuple[str, str]:
    """The warning and its fix for a missing translation."""
    name = info(missing.language).english
    if missing.instead == "":
        instead = "nothing"
    elif missing.instead.endswith(":opencc"):
        other = missing.instead.removesuffix(":opencc")
        instead = f"the {info(other).english} text converted by OpenCC"
    else:
        instead = f"the {info(missing.instead).english} text"
    return (
        f"'{missing.path}' has no '{missing.language}' text: {name} shoppers read {instead}",
        f"add '{missing.language}: ...' beside the other languages",
    )


def system_wording(key: str, languages: tuple[str, ...]) -> Text:
    """One of the system's own template sentences (`flows.i18n.system_texts`) in every
    language of the flow."""
    source = compile_template(system_text(key, languages[0]))
    others = tuple(
        (lang, Wording(compile_template(system_text(key, lang)))) for lang in languages[1:]
    )
    return Text(source, (), others)
