"""The dashboard: the last 30 days of sending, as charts, and the carriers' connection state.

The daily counts come from the same aggregate queries as GET /v1/analytics/daily
(services.daily_totals), so the dashboard and the API always agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from recado.api.deps import get_platform
from recado.db.tables import Contact
from recado.services import carrier_setup, daily_totals
from recado.services.actor import Actor
from recado.web.rendering import PREFIX, WebRoute, render
from recado.web.session import CurrentUser, DbSession

router = APIRouter(prefix=PREFIX, route_class=WebRoute)

DAYS = 30
# The dashboard's measures and their names in the daily analytics.
MEASURES = {
    "sent": "sent",
    "delivered": "delivered",
    "clicked": "clicks",
    "replies": "replies",
    "opt_outs": "opt_outs",
}


@dataclass(frozen=True)
class DailyActivity:
    days: list[date]
    series: dict[str, list[int]]  # measure -> one count per day, in `days` order

    @property
    def totals(self) -> dict[str, int]:
        return {name: sum(counts) for name, counts in self.series.items()}

    def to_json(self) -> dict[str, Any]:
        return {
            "days": [d.isoformat() for d in self.days],
            "series": self.series,
            "totals": self.totals,
        }


async def daily_activity(session: AsyncSession, actor: Actor, *, days: int = DAYS) -> DailyActivity:
    """Messages sent, delivered, clicked, replies and opt-outs per UTC day, the last `days`
    (today included), from the workspace's daily analytics (GET /v1/analytics/daily)."""
    report = await daily_totals.daily_totals(session, actor, days=days)
    rows = report["data"]
    return DailyActivity(
        days=[date.fromisoformat(row["date"]) for row in rows],
        series={name: [int(row[key]) for row in rows] for name, key in MEASURES.items()},
    )


@dataclass(frozen=True)
class CarrierState:
    name: str
    kind: str
    enabled: bool
    connected: bool


async def carrier_states(
    request: Request, session: AsyncSession, actor: Actor
) -> list[CarrierState]:
    """The built-in simulator and each carrier connection, with whether it is up right now."""
    platform = get_platform(request)
    simulator = platform.connector
    states = [CarrierState("Built-in simulator", "simulator", True, simulator.connected)]
    connections, _ = await carrier_setup.list_connections(session, actor, limit=100)
    for connection in connections:
        running = platform.connectors.get(connection.id)
        states.append(
            CarrierState(
                connection.name,
                connection.kind,
                connection.enabled,
                bool(running is not None and running.connected),
            )
        )
    return states


@router.get("/dashboard")
async def dashboard(request: Request, session: DbSession, me: CurrentUser) -> Response:
    activity = await daily_activity(session, me.actor)
    contacts = await session.scalar(
        select(func.count())
        .select_from(Contact)
        .where(Contact.workspace_id == me.actor.workspace_id)
    )
    return render(
        request,
        "dashboard.html",
        activity=activity,
        totals=activity.totals,
        contacts=contacts or 0,
        carriers=await carrier_states(request, session, me.actor),
        days=DAYS,
        measures=MEASURES,
    )


@router.get("/dashboard/activity.json")
async def activity_json(session: DbSession, me: CurrentUser) -> Response:
    """The chart data: one count per day for each measure."""
    activity = await daily_activity(session, me.actor)
    return JSONResponse(activity.to_json())


@router.get("/dashboard/carriers")
async def carriers_fragment(request: Request, session: DbSession, me: CurrentUser) -> Response:
    """The carrier state table alone, refreshed by htmx."""
    return render(
        request, "_carriers.html", carriers=await carrier_states(request, session, me.actor)
    )
