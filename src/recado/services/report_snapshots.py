"""Campaign report snapshots: the figures the web pages show, counted in the background.

A campaign of a million recipients takes seconds to count (services/campaign_report.py),
which no page should make a marketer wait for on every view. So the report is kept in
`campaign_report_snapshots`:
- while a campaign's figures still move, the refresher task counts it again: every
  `RUNNING_REFRESH_SECONDS` while it sends and for `JUST_COMPLETED` after (the last
  delivery reports and the first clicks), every `REFRESH_SECONDS` while it is scheduled,
  paused, or completed less than `LIVE_FOR` ago (late clicks and orders); spaced further
  for a campaign whose count takes long;
- an older campaign's snapshot is counted again when someone opens it and it is older
  than `OLD_REFRESH`;
- a campaign without a snapshot, or whose last count took under `LIVE_COUNT_MS`, is
  counted on the spot: a small campaign's page shows live figures, as cheap as a read.
Pages say when their figures were counted. GET /v1/campaigns/{id}/report counts live.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from recado.db.tables import Campaign, CampaignReportSnapshot, utcnow
from recado.domain.roles import Permission
from recado.services import campaign_report
from recado.services.actor import Actor, system_actor

RUNNING_REFRESH_SECONDS = 3.0
REFRESH_SECONDS = 60.0
RUNNING = ("sending", "testing")
# A snapshot that took t seconds to count is not counted again before SPACING * t seconds:
# the refresher never spends more than a tenth of its time on one big campaign.
SPACING = 10
LIVE_FOR = timedelta(days=7)
JUST_COMPLETED = timedelta(hours=1)
OLD_REFRESH = timedelta(hours=6)
LIVE_COUNT_MS = 100  # within a page's 200 ms budget
MOVING = ("scheduled", "sending", "testing", "paused")  # draft and canceled have no figures


@dataclass(frozen=True)
class Snapshot:
    report: dict[str, Any]
    computed_at: datetime


async def report(session: AsyncSession, actor: Actor, campaign_id: str) -> Snapshot:
    """The campaign's report as last counted (counted now if it has none, or if it is an
    old campaign's and older than OLD_REFRESH)."""
    actor.require(Permission.READ)
    campaign = await campaign_report.get_campaign(session, actor.workspace_id, campaign_id)
    stored = await session.scalar(
        select(CampaignReportSnapshot).where(
            CampaignReportSnapshot.workspace_id == actor.workspace_id,
            CampaignReportSnapshot.campaign_id == campaign.id,
        )
    )
    now = utcnow()
    worth_keeping = stored is not None and stored.took_ms >= LIVE_COUNT_MS
    if worth_keeping and (_moving(campaign, now) or now - stored.computed_at < OLD_REFRESH):
        return Snapshot(stored.report, stored.computed_at)
    return await count(session, campaign.workspace_id, campaign.id)


async def totals(
    session: AsyncSession, actor: Actor, campaign_ids: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """The report totals of each of these campaigns that has a snapshot (a campaign list)."""
    actor.require(Permission.READ)
    if not campaign_ids:
        return {}
    rows = await session.execute(
        select(CampaignReportSnapshot.campaign_id, CampaignReportSnapshot.report).where(
            CampaignReportSnapshot.workspace_id == actor.workspace_id,
            CampaignReportSnapshot.campaign_id.in_(list(campaign_ids)),
        )
    )
    return {campaign_id: stored["totals"] for campaign_id, stored in rows}


async def count(session: AsyncSession, workspace_id: str, campaign_id: str) -> Snapshot:
    """Count the campaign's report now and keep it."""
    started = time.perf_counter()
    fresh = await campaign_report.campaign_report(session, system_actor(workspace_id), campaign_id)
    took_ms = round((time.perf_counter() - started) * 1000)
    now = utcnow()
    values = {
        "campaign_id": campaign_id,
        "workspace_id": workspace_id,
        "report": fresh,
        "computed_at": now,
        "took_ms": took_ms,
    }
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = insert(CampaignReportSnapshot).values(values)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["campaign_id"],
            set_={k: statement.excluded[k] for k in ("report", "computed_at", "took_ms")},
        )
    )
    await session.commit()
    return Snapshot(fresh, now)


async def refresh_due(
    session: AsyncSession, *, now: datetime | None = None, limit: int = 10
) -> int:
    """Count again the snapshots of moving campaigns that are due, oldest first; how many."""
    now = now or utcnow()
    rows = await session.execute(
        select(
            Campaign.id,
            Campaign.workspace_id,
            Campaign.status,
            Campaign.completed_at,
            CampaignReportSnapshot.computed_at,
            CampaignReportSnapshot.took_ms,
        )
        .outerjoin(CampaignReportSnapshot, CampaignReportSnapshot.campaign_id == Campaign.id)
        .where(
            or_(
                Campaign.status.in_(MOVING),
                (Campaign.status == "completed") & (Campaign.completed_at >= now - LIVE_FOR),
            ),
            Campaign.launched_at.is_not(None),
        )
    )
    due = []
    for campaign_id, workspace_id, status, completed_at, computed_at, took_ms in rows:
        every = RUNNING_REFRESH_SECONDS if _busy(status, completed_at, now) else REFRESH_SECONDS
        wait = max(every, SPACING * (took_ms or 0) / 1000)
        if computed_at is None or (now - computed_at).total_seconds() >= wait:
            due.append((computed_at is not None, computed_at or now, campaign_id, workspace_id))
    due.sort()  # never counted first, then the oldest
    for _, _, campaign_id, workspace_id in due[:limit]:
        await count(session, workspace_id, campaign_id)
    return min(len(due), limit)


def refreshed_often(campaign: Campaign, now: datetime | None = None) -> bool:
    """Whether the campaign's snapshot is counted again every few seconds now: a page
    showing it may as well ask for it that often."""
    return _busy(campaign.status, campaign.completed_at, now or utcnow())


def _busy(status: str, completed_at: datetime | None, now: datetime) -> bool:
    return status in RUNNING or (completed_at is not None and now - completed_at < JUST_COMPLETED)


def _moving(campaign: Campaign, now: datetime) -> bool:
    if campaign.status in MOVING:
        return True
    completed = campaign.completed_at
    return campaign.status == "completed" and completed is not None and now - completed < LIVE_FOR
