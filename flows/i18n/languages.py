"""The languages a flow may speak, as BCP 47 codes, and what is known about each.

Codes are BCP 47 (`en`, `pl`, `ro`, `ar`, `zh-Hans`, `zh-Hant`): Chinese is told apart by
script, because that is what a shopper reads, not by country.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers


@dataclass(frozen=True, slots=True)
class LanguageInfo:
    code: str
    name: str  # the language's own name for itself, as a shopper looks for it in a list
    english: str  # for marketers' messages
    script: str  # Latin, Arabic, Han
    babel: str  # the CLDR locale for dates, numbers and plurals
    rtl: bool = False


KNOWN: dict[str, LanguageInfo] = {
    info.code: info
    for info in (
        LanguageInfo("en", "English", "English", "Latin", "en"),
        LanguageInfo("es", "Español", "Spanish", "Latin", "es"),
        LanguageInfo("pl", "Polski", "Polish", "Latin", "pl"),
        LanguageInfo("ro", "Română", "Romanian", "Latin", "ro"),
        LanguageInfo("de", "Deutsch", "German", "Latin", "de"),
        LanguageInfo("fr", "Français", "French", "Latin", "fr"),
        LanguageInfo("it", "Italiano", "Italian", "Latin", "it"),
        LanguageInfo("pt", "Português", "Portuguese", "Latin", "pt"),
        LanguageInfo("ar", "العربية", "Arabic", "Arabic", "ar", rtl=True),
        LanguageInfo("zh-Hans", "简体中文", "Chinese (Simplified)", "Han", "zh_Hans"),
        LanguageInfo("zh-Hant", "繁體中文", "Chinese (Traditional)", "Han", "zh_Hant"),
    )
}
_CODE = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*$")

_ARAB_LEAGUE = "SA AE EG JO KW QA BH OM YE IQ SY LB PS LY TN DZ MA SD MR".split()  # noqa: SIM905
# Where a phone number's country says which language its owner most likely reads.
_COUNTRY_LANGUAGE = {
    "PL": "pl", "RO": "ro", "MD": "ro", "CN": "zh-Hans", "SG": "zh-Hans", "TW": "zh-Hant",
    "HK": "zh-Hant", "MO": "zh-Hant", "ES": "es", "MX": "es", "AR": "es", "CO": "es",
    "US": "en", "GB": "en", "IE": "en", "AU": "en", "NZ": "en", "CA": "en",
    "DE": "de", "AT": "de", "FR": "fr", "IT": "it", "PT": "pt", "BR": "pt",
    **dict.fromkeys(_ARAB_LEAGUE, "ar"),
}  # fmt: skip
_TRADITIONAL_REGIONS = {"tw", "hk", "mo", "hant"}


def info(code: str) -> LanguageInfo:
    """What is known of a language; an unknown code is taken as a Latin-script language."""
    return KNOWN.get(code) or LanguageInfo(code, code, code, "Latin", code.replace("-", "_"))


def is_language_code(text: str) -> bool:
    return bool(_CODE.match(text))


def from_locale(locale: str | None, languages: tuple[str, ...]) -> str | None:
    """The flow language a platform locale names: Telegram's `pl`, Messenger's `pl_PL`,
    `zh_TW` or `zh-HK` (Traditional), `zh_CN` (Simplified)."""
    if not locale:
        return None
    parts = re.split(r"[-_]", locale.strip().lower())
    base = parts[0]
    if base == "zh":
        wanted = "zh-Hant" if _TRADITIONAL_REGIONS & set(parts[1:]) else "zh-Hans"
        if wanted in languages:
            return wanted
        return next((lang for lang in languages if lang.startswith("zh")), None)
    return next((lang for lang in languages if lang.lower().split("-")[0] == base), None)


def from_phone(phone: str | None, languages: tuple[str, ...]) -> str | None:
    """The flow language most likely read by the owner of an international phone number."""
    if not phone:
        return None
    digits = phone.removeprefix("whatsapp:").strip()
    try:
        number = phonenumbers.parse(digits if digits.startswith("+") else "+" + digits)
    except phonenumbers.NumberParseException:
        return None
    language = _COUNTRY_LANGUAGE.get(phonenumbers.region_code_for_number(number) or "")
    return language if language in languages else None
