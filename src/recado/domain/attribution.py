"""Which campaign an order is credited to. Pure: the service gathers the candidates.

In order of strength:
1. coupon: the order used a campaign's code (its shared code, or a pool code drawn for one
   of its recipients). Among several campaigns with that code, the one whose message went
   out last before the order; a code cannot be used before it was sent, so candidates sent
   after the order come only when no other is left.
2. click: the last campaign message the contact clicked within `click_window` before the
   order.
3. delivery: the last campaign message delivered to the contact within `delivery_window`
   before the order.
Touches after the order never count. The window edges are included. When two touches have
the same time, the later message id wins (ids follow creation), so the answer is stable.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

DEFAULT_CLICK_WINDOW = timedelta(days=7)
DEFAULT_DELIVERY_WINDOW = timedelta(hours=24)


class Rule(StrEnum):
    COUPON = "coupon"
    CLICK = "click"
    DELIVERY = "delivery"


@dataclass(frozen=True)
class Touch:
    """A campaign message reaching the contact: clicked or delivered at `at`; for a coupon,
    the moment the code went out (None when unknown, e.g. a shared code forwarded to
    someone the campaign did not text)."""

    campaign_id: str
    message_id: str | None
    variant_id: str | None
    at: datetime | None


@dataclass(frozen=True)
class Windows:
    click: timedelta = DEFAULT_CLICK_WINDOW
    delivery: timedelta = DEFAULT_DELIVERY_WINDOW

    def __post_init__(self) -> None:
        if self.click < timedelta(0) or self.delivery < timedelta(0):
            raise ValueError("attribution windows are not negative")


@dataclass(frozen=True)
class Credit:
    campaign_id: str
    message_id: str | None
    variant_id: str | None
    rule: Rule


def attribute(
    order_at: datetime,
    *,
    coupon: Iterable[Touch] = (),
    clicks: Iterable[Touch] = (),
    deliveries: Iterable[Touch] = (),
    windows: Windows = Windows(),  # noqa: B008  (frozen: one shared default is safe)
) -> Credit | None:
    """The campaign credited with an order placed at `order_at`, or None."""
    chosen = _by_coupon(order_at, list(coupon))
    if chosen is not None:
        return _credit(chosen, Rule.COUPON)
    chosen = _last_within(order_at, clicks, windows.click)
    if chosen is not None:
        return _credit(chosen, Rule.CLICK)
    chosen = _last_within(order_at, deliveries, windows.delivery)
    if chosen is not None:
        return _credit(chosen, Rule.DELIVERY)
    return None


def _by_coupon(order_at: datetime, candidates: list[Touch]) -> Touch | None:
    if not candidates:
        return None
    before = [t for t in candidates if t.at is not None and t.at <= order_at]
    if before:
        return max(before, key=_order)
    undated = [t for t in candidates if t.at is None]
    if undated:
        return max(undated, key=lambda t: (t.message_id or "", t.campaign_id))
    # Only codes sent after the order (clocks disagree): the earliest of them.
    return min(candidates, key=_order)


def _last_within(order_at: datetime, touches: Iterable[Touch], window: timedelta) -> Touch | None:
    inside = [t for t in touches if t.at is not None and order_at - window <= t.at <= order_at]
    return max(inside, key=_order) if inside else None


def _order(touch: Touch) -> tuple[datetime, str, str]:
    assert touch.at is not None
    return (touch.at, touch.message_id or "", touch.campaign_id)


def _credit(touch: Touch, rule: Rule) -> Credit:
    return Credit(touch.campaign_id, touch.message_id, touch.variant_id, rule)
