"""A campaign's report: who it reached, what they did, what it cost and earned, per variant
and by hour; the recipients' outcomes as a streamed CSV (workspace totals by day:
services/daily_totals.py).

Definitions (docs/analytics.md has them for users):
- audience = messaged + skipped; sent = messages the carrier accepted (sent_at set);
- delivery rate = delivered / sent; click, reply, opt-out and conversion rates are per
  delivered message;
- replies: recipients who texted back within REPLY_WINDOW after their message; opt-outs:
  recipients whose consent was revoked within OPT_OUT_WINDOW after it;
- conversions and revenue: orders credited to the campaign (services/contact_events.py);
- cost: the price of the messages sent. Amounts are exact (summed in micros), per currency.
All figures are read with a few GROUP BY queries; nothing loads the messages one by one.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from recado.db.tables import (
    Campaign,
    CampaignSkip,
    CampaignVariant,
    Click,
    Contact,
    ContactEvent,
    Message,
    utcnow,
)
from recado.domain.roles import Permission
from recado.errors import NotFound
from recado.services.actor import Actor
from recado.services.campaign_metrics import OPT_OUT_WINDOW, REPLY_WINDOW, opt_out_pairs
from recado.services.contact_events import amount_text
from recado.services.contacts import looks_like_id

try:  # the campaigns colleague's statistics; the report works without them
    from recado.domain import abtest
except ImportError:  # pragma: no cover
    abtest = None  # type: ignore[assignment]

CHUNK_ROWS = 2000
MAX_HOURS_FILLED = 24 * 31
PENDING = ("accepted", "scheduled", "queued", "sending", "paused", "unknown")


# --- figures -------------------------------------------------------------------------------


@dataclass
class Figures:
    """Counts of one scope: the whole campaign or one variant. Amounts: {currency: micros}."""

    audience: int = 0
    messaged: int = 0
    skipped: int = 0
    skipped_by_reason: dict[str, int] = field(default_factory=dict)
    sent: int = 0
    pending: int = 0
    delivered: int = 0
    undelivered: int = 0
    failed: int = 0
    canceled: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    unique_clicks: int = 0
    total_clicks: int = 0
    replies: int = 0
    opt_outs: int = 0
    conversions: int = 0
    revenue: dict[str, int] = field(default_factory=dict)
    cost: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "audience": self.audience,
            "messaged": self.messaged,
            "skipped": self.skipped,
            "skipped_by_reason": dict(sorted(self.skipped_by_reason.items())),
            "sent": self.sent,
            "pending": self.pending,
            "delivered": self.delivered,
            "undelivered": self.undelivered,
            "failed": self.failed,
            "canceled": self.canceled,
            "errors": self.errors,
            "delivery_rate": _rate(self.delivered, self.sent),
            "unique_clicks": self.unique_clicks,
            "total_clicks": self.total_clicks,
            "click_rate": _rate(self.unique_clicks, self.delivered),
            "replies": self.replies,
            "reply_rate": _rate(self.replies, self.delivered),
            "opt_outs": self.opt_outs,
            "opt_out_rate": _rate(self.opt_outs, self.delivered),
            "conversions": self.conversions,
            "conversion_rate": _rate(self.conversions, self.delivered),
            "revenue": money_list(self.revenue),
            "cost": money_list(self.cost),
            "revenue_per_message": [
                money(currency, _divide(micros, self.sent))
                for currency, micros in sorted(self.revenue.items())
                if self.sent
            ],
            "return_on_spend": _return_on_spend(self.revenue, self.cost),
        }


def money(currency: str, micros: int) -> dict[str, Any]:
    """An amount as exact decimal text in the currency unit, with its micros."""
    return {"currency": currency, "amount": amount_text(micros), "micros": micros}


def money_list(amounts: dict[str, int]) -> list[dict[str, Any]]:
    return [money(currency, micros) for currency, micros in sorted(amounts.items())]


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _divide(micros: int, count: int) -> int:
    return int((Decimal(micros) / count).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def _return_on_spend(revenue: dict[str, int], cost: dict[str, int]) -> float | None:
    """Revenue / cost, when both are in one and the same currency (no exchange rates here)."""
    currencies = set(revenue) | set(cost)
    if len(currencies) != 1:
        return None
    currency = currencies.pop()
    spent = cost.get(currency, 0)
    return round(revenue.get(currency, 0) / spent, 4) if spent else None


# --- the report ----------------------------------------------------------------------------


async def campaign_report(
    session: AsyncSession, actor: Actor, campaign_id: str, *, now: datetime | None = None
) -> dict[str, Any]:
    """The report of one campaign of the actor's workspace, as JSON-ready data."""
    actor.require(Permission.READ)
    campaign = await get_campaign(session, actor.workspace_id, campaign_id)
    variants = list(
        await session.scalars(
            select(CampaignVariant)
            .where(
                CampaignVariant.workspace_id == campaign.workspace_id,
                CampaignVariant.campaign_id == campaign.id,
            )
            .order_by(CampaignVariant.position, CampaignVariant.label)
        )
    )
    scopes = await _figures(session, campaign)
    total = Figures()
    for figures in scopes.values():
        _add(total, figures)
    await _skips(session, campaign, total)
    total.audience = total.messaged + total.skipped
    labels = {v.id: v.label for v in variants}
    variant_rows = []
    for variant in variants:
        figures = scopes.get(variant.id, Figures())
        figures.audience = figures.messaged
        variant_rows.append({"variant_id": variant.id, "label": variant.label, **figures.to_dict()})
    if None in scopes and variants:  # messages without a variant in an A/B campaign
        figures = scopes[None]
        figures.audience = figures.messaged
        variant_rows.append({"variant_id": None, "label": None, **figures.to_dict()})
    return {
        "campaign": {
            "id": campaign.id,
            "name": campaign.name,
            "status": campaign.status,
            "launched_at": _iso(campaign.launched_at),
            "completed_at": _iso(campaign.completed_at),
            "discount_mode": campaign.discount_mode,
        },
        "windows": {
            "reply_hours": REPLY_WINDOW.total_seconds() / 3600,
            "opt_out_hours": OPT_OUT_WINDOW.total_seconds() / 3600,
        },
        "totals": total.to_dict(),
        "variants": variant_rows,
        "ab_test": _ab_test(campaign, variants, scopes, labels),
        "hourly": await _hourly(session, campaign),
        "generated_at": (now or utcnow()).isoformat(),
    }


async def get_campaign(session: AsyncSession, workspace_id: str, campaign_id: str) -> Campaign:
    campaign = None
    if looks_like_id(campaign_id):
        campaign = await session.scalar(
            select(Campaign).where(
                Campaign.workspace_id == workspace_id, Campaign.id == campaign_id
            )
        )
    if campaign is None:
        raise NotFound(f"No campaign with id {campaign_id[:40]} in this workspace.")
    return campaign


def _add(total: Figures, part: Figures) -> None:
    for name in (
        "messaged",
        "sent",
        "pending",
        "delivered",
        "undelivered",
        "failed",
        "canceled",
        "unique_clicks",
        "total_clicks",
        "replies",
        "opt_outs",
        "conversions",
    ):
        setattr(total, name, getattr(total, name) + getattr(part, name))
    for mine, theirs in ((total.revenue, part.revenue), (total.cost, part.cost)):
        for currency, micros in theirs.items():
            mine[currency] = mine.get(currency, 0) + micros
    merged: dict[tuple[str, str | None], dict[str, Any]] = {
        (e["status"], e["error_code"]): dict(e) for e in total.errors
    }
    for error in part.errors:
        key = (error["status"], error["error_code"])
        if key in merged:
            merged[key]["count"] += error["count"]
        else:
            merged[key] = dict(error)
    total.errors = sorted(merged.values(), key=lambda e: (-e["count"], e["status"]))


def _of(campaign: Campaign) -> tuple[ColumnElement[bool], ...]:
    return (
        Message.workspace_id == campaign.workspace_id,
        Message.campaign_id == campaign.id,
        Message.direction == "outbound",
    )


async def _figures(session: AsyncSession, campaign: Campaign) -> dict[str | None, Figures]:
    scopes: dict[str | None, Figures] = defaultdict(Figures)
    sent = Message.sent_at.is_not(None)
    rows = await session.execute(
        select(
            Message.variant_id,
            Message.status,
            Message.currency,
            func.count(),
            func.coalesce(func.sum(case((sent, 1), else_=0)), 0),
            func.coalesce(func.sum(case((sent, Message.price_micros), else_=0)), 0),
        )
        .where(*_of(campaign))
        .group_by(Message.variant_id, Message.status, Message.currency)
    )
    for variant, status, currency, n, n_sent, price in rows:
        figures = scopes[variant]
        figures.messaged += n
        figures.sent += int(n_sent)
        if status in ("delivered", "undelivered", "failed", "canceled"):
            setattr(figures, status, getattr(figures, status) + n)
        elif status in PENDING:
            figures.pending += n
        if currency and price:
            figures.cost[currency] = figures.cost.get(currency, 0) + int(price)
    errors = await session.execute(
        select(
            Message.variant_id,
            Message.status,
            Message.error_code,
            func.count(),
            func.min(Message.error_message),
        )
        .where(*_of(campaign), Message.status.in_(("undelivered", "failed")))
        .group_by(Message.variant_id, Message.status, Message.error_code)
    )
    for variant, status, code, n, text in errors:
        scopes[variant].errors.append(
            {"status": status, "error_code": code, "error_message": text, "count": n}
        )
    for figures in scopes.values():
        figures.errors.sort(key=lambda e: (-e["count"], e["status"], e["error_code"] or ""))
    clicks = await session.execute(
        select(Message.variant_id, func.count(), func.count(func.distinct(Click.message_id)))
        .join(Message, Message.id == Click.message_id)
        .where(Click.workspace_id == campaign.workspace_id, Click.campaign_id == campaign.id)
        .where(*_of(campaign))
        .group_by(Message.variant_id)
    )
    for variant, total, unique in clicks:
        scopes[variant].total_clicks = int(total)
        scopes[variant].unique_clicks = int(unique)
    for variant, message_ids in (await _replies(session, campaign)).items():
        scopes[variant].replies = len(message_ids)
    opted: dict[str | None, set[str]] = defaultdict(set)
    for variant, message_id, _ in await opt_out_pairs(session, campaign.workspace_id, campaign.id):
        opted[variant].add(message_id)
    for variant, message_ids in opted.items():
        scopes[variant].opt_outs = len(message_ids)
    orders = await session.execute(
        select(
            ContactEvent.variant_id,
            ContactEvent.currency,
            func.count(),
            func.coalesce(func.sum(ContactEvent.value_micros), 0),
        )
        .where(
            ContactEvent.workspace_id == campaign.workspace_id,
            ContactEvent.campaign_id == campaign.id,
            ContactEvent.attribution.is_not(None),
        )
        .group_by(ContactEvent.variant_id, ContactEvent.currency)
    )
    for variant, currency, n, value in orders:
        figures = scopes[variant]
        figures.conversions += int(n)
        if currency and value:
            figures.revenue[currency] = figures.revenue.get(currency, 0) + int(value)
    return dict(scopes)


async def _replies(session: AsyncSession, campaign: Campaign) -> dict[str | None, set[str]]:
    """Recipients' messages answered by an inbound text within REPLY_WINDOW."""
    inbound = Message.__table__.alias("inbound")
    rows = await session.execute(
        select(Message.variant_id, Message.id, Message.sent_at, inbound.c.created_at)
        .join(
            inbound,
            (inbound.c.contact_id == Message.contact_id)
            & (inbound.c.workspace_id == campaign.workspace_id)
            & (inbound.c.direction == "inbound")
            & (inbound.c.created_at >= Message.sent_at),
        )
        .where(*_of(campaign), Message.sent_at.is_not(None))
    )
    found: dict[str | None, set[str]] = defaultdict(set)
    for variant, message_id, sent_at, at in rows:
        # The window's far end is checked here: date arithmetic differs between databases.
        if _aware(at) - _aware(sent_at) <= REPLY_WINDOW:
            found[variant].add(message_id)
    return found


async def _skips(session: AsyncSession, campaign: Campaign, total: Figures) -> None:
    rows = await session.execute(
        select(CampaignSkip.reason, func.count())
        .where(
            CampaignSkip.workspace_id == campaign.workspace_id,
            CampaignSkip.campaign_id == campaign.id,
        )
        .group_by(CampaignSkip.reason)
    )
    total.skipped_by_reason = {reason: int(n) for reason, n in rows}
    total.skipped = sum(total.skipped_by_reason.values())


def _ab_test(
    campaign: Campaign,
    variants: list[CampaignVariant],
    scopes: dict[str | None, Figures],
    labels: dict[str, str],
) -> dict[str, Any] | None:
    if not campaign.ab_test or len(variants) < 2:
        return None
    config = campaign.ab_test
    metric = str(config.get("metric", "click_rate"))
    confidence = float(config.get("confidence", 0.95))
    stored = config.get("decision")
    result: dict[str, Any] = {
        "metric": metric,
        "confidence": confidence,
        "decided": stored is not None,
        "decision": stored,  # what the campaign decided, and when, as it stored it
        "current": None,
    }
    if abtest is None:  # pragma: no cover  (domain/abtest.py not installed)
        return result
    successes = {
        "click_rate": "unique_clicks",
        "conversion_rate": "conversions",
        "opt_out_rate": "opt_outs",
        "revenue_per_recipient": "conversions",
    }.get(metric, "unique_clicks")
    arms = []
    for variant in variants:
        figures = scopes.get(variant.id, Figures())
        recipients = figures.messaged - figures.canceled
        revenue = sum(figures.revenue.values()) if len(figures.revenue) <= 1 else 0
        arms.append(
            abtest.Arm(variant.label, recipients, getattr(figures, successes), int(revenue))
        )
    decision = abtest.decide(metric, arms, confidence)
    result["current"] = {
        "leader": decision.winner,
        "leader_variant_id": next(
            (vid for vid, label in labels.items() if label == decision.winner), None
        ),
        "significant": decision.significant,
        "p_value": decision.p_value,
        "values": decision.values,
        "probability_best": decision.probability_best,
        "explanation": decision.explanation,
    }
    return result


# --- over time -----------------------------------------------------------------------------


def _bucket(session: AsyncSession, column: Any, unit: str) -> Any:
    """The hour ('YYYY-MM-DD HH') or day ('YYYY-MM-DD') of a UTC timestamp, as text."""
    if session.get_bind().dialect.name == "postgresql":
        pattern = "YYYY-MM-DD HH24" if unit == "hour" else "YYYY-MM-DD"
        return func.to_char(func.timezone("UTC", column), pattern)
    return func.strftime("%Y-%m-%d %H" if unit == "hour" else "%Y-%m-%d", column)


async def _count_by(
    session: AsyncSession, column: Any, unit: str, *where: Any, join: Any = None
) -> dict[str, int]:
    bucket = _bucket(session, column, unit)
    query = select(bucket, func.count())
    if join is not None:
        query = query.select_from(join)
    rows = await session.execute(query.where(column.is_not(None), *where).group_by(bucket))
    return {key: int(n) for key, n in rows if key is not None}


async def _hourly(session: AsyncSession, campaign: Campaign) -> list[dict[str, Any]]:
    series = {
        "sent": await _count_by(session, Message.sent_at, "hour", *_of(campaign)),
        "delivered": await _count_by(
            session, Message.delivered_at, "hour", *_of(campaign), Message.status == "delivered"
        ),
        "clicks": await _count_by(
            session,
            Click.at,
            "hour",
            Click.workspace_id == campaign.workspace_id,
            Click.campaign_id == campaign.id,
        ),
        "conversions": await _count_by(
            session,
            ContactEvent.occurred_at,
            "hour",
            ContactEvent.workspace_id == campaign.workspace_id,
            ContactEvent.campaign_id == campaign.id,
            ContactEvent.attribution.is_not(None),
        ),
    }
    keys = sorted({key for counts in series.values() for key in counts})
    if not keys:
        return []
    hours = [datetime.strptime(key, "%Y-%m-%d %H").replace(tzinfo=UTC) for key in keys]
    span = int((hours[-1] - hours[0]).total_seconds() // 3600) + 1
    if span <= MAX_HOURS_FILLED:  # contiguous hours draw an honest chart
        hours = [hours[0] + timedelta(hours=i) for i in range(span)]
    return [
        {
            "hour": hour.isoformat(),
            **{
                name: counts.get(hour.strftime("%Y-%m-%d %H"), 0) for name, counts in series.items()
            },
        }
        for hour in hours
    ]


# --- CSV -----------------------------------------------------------------------------------

REPORT_COLUMNS = (
    "scope",
    "variant",
    "audience",
    "skipped",
    "sent",
    "delivered",
    "undelivered",
    "failed",
    "delivery_rate",
    "unique_clicks",
    "total_clicks",
    "click_rate",
    "replies",
    "opt_outs",
    "opt_out_rate",
    "conversions",
    "conversion_rate",
    "revenue",
    "cost",
    "return_on_spend",
)


def report_csv(report: dict[str, Any]) -> str:
    """The report's totals and variants as CSV rows (one per scope)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(REPORT_COLUMNS)
    scopes = [("campaign", "", report["totals"])]
    scopes += [("variant", v["label"] or "", v) for v in report["variants"]]
    for scope, label, figures in scopes:
        writer.writerow(
            [
                scope,
                label,
                *(
                    _cell(figures[name])
                    for name in REPORT_COLUMNS[2:]
                    if name not in ("revenue", "cost", "return_on_spend")
                ),
                _money_cell(figures["revenue"]),
                _money_cell(figures["cost"]),
                _cell(figures["return_on_spend"]),
            ]
        )
    return buffer.getvalue()


RECIPIENT_COLUMNS = (
    "phone",
    "variant",
    "status",
    "error_code",
    "error_message",
    "sent_at",
    "delivered_at",
    "clicked",
    "clicks",
    "converted",
    "orders",
    "revenue",
    "currency",
)


async def recipients_csv(
    session: AsyncSession, actor: Actor, campaign_id: str
) -> AsyncIterator[str]:
    """Each recipient's outcome as CSV text in parts, for a streamed response; audience
    members the campaign skipped follow, with status `skipped` and the reason as error.
    Checks before returning, so a 404 comes before the first byte."""
    actor.require(Permission.READ)
    campaign = await get_campaign(session, actor.workspace_id, campaign_id)

    async def parts() -> AsyncIterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(RECIPIENT_COLUMNS)
        yield _drain(buffer)
        labels = dict(
            (
                await session.execute(
                    select(CampaignVariant.id, CampaignVariant.label).where(
                        CampaignVariant.workspace_id == campaign.workspace_id,
                        CampaignVariant.campaign_id == campaign.id,
                    )
                )
            ).all()
        )
        async for chunk in _message_chunks(session, campaign):
            ids = [row[0] for row in chunk]
            clicks = dict(
                (
                    await session.execute(
                        select(Click.message_id, func.count())
                        .where(Click.workspace_id == campaign.workspace_id)
                        .where(Click.message_id.in_(ids))
                        .group_by(Click.message_id)
                    )
                ).all()
            )
            orders: dict[str, tuple[int, int, str | None]] = {}
            for message_id, n, value, currency in await session.execute(
                select(
                    ContactEvent.message_id,
                    func.count(),
                    func.coalesce(func.sum(ContactEvent.value_micros), 0),
                    func.min(ContactEvent.currency),
                )
                .where(
                    ContactEvent.workspace_id == campaign.workspace_id,
                    ContactEvent.campaign_id == campaign.id,
                    ContactEvent.attribution.is_not(None),
                    ContactEvent.message_id.in_(ids),
                )
                .group_by(ContactEvent.message_id)
            ):
                if message_id is not None:
                    orders[message_id] = (int(n), int(value or 0), currency)
            for message_id, phone, variant, status, code, text, sent_at, delivered_at in chunk:
                n_clicks = int(clicks.get(message_id, 0))
                n_orders, value, currency = orders.get(message_id, (0, 0, None))
                writer.writerow(
                    [
                        phone,
                        labels.get(variant, ""),
                        status,
                        code or "",
                        text or "",
                        _iso(sent_at) or "",
                        _iso(delivered_at) or "",
                        "yes" if n_clicks else "no",
                        n_clicks,
                        "yes" if n_orders else "no",
                        n_orders,
                        amount_text(value) if n_orders else "",
                        currency or "",
                    ]
                )
            yield _drain(buffer)
        async for skipped in _skip_chunks(session, campaign):
            for phone, reason in skipped:
                writer.writerow(
                    [phone, "", "skipped", reason, "", "", "", "no", 0, "no", 0, "", ""]
                )
            yield _drain(buffer)

    return parts()


async def _message_chunks(session: AsyncSession, campaign: Campaign) -> AsyncIterator[list[Any]]:
    after = ""
    while True:
        rows = list(
            await session.execute(
                select(
                    Message.id,
                    Message.recipient,
                    Message.variant_id,
                    Message.status,
                    Message.error_code,
                    Message.error_message,
                    Message.sent_at,
                    Message.delivered_at,
                )
                .where(*_of(campaign), Message.id > after)
                .order_by(Message.id)
                .limit(CHUNK_ROWS)
            )
        )
        if not rows:
            return
        yield rows
        after = rows[-1][0]


async def _skip_chunks(
    session: AsyncSession, campaign: Campaign
) -> AsyncIterator[list[tuple[str, str]]]:
    after = ""
    while True:
        rows = list(
            await session.execute(
                select(CampaignSkip.contact_id, Contact.phone, CampaignSkip.reason)
                .join(Contact, Contact.id == CampaignSkip.contact_id)
                .where(
                    CampaignSkip.workspace_id == campaign.workspace_id,
                    CampaignSkip.campaign_id == campaign.id,
                    CampaignSkip.contact_id > after,
                )
                .order_by(CampaignSkip.contact_id)
                .limit(CHUNK_ROWS)
            )
        )
        if not rows:
            return
        yield [(phone, reason) for _, phone, reason in rows]
        after = rows[-1][0]


# --- helpers -------------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def _money_cell(amounts: Iterable[dict[str, Any]]) -> str:
    return "; ".join(f"{m['currency']} {m['amount']}" for m in amounts)


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text
