"""A campaign's outcome per variant, in a few aggregate queries: what the A/B decision and
the report read.

- recipients: the campaign's message rows of the variant, canceled ones left out;
- delivered: those the carrier reported delivered;
- unique_clicks: recipients who clicked a tracked link of their message at least once;
- conversions / revenue_micros: orders credited to the variant (services/contact_events.py
  sets the credit once per order), and the sum of their values;
- opt_outs: recipients whose consent was revoked (STOP and the like) within
  `OPT_OUT_WINDOW` after their message was sent.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from recado.db.tables import Click, Consent, ContactEvent, Message

OPT_OUT_WINDOW = timedelta(hours=72)
REPLY_WINDOW = timedelta(hours=72)
NOT_SENT = ("canceled",)


@dataclass(frozen=True)
class VariantMetrics:
    variant_id: str | None
    recipients: int
    delivered: int
    unique_clicks: int
    conversions: int
    revenue_micros: int
    opt_outs: int


async def variant_metrics(
    session: AsyncSession, workspace_id: str, campaign_id: str
) -> dict[str | None, VariantMetrics]:
    """The figures of each variant of the campaign, keyed by Message.variant_id (None for
    a campaign without variants). Variants with no message yet are absent."""
    counts = await session.execute(
        select(
            Message.variant_id,
            func.count(),
            func.coalesce(func.sum(case((Message.status == "delivered", 1), else_=0)), 0),
        )
        .where(*_campaign_messages(workspace_id, campaign_id))
        .group_by(Message.variant_id)
    )
    figures: dict[str | None, dict[str, int]] = {
        variant: {"recipients": int(n), "delivered": int(delivered)}
        for variant, n, delivered in counts
    }
    clicks = await session.execute(
        select(Message.variant_id, func.count(func.distinct(Click.message_id)))
        .join(Message, Message.id == Click.message_id)
        .where(Click.workspace_id == workspace_id, Click.campaign_id == campaign_id)
        .where(*_campaign_messages(workspace_id, campaign_id))
        .group_by(Message.variant_id)
    )
    for variant, n in clicks:
        figures.setdefault(variant, {})["unique_clicks"] = int(n)
    orders = await session.execute(
        select(
            ContactEvent.variant_id,
            func.count(),
            func.coalesce(func.sum(ContactEvent.value_micros), 0),
        )
        .where(
            ContactEvent.workspace_id == workspace_id,
            ContactEvent.campaign_id == campaign_id,
            ContactEvent.attribution.is_not(None),
        )
        .group_by(ContactEvent.variant_id)
    )
    for variant, n, revenue in orders:
        entry = figures.setdefault(variant, {})
        entry["conversions"] = int(n)
        entry["revenue_micros"] = int(revenue or 0)
    for variant, n in (await opt_outs_by_variant(session, workspace_id, campaign_id)).items():
        figures.setdefault(variant, {})["opt_outs"] = n
    return {
        variant: VariantMetrics(
            variant_id=variant,
            recipients=f.get("recipients", 0),
            delivered=f.get("delivered", 0),
            unique_clicks=f.get("unique_clicks", 0),
            conversions=f.get("conversions", 0),
            revenue_micros=f.get("revenue_micros", 0),
            opt_outs=f.get("opt_outs", 0),
        )
        for variant, f in figures.items()
    }


async def opt_outs_by_variant(
    session: AsyncSession, workspace_id: str, campaign_id: str
) -> dict[str | None, int]:
    """Recipients who opted out within OPT_OUT_WINDOW after their campaign message."""
    pairs = await opt_out_pairs(session, workspace_id, campaign_id)
    found: dict[str | None, set[str]] = defaultdict(set)
    for variant, message_id, _ in pairs:
        found[variant].add(message_id)
    return {variant: len(ids) for variant, ids in found.items()}


async def opt_out_pairs(
    session: AsyncSession, workspace_id: str, campaign_id: str
) -> list[tuple[str | None, str, datetime]]:
    """(variant, message id, opt-out time) of each recipient who opted out within the
    window after their message: the first such opt-out per message."""
    rows = await session.execute(
        select(Message.variant_id, Message.id, Message.sent_at, Consent.created_at)
        .join(
            Consent,
            (Consent.contact_id == Message.contact_id)
            & (Consent.workspace_id == workspace_id)
            & (Consent.action == "revoked")
            & (Consent.created_at >= Message.sent_at),
        )
        .where(*_campaign_messages(workspace_id, campaign_id), Message.sent_at.is_not(None))
        .order_by(Consent.created_at)
    )
    return _first_within(rows, OPT_OUT_WINDOW)


def _first_within(rows: Iterable[Any], window: timedelta) -> list[tuple[str | None, str, datetime]]:
    # The window's far end is checked here: date arithmetic differs between the databases.
    seen: set[str] = set()
    kept = []
    for variant, message_id, sent_at, at in rows:
        if message_id in seen or at - sent_at > window:
            continue
        seen.add(message_id)
        kept.append((variant, message_id, at))
    return kept


def _campaign_messages(workspace_id: str, campaign_id: str) -> tuple[Any, ...]:
    return (
        Message.workspace_id == workspace_id,
        Message.campaign_id == campaign_id,
        Message.direction == "outbound",
        Message.status.not_in(NOT_SENT),
    )
