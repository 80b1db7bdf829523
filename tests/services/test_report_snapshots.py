"""Report snapshots: pages read a campaign's figures as last counted; moving campaigns are
counted again in the background, old ones when someone looks."""

from __future__ import annotations

from datetime import timedelta

import pytest
from campaign_rows import Rows
from sqlalchemy import select, update

from recado.db.tables import Campaign, CampaignReportSnapshot, utcnow
from recado.errors import NotFound
from recado.services import report_snapshots
from recado.services.actor import system_actor


async def a_sent_campaign(platform, workspace, *, status="sending", completed_ago=None):
    async with platform.sessions() as session:
        rows = Rows(session, workspace.workspace.id)
        campaign = await rows.campaign()
        campaign.status = status
        campaign.launched_at = utcnow() - timedelta(hours=1)
        if completed_ago is not None:
            campaign.completed_at = utcnow() - completed_ago
        for _ in range(3):
            await rows.message(campaign, await rows.contact())
        await session.commit()
        return campaign.id, rows


async def _as_if_big(session) -> None:
    """Make the stored counts look like a big campaign's (a count that took 2 s): pages
    then read the snapshot instead of counting again."""
    await session.execute(update(CampaignReportSnapshot).values(took_ms=2000))
    await session.commit()


async def test_a_small_campaign_is_counted_live_on_each_view(platform, workspace, monkeypatch):
    # "Small" is a count faster than LIVE_COUNT_MS; a loaded machine must not make it large.
    monkeypatch.setattr(report_snapshots, "LIVE_COUNT_MS", 60_000)
    campaign_id, rows = await a_sent_campaign(platform, workspace)
    actor = system_actor(workspace.workspace.id)
    async with platform.sessions() as session:
        first = await report_snapshots.report(session, actor, campaign_id)
        rows.session = session
        campaign = await session.get(Campaign, campaign_id)
        await rows.message(campaign, await rows.contact())
        await session.commit()
        second = await report_snapshots.report(session, actor, campaign_id)
        stored = await session.get(CampaignReportSnapshot, campaign_id)
    assert first.report["totals"]["delivered"] == 3
    assert stored is not None and stored.took_ms < report_snapshots.LIVE_COUNT_MS
    assert second.report["totals"]["delivered"] == 4


async def test_a_campaign_without_a_snapshot_is_counted_on_the_spot_and_kept(platform, workspace):
    campaign_id, _ = await a_sent_campaign(platform, workspace)
    actor = system_actor(workspace.workspace.id)
    async with platform.sessions() as session:
        snapshot = await report_snapshots.report(session, actor, campaign_id)
        stored = await session.get(CampaignReportSnapshot, campaign_id)
    assert snapshot.report["totals"]["delivered"] == 3
    assert stored is not None and stored.report["totals"]["delivered"] == 3
    assert stored.workspace_id == workspace.workspace.id


async def test_the_refresher_counts_a_moving_campaign_again_once_it_is_due(platform, workspace):
    campaign_id, rows = await a_sent_campaign(platform, workspace)
    actor = system_actor(workspace.workspace.id)
    async with platform.sessions() as session:
        assert await report_snapshots.refresh_due(session) == 1  # never counted: counted now
        assert await report_snapshots.refresh_due(session) == 0  # fresh: left alone
        await _as_if_big(session)
    async with platform.sessions() as session:
        rows.session = session
        campaign = await session.get(Campaign, campaign_id)
        await rows.message(campaign, await rows.contact())
        await session.commit()
        # Pages keep showing the snapshot until the refresher's next turn...
        before = await report_snapshots.report(session, actor, campaign_id)
        assert before.report["totals"]["delivered"] == 3
        # Due after RUNNING_REFRESH_SECONDS, or 10x the count's own time when that is longer
        # (a loaded machine): ten minutes on is due either way.
        later = utcnow() + timedelta(minutes=10)
        assert await report_snapshots.refresh_due(session, now=later) == 1
        after = await report_snapshots.report(session, actor, campaign_id)
    assert after.report["totals"]["delivered"] == 4
    assert after.computed_at > before.computed_at


async def test_an_old_campaign_is_counted_again_when_opened_after_a_while(platform, workspace):
    campaign_id, rows = await a_sent_campaign(
        platform, workspace, status="completed", completed_ago=timedelta(days=30)
    )
    actor = system_actor(workspace.workspace.id)
    async with platform.sessions() as session:
        assert await report_snapshots.refresh_due(session) == 0  # not moving any more
        first = await report_snapshots.report(session, actor, campaign_id)
        await _as_if_big(session)
        campaign = await session.get(Campaign, campaign_id)
        rows.session = session
        await rows.message(campaign, await rows.contact())
        await session.commit()
        same = await report_snapshots.report(session, actor, campaign_id)
        assert same.report["totals"]["delivered"] == first.report["totals"]["delivered"] == 3
        await session.execute(
            update(CampaignReportSnapshot).values(
                computed_at=utcnow() - report_snapshots.OLD_REFRESH - timedelta(minutes=1)
            )
        )
        await session.commit()
        recounted = await report_snapshots.report(session, actor, campaign_id)
    assert recounted.report["totals"]["delivered"] == 4


async def test_another_workspace_cannot_read_a_snapshot(platform, workspace, other_workspace):
    campaign_id, _ = await a_sent_campaign(platform, workspace)
    async with platform.sessions() as session:
        await report_snapshots.report(session, system_actor(workspace.workspace.id), campaign_id)
        with pytest.raises(NotFound):
            await report_snapshots.report(
                session, system_actor(other_workspace.workspace.id), campaign_id
            )
        theirs = await report_snapshots.totals(
            session, system_actor(other_workspace.workspace.id), [campaign_id]
        )
        mine = await report_snapshots.totals(
            session, system_actor(workspace.workspace.id), [campaign_id]
        )
        kept = list(await session.scalars(select(CampaignReportSnapshot.campaign_id)))
    assert theirs == {}
    assert mine[campaign_id]["delivered"] == 3
    assert kept == [campaign_id]
