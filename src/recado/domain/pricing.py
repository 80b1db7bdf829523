"""Price estimates: a rate card maps destination prefixes to a price per message part.

A rate may be for one kind of sender (a short code usually costs more than a long code) or,
with no kind, for any. The longest matching prefix wins; between two of the same length, the
rate for the sender's kind beats the generic one. A card may fall back on another (a
workspace's own card on the default one) for destinations none of its rates covers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

MICROS = Decimal(1_000_000)


@dataclass(frozen=True)
class Rate:
    prefix: str  # E.164 digits without '+', e.g. "1", "55", "4479"; "" matches everything
    price_per_part: Decimal
    currency: str = "USD"
    sender_kind: str | None = None  # long_code, short_code, toll_free, alphanumeric; None = any


# Indicative list prices per outbound part; operators replace them with their carrier's card.
DEFAULT_RATES: tuple[Rate, ...] = (
    Rate("1", Decimal("0.0079")),
    Rate("55", Decimal("0.0350")),
    Rate("52", Decimal("0.0400")),
    Rate("54", Decimal("0.0600")),
    Rate("34", Decimal("0.0750")),
    Rate("351", Decimal("0.0400")),
    Rate("44", Decimal("0.0400")),
    Rate("49", Decimal("0.0800")),
    Rate("33", Decimal("0.0750")),
    Rate("", Decimal("0.0500")),  # everywhere else
)


@dataclass(frozen=True)
class RateCard:
    rates: tuple[Rate, ...] = DEFAULT_RATES
    fallback: RateCard | None = None  # asked when no rate of this card matches

    def rate_for(self, e164: str, sender_kind: str | None = None) -> Rate | None:
        """The rate for a text to `e164` from a sender of `sender_kind` (None: unknown, so
        only rates for any kind apply)."""
        digits = e164.lstrip("+")
        best: Rate | None = None
        best_rank = (-1, False)
        for rate in self.rates:
            if not digits.startswith(rate.prefix):
                continue
            if rate.sender_kind is not None and rate.sender_kind != sender_kind:
                continue
            rank = (len(rate.prefix), rate.sender_kind is not None)
            if rank > best_rank:
                best, best_rank = rate, rank
        if best is None and self.fallback is not None:
            return self.fallback.rate_for(e164, sender_kind)
        return best

    def estimate(
        self, e164: str, parts: int, sender_kind: str | None = None
    ) -> tuple[Decimal, str] | None:
        """Price of `parts` parts to `e164` and its currency; None when no rate applies."""
        rate = self.rate_for(e164, sender_kind)
        if rate is None:
            return None
        return rate.price_per_part * parts, rate.currency


@dataclass(frozen=True)
class CostEstimate:
    """What sending a set of messages costs: one total per currency (cards may mix them)."""

    messages: int = 0
    parts: int = 0
    totals: Mapping[str, Decimal] = field(default_factory=dict)
    unpriced: int = 0  # messages to destinations no rate covers

    def __add__(self, other: CostEstimate) -> CostEstimate:
        """Both sets of messages together (a large audience is priced chunk by chunk)."""
        totals = dict(self.totals)
        for currency, amount in other.totals.items():
            totals[currency] = totals.get(currency, Decimal(0)) + amount
        return CostEstimate(
            self.messages + other.messages,
            self.parts + other.parts,
            totals,
            self.unpriced + other.unpriced,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "messages": self.messages,
            "parts": self.parts,
            "totals": {currency: str(amount) for currency, amount in self.totals.items()},
            "unpriced": self.unpriced,
        }


def total_cost(card: RateCard, messages: Iterable[tuple[str, int, str | None]]) -> CostEstimate:
    """The exact cost of `messages`, each (E.164 recipient, parts, sender kind or None)."""
    count = parts_total = unpriced = 0
    totals: dict[str, Decimal] = {}
    for e164, parts, sender_kind in messages:
        count += 1
        parts_total += parts
        price = card.estimate(e164, parts, sender_kind)
        if price is None:
            unpriced += 1
            continue
        amount, currency = price
        totals[currency] = totals.get(currency, Decimal(0)) + amount
    return CostEstimate(count, parts_total, totals, unpriced)


def from_micros(price_micros: int) -> Decimal:
    """A price stored in millionths of the currency unit, as a Decimal."""
    return Decimal(price_micros) / MICROS
