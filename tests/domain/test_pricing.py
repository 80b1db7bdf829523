"""Rate cards: longest prefix, sender-kind rates, fallback cards and exact totals."""

from __future__ import annotations

from decimal import Decimal

from recado.domain.pricing import (
    DEFAULT_RATES,
    CostEstimate,
    Rate,
    RateCard,
    from_micros,
    total_cost,
)

US = "+14155550123"
UK_MOBILE = "+447912345678"
BR = "+5511912345678"


def test_the_default_card_prices_per_part_as_before() -> None:
    card = RateCard()
    assert card.rates == DEFAULT_RATES
    assert card.estimate(US, 2) == (Decimal("0.0158"), "USD")
    assert card.estimate(BR, 1) == (Decimal("0.0350"), "USD")
    assert card.estimate("+99912345", 1) == (Decimal("0.0500"), "USD")  # everywhere else


def test_the_longest_matching_prefix_wins() -> None:
    card = RateCard(
        (Rate("44", Decimal("0.04")), Rate("447", Decimal("0.03")), Rate("", Decimal(1)))
    )
    assert card.estimate(UK_MOBILE, 1) == (Decimal("0.03"), "USD")
    assert card.estimate("+442071234567", 1) == (Decimal("0.04"), "USD")
    assert card.estimate(US, 1) == (Decimal(1), "USD")


def test_a_rate_for_the_senders_kind_beats_a_generic_one_of_the_same_prefix() -> None:
    card = RateCard(
        (
            Rate("1", Decimal("0.0079")),
            Rate("1", Decimal("0.0100"), sender_kind="short_code"),
            Rate("1", Decimal("0.0085"), sender_kind="toll_free"),
        )
    )
    assert card.estimate(US, 1, "short_code") == (Decimal("0.0100"), "USD")
    assert card.estimate(US, 1, "toll_free") == (Decimal("0.0085"), "USD")
    assert card.estimate(US, 1, "long_code") == (Decimal("0.0079"), "USD")


def test_the_order_of_rates_on_the_card_does_not_matter() -> None:
    generic = Rate("1", Decimal("0.0079"))
    short_code = Rate("1", Decimal("0.0100"), sender_kind="short_code")
    for rates in ((generic, short_code), (short_code, generic)):
        assert RateCard(rates).estimate(US, 1, "short_code") == (Decimal("0.0100"), "USD")


def test_a_longer_generic_prefix_beats_a_shorter_kind_specific_one() -> None:
    card = RateCard(
        (Rate("44", Decimal("0.09"), sender_kind="alphanumeric"), Rate("447", Decimal("0.03")))
    )
    assert card.estimate(UK_MOBILE, 1, "alphanumeric") == (Decimal("0.03"), "USD")
    assert card.estimate("+442071234567", 1, "alphanumeric") == (Decimal("0.09"), "USD")


def test_a_kind_specific_rate_never_prices_another_kind_or_an_unknown_one() -> None:
    card = RateCard((Rate("1", Decimal("0.01"), sender_kind="short_code"),))
    assert card.estimate(US, 1, "long_code") is None
    assert card.estimate(US, 1) is None
    assert card.rate_for(US, "short_code") == Rate("1", Decimal("0.01"), "USD", "short_code")


def test_a_fallback_card_prices_only_what_the_card_does_not_cover() -> None:
    own = RateCard((Rate("55", Decimal("0.02"), "BRL"),), fallback=RateCard())
    assert own.estimate(BR, 3) == (Decimal("0.06"), "BRL")
    assert own.estimate(US, 1) == (Decimal("0.0079"), "USD")
    # The card's own "everywhere" rate covers all, so the fallback is never asked.
    everywhere = RateCard((Rate("", Decimal("0.03")),), fallback=RateCard())
    assert everywhere.estimate(US, 1) == (Decimal("0.03"), "USD")


def test_total_cost_sums_exactly_per_currency_and_counts_what_has_no_rate() -> None:
    card = RateCard(
        (
            Rate("1", Decimal("0.0079")),
            Rate("1", Decimal("0.0100"), sender_kind="short_code"),
            Rate("55", Decimal("0.10"), "BRL"),
        )
    )
    cost = total_cost(
        card,
        [
            (US, 1, None),
            (US, 2, "short_code"),
            (BR, 2, None),
            ("+4915112345678", 1, None),
        ],
    )
    assert cost == CostEstimate(
        messages=4,
        parts=6,
        totals={"USD": Decimal("0.0279"), "BRL": Decimal("0.20")},
        unpriced=1,
    )
    assert cost.to_dict()["totals"] == {"USD": "0.0279", "BRL": "0.20"}


def test_total_cost_of_nothing_is_zero() -> None:
    assert total_cost(RateCard(), []) == CostEstimate()


def test_prices_stored_in_micros_come_back_exact() -> None:
    assert from_micros(7_900) == Decimal("0.0079")
    assert from_micros(35_000) * 3 == Decimal("0.105")
