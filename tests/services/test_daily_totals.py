"""Daily totals: a settled day is counted once and kept; today and yesterday keep counting."""

from __future__ import annotations

from datetime import timedelta

from campaign_rows import T0, Rows
from sqlalchemy import select

from recado.db.tables import DailyTotal
from recado.services.actor import system_actor
from recado.services.daily_totals import daily_totals


async def test_settled_days_are_stored_once_and_today_keeps_counting(platform, workspace):
    ws = workspace.workspace.id
    now = T0 + timedelta(days=3)  # T0's day is settled; now's day and the one before are live
    async with platform.sessions() as session:
        rows = Rows(session, ws)
        campaign = await rows.campaign()
        people = [await rows.contact() for _ in range(4)]
        for person in people[:3]:
            await rows.message(campaign, person, sent_at=T0)
        await rows.click(await rows.message(campaign, people[3], sent_at=T0), T0)
        await rows.opt_out(people[0], T0 + timedelta(hours=1))
        await session.commit()

        first = await daily_totals(session, system_actor(ws), days=5, now=now)
        by_day = {d["date"]: d for d in first["data"]}
        settled_day = T0.date().isoformat()
        assert (by_day[settled_day]["sent"], by_day[settled_day]["delivered"]) == (4, 4)
        assert (by_day[settled_day]["clicks"], by_day[settled_day]["opt_outs"]) == (1, 1)
        stored = {
            day: figures
            for day, figures in await session.execute(select(DailyTotal.day, DailyTotal.figures))
        }
        assert sorted(stored) == [(now - timedelta(days=n)).date().isoformat() for n in (4, 3, 2)]
        assert stored[settled_day]["sent"] == 4

        # A text sent now and a reply now show at once: today is counted on each request.
        await rows.message(campaign, people[0], sent_at=now - timedelta(minutes=5))
        await rows.reply(people[1], now - timedelta(minutes=1))
        await session.commit()
        second = await daily_totals(session, system_actor(ws), days=5, now=now)
    today = second["data"][-1]
    assert today["date"] == now.date().isoformat()
    assert (today["sent"], today["delivered"], today["replies"]) == (1, 1, 1)
    assert second["totals"]["sent"] == 5
    assert second["data"][:-1] == first["data"][:-1]


async def test_each_workspace_reads_only_its_own_stored_days(platform, workspace, other_workspace):
    now = T0 + timedelta(days=3)
    async with platform.sessions() as session:
        rows = Rows(session, workspace.workspace.id)
        await rows.message(await rows.campaign(), await rows.contact(), sent_at=T0)
        await session.commit()
        mine = await daily_totals(session, system_actor(workspace.workspace.id), days=5, now=now)
        theirs = await daily_totals(
            session, system_actor(other_workspace.workspace.id), days=5, now=now
        )
    assert mine["totals"]["sent"] == 1
    assert theirs["totals"]["sent"] == 0
