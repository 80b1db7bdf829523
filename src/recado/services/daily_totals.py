"""A workspace's figures per UTC day: what the dashboard charts and GET /v1/analytics/daily
return.

A month of a busy workspace is millions of messages, so a settled day is counted once and
kept in `daily_totals`; only today and yesterday are counted on each request, over partial
indexes that hold sent, delivered and inbound messages alone. Yesterday stays live because
a delivery report carries the carrier's time, which can fall a little before midnight.
Orders, conversions and revenue are always counted live: a shop may send an order with an
earlier `occurred_at`, and contact events are few.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession

from recado.db.tables import Click, Consent, ContactEvent, DailyTotal, Message, utcnow
from recado.db.upsert import insert_for
from recado.domain.roles import Permission
from recado.errors import ValidationFailed
from recado.services.actor import Actor
from recado.services.campaign_report import money_list
from recado.services.contact_events import ORDER_PLACED

MAX_DAYS = 366
LIVE_DAYS = 2  # today and yesterday
SETTLED = ("sent", "delivered", "clicks", "replies", "opt_outs")


async def daily_totals(
    session: AsyncSession, actor: Actor, *, days: int = 30, now: datetime | None = None
) -> dict[str, Any]:
    """The workspace's figures per UTC day for the last `days` days, today included."""
    actor.require(Permission.READ)
    if not 1 <= days <= MAX_DAYS:
        raise ValidationFailed(f"days is 1 to {MAX_DAYS}.", field="days")
    ws = actor.workspace_id
    today = (now or utcnow()).astimezone(UTC).date()
    first = today - timedelta(days=days - 1)
    live_from = max(first, today - timedelta(days=LIVE_DAYS - 1))
    settled = await _settled(session, ws, first, live_from)
    live = await _count(session, ws, live_from, today + timedelta(days=1))
    events = await _orders(session, ws, first, today + timedelta(days=1))
    out = []
    totals: dict[str, int] = defaultdict(int)
    revenue_total: dict[str, int] = defaultdict(int)
    for offset in range(days):
        day = (first + timedelta(days=offset)).isoformat()
        figures = settled.get(day) or {name: live[name].get(day, 0) for name in SETTLED}
        counts = {
            **{name: int(figures.get(name, 0)) for name in SETTLED},
            "orders": events["orders"].get(day, 0),
            "conversions": events["conversions"].get(day, 0),
        }
        for name, n in counts.items():
            totals[name] += n
        revenue = events["revenue"].get(day, {})
        for currency, micros in revenue.items():
            revenue_total[currency] += micros
        out.append({"date": day, **counts, "revenue": money_list(revenue)})
    return {
        "days": days,
        "since": first.isoformat(),
        "data": out,
        "totals": {**totals, "revenue": money_list(dict(revenue_total))},
    }


async def _settled(
    session: AsyncSession, ws: str, first: date, end: date
) -> dict[str, dict[str, int]]:
    """The stored figures of the days [first, end), counting and storing the missing ones."""
    if first >= end:
        return {}
    rows = await session.execute(
        select(DailyTotal.day, DailyTotal.figures).where(
            DailyTotal.workspace_id == ws,
            DailyTotal.day >= first.isoformat(),
            DailyTotal.day < end.isoformat(),
        )
    )
    stored = {day: dict(figures) for day, figures in rows}
    wanted = [first + timedelta(days=i) for i in range((end - first).days)]
    missing = [d for d in wanted if d.isoformat() not in stored]
    if not missing:
        return stored
    counted = await _count(session, ws, missing[0], missing[-1] + timedelta(days=1))
    new_rows = []
    for day in missing:
        figures = {name: counted[name].get(day.isoformat(), 0) for name in SETTLED}
        stored[day.isoformat()] = figures
        new_rows.append({"workspace_id": ws, "day": day.isoformat(), "figures": figures})
    # Two requests may count the same day at once: the first row stays.
    await session.execute(insert_for(session, DailyTotal).values(new_rows).on_conflict_do_nothing())
    await session.commit()
    return stored


def _midnight(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=UTC)


def _day(session: AsyncSession, column: Any) -> Any:
    """The UTC day ('YYYY-MM-DD') of a timestamp, as text."""
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")
    return func.strftime("%Y-%m-%d", column)


async def _grouped(session: AsyncSession, column: Any, *where: Any) -> dict[str, int]:
    day = _day(session, column)
    rows = await session.execute(select(day, func.count()).where(*where).group_by(day))
    return {key: int(n) for key, n in rows if key is not None}


async def _count(
    session: AsyncSession, ws: str, first: date, end: date
) -> dict[str, dict[str, int]]:
    """Sent, delivered, clicks, replies and opt-outs per day of [first, end). A few days
    (the live ones) are counted a day at a time, each a plain count of an index range,
    which costs less than computing every row's day to group them."""
    days = (end - first).days
    if days > LIVE_DAYS:
        return await _count_range(session, ws, first, end, grouped=True)
    counted: dict[str, dict[str, int]] = {name: {} for name in SETTLED}
    for offset in range(days):
        day = first + timedelta(days=offset)
        one = await _count_range(session, ws, day, day + timedelta(days=1), grouped=False)
        for name in SETTLED:
            counted[name][day.isoformat()] = one[name].get("", 0)
    return counted


async def _count_range(
    session: AsyncSession, ws: str, first: date, end: date, *, grouped: bool
) -> dict[str, dict[str, int]]:
    """Each measure over [first, end): by day, or (not `grouped`) one total under "". Each
    query is a range of one index; the literals (not bound values) let the planners pick
    the partial ones."""
    since = _midnight(first)
    until = _midnight(end)

    async def _by_day(session: AsyncSession, column: Any, *where: Any) -> dict[str, int]:
        if grouped:
            return await _grouped(session, column, *where)
        return {"": int(await session.scalar(select(func.count()).where(*where)) or 0)}

    return {
        # Only outbound messages are ever sent or delivered.
        "sent": await _by_day(
            session,
            Message.sent_at,
            Message.workspace_id == ws,
            Message.sent_at >= since,
            Message.sent_at < until,
        ),
        "delivered": await _by_day(
            session,
            Message.delivered_at,
            Message.workspace_id == ws,
            Message.delivered_at >= since,
            Message.delivered_at < until,
        ),
        "clicks": await _by_day(
            session, Click.at, Click.workspace_id == ws, Click.at >= since, Click.at < until
        ),
        "replies": await _by_day(
            session,
            Message.created_at,
            Message.workspace_id == ws,
            Message.direction == literal_column("'inbound'"),
            Message.created_at >= since,
            Message.created_at < until,
        ),
        "opt_outs": await _by_day(
            session,
            Consent.created_at,
            Consent.workspace_id == ws,
            Consent.action == "revoked",
            Consent.list_id.is_(None),
            Consent.created_at >= since,
            Consent.created_at < until,
        ),
    }


async def _orders(session: AsyncSession, ws: str, first: date, end: date) -> dict[str, Any]:
    since = _midnight(first)
    until = _midnight(end)
    in_period = (
        ContactEvent.workspace_id == ws,
        ContactEvent.occurred_at >= since,
        ContactEvent.occurred_at < until,
    )
    day = _day(session, ContactEvent.occurred_at)
    revenue: dict[str, dict[str, int]] = defaultdict(dict)
    rows = await session.execute(
        select(day, ContactEvent.currency, func.sum(ContactEvent.value_micros))
        .where(
            *in_period, ContactEvent.attribution.is_not(None), ContactEvent.currency.is_not(None)
        )
        .group_by(day, ContactEvent.currency)
    )
    for key, currency, micros in rows:
        if micros:
            revenue[key][currency] = int(micros)
    return {
        "orders": await _grouped(
            session, ContactEvent.occurred_at, *in_period, ContactEvent.name == ORDER_PLACED
        ),
        "conversions": await _grouped(
            session, ContactEvent.occurred_at, *in_period, ContactEvent.attribution.is_not(None)
        ),
        "revenue": revenue,
    }
