"""Phone numbers as the analytics keep them: E.164 (+4915112345678), whatever the source wrote.

Call-center exports write numbers every way ("+49 151 1234 5678", "0049...", "0151 ..."); a call
is joined to its shopper by comparing text, so every number is normalised first with
`phonenumbers`, a national one read in the shop's country (SHOP_COUNTRY).
"""

from __future__ import annotations

import phonenumbers

PREFIXES = ("tel:", "whatsapp:")  # a URI scheme or Twilio's channel prefix around a number


def known_country(country: str | None) -> str | None:
    """SHOP_COUNTRY as phonenumbers knows it (upper case), None when unset; ValueError else."""
    if not country:
        return None
    code = country.strip().upper()
    if code not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"SHOP_COUNTRY={country!r} is not an ISO 3166 country code; e.g. DE")
    return code


def to_e164(text: str, country: str | None) -> str:
    """`text` in E.164; ValueError saying why when it is not a phone number.

    "00" starts an international number nearly everywhere, so it is read as "+" even where the
    country dials out otherwise (011 in North America): a call-center export that writes 00
    means it. Without a country, a national number cannot be placed and is refused rather
    than guessed (a wrong guess would join calls to strangers without a word).
    """
    raw = text.strip()
    for prefix in PREFIXES:
        raw = raw.removeprefix(prefix)
    if raw.startswith("00"):
        raw = "+" + raw[2:]
    if not raw:
        raise ValueError("no phone number")
    if not raw.startswith("+") and country is None:
        raise ValueError(f"{text!r} is a national number and SHOP_COUNTRY is not set")
    try:
        number = phonenumbers.parse(raw, country)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"{text!r} is not a phone number: {exc}") from None
    # Possible (the right length for its country), not "valid": the library's list of ranges
    # in use lags behind the operators', and a real caller must not be dropped for that.
    if not phonenumbers.is_possible_number(number):
        raise ValueError(f"{text!r} has the wrong length for a phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
