"""Phone numbers: parse what people type into E.164, and say why when it cannot be done."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import NumberParseException, ValidationResult
from phonenumbers import timezone as phone_timezone

from recado.errors import InvalidPhoneNumber

_PARSE_REASONS = {
    NumberParseException.INVALID_COUNTRY_CODE: "the country calling code is not valid",
    NumberParseException.NOT_A_NUMBER: "it does not look like a phone number",
    NumberParseException.TOO_SHORT_AFTER_IDD: "it is too short after the international prefix",
    NumberParseException.TOO_SHORT_NSN: "it is too short",
    NumberParseException.TOO_LONG: "it is too long",
}
_POSSIBILITY_REASONS = {
    ValidationResult.INVALID_COUNTRY_CODE: "the country calling code is not valid",
    ValidationResult.TOO_SHORT: "it is too short",
    ValidationResult.TOO_LONG: "it is too long",
    ValidationResult.INVALID_LENGTH: "it has the wrong number of digits",
}


@dataclass(frozen=True)
class PhoneNumber:
    e164: str
    region: str | None
    timezone: str | None  # None when the number spans zones with different clocks


def parse_phone(raw: str, default_country: str) -> PhoneNumber:
    """Normalize `raw` to E.164, reading a number without `+` as one of `default_country`.

    Raises InvalidPhoneNumber with a reason a person can act on.
    """
    text = (raw or "").strip()
    if not text:
        raise InvalidPhoneNumber("A phone number is required.")
    return _parse(text, default_country)


# The same numbers come back (a customer's every OTP, a list sent to each week), and a parse
# takes about 65 microseconds, a good share of what accepting a text costs. Only valid
# numbers are kept: an error is raised again each time.
@lru_cache(maxsize=16_384)
def _parse(text: str, default_country: str) -> PhoneNumber:
    try:
        number = phonenumbers.parse(text, default_country)
    except NumberParseException as exc:
        reason = _PARSE_REASONS.get(exc.error_type, "it could not be read")
        raise InvalidPhoneNumber(
            f"'{text}' is not a valid phone number: {reason}. "
            f"Write it in international form, for example +{_example(default_country)}."
        ) from None
    possible = phonenumbers.is_possible_number_with_reason(number)
    if possible not in (ValidationResult.IS_POSSIBLE, ValidationResult.IS_POSSIBLE_LOCAL_ONLY):
        reason = _POSSIBILITY_REASONS.get(possible, "it has the wrong number of digits")
        raise InvalidPhoneNumber(f"'{text}' is not a valid phone number: {reason}.")
    # The region is worked out once: is_valid_number would compute it again, twice.
    region = phonenumbers.region_code_for_number(number)
    if region is None or not phonenumbers.is_valid_number_for_region(number, region):
        raise InvalidPhoneNumber(
            f"'{text}' is not a valid phone number for {region or default_country}: no such "
            "number range exists. Check the digits and the country code."
        )
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return PhoneNumber(
        e164=e164,
        region=region,
        timezone=_single_clock(phone_timezone.time_zones_for_number(number)),
    )


def normalize_phone(raw: str, default_country: str) -> str:
    return parse_phone(raw, default_country).e164


def valid_timezone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


@lru_cache(maxsize=4096)
def _single_clock(zones: tuple[str, ...]) -> str | None:
    """One zone name when every candidate zone keeps the same clock all year, else None."""
    known = [z for z in zones if valid_timezone(z)]
    if not known:
        return None
    probes = [datetime(2026, 1, 15, 12, tzinfo=UTC), datetime(2026, 7, 15, 12, tzinfo=UTC)]
    offsets = {tuple(p.astimezone(ZoneInfo(z)).utcoffset() for p in probes) for z in known}
    return known[0] if len(offsets) == 1 else None


@lru_cache(maxsize=64)
def _example(country: str) -> str:
    example = phonenumbers.example_number_for_type(country, phonenumbers.PhoneNumberType.MOBILE)
    if example is None:
        return "14155550100"
    return phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164).lstrip("+")
