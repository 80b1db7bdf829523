"""Phone numbers: what people type becomes E.164, and what cannot says why."""

from __future__ import annotations

import pytest

from recado.domain.phone import parse_phone
from recado.errors import InvalidPhoneNumber


@pytest.mark.parametrize(
    ("typed", "country", "e164", "region"),
    [
        ("(415) 723-4567", "US", "+14157234567", "US"),
        ("415.723.4567", "US", "+14157234567", "US"),
        ("+1 415 723 4567", "BR", "+14157234567", "US"),
        ("011 55 11 91234-5678", "US", "+5511912345678", "BR"),
        ("11 91234-5678", "BR", "+5511912345678", "BR"),
        ("(11) 9 1234-5678", "BR", "+5511912345678", "BR"),
        ("+34 612 34 56 78", "US", "+34612345678", "ES"),
    ],
)
def test_common_spellings_become_e164(typed: str, country: str, e164: str, region: str):
    number = parse_phone(typed, country)
    assert number.e164 == e164
    assert number.region == region


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("", "A phone number is required"),
        ("hello", "does not look like a phone number"),
        ("12", "too short"),
        ("+1 415 723 45678 9999", "too long"),
        ("+999 1234 5678", "country calling code is not valid"),
        ("+1 099 723 4567", "no such number range exists"),
    ],
)
def test_numbers_that_cannot_be_read_say_why(typed: str, reason: str):
    with pytest.raises(InvalidPhoneNumber) as error:
        parse_phone(typed, "US")
    assert reason in error.value.message


def test_time_zone_comes_from_the_number_when_it_has_one_clock():
    assert parse_phone("+14157234567", "US").timezone == "America/Los_Angeles"
    assert parse_phone("+5511912345678", "US").timezone == "America/Sao_Paulo"
    # The UK spans four zone names that always keep the same clock: one answer is safe.
    assert parse_phone("+447911123456", "US").timezone is not None


def test_a_number_spanning_zones_with_different_clocks_has_no_single_zone():
    # A US toll-free number could ring anywhere from Hawaii to New York.
    assert parse_phone("+18005550199", "US").timezone is None
