"""Discount pools: uploads deduplicated and reported, single-use codes drawn per recipient."""

from __future__ import annotations

import asyncio

import pytest
from campaign_rows import Rows
from sqlalchemy import select

from recado.db.tables import DiscountCode
from recado.domain.roles import Role
from recado.errors import Conflict, NotFound, PermissionDenied
from recado.ids import new_id
from recado.services import discounts
from recado.services.actor import Actor, system_actor


async def a_pool(platform, workspace, codes, name="Black Friday"):
    actor = system_actor(workspace.workspace.id)
    async with platform.sessions() as session:
        pool = await discounts.create_pool(session, actor, name)
        await discounts.add_codes(session, actor, pool.id, codes)
    return pool


async def test_an_upload_reports_added_duplicate_and_rejected_codes(platform, workspace):
    actor = system_actor(workspace.workspace.id)
    async with platform.sessions() as session:
        pool = await discounts.create_pool(session, actor, "Black Friday")
        first = await discounts.add_codes(session, actor, pool.id, ["SAVE-1", "SAVE-2", " "])
        second = await discounts.add_codes(
            session, actor, pool.id, ["save-2", "SAVE-3", "SAVE-3", "BAD CODE", "X" * 65]
        )
    assert (first.added, first.duplicates, first.rejected, first.remaining) == (2, 0, 0, 2)
    assert (second.added, second.duplicates, second.rejected, second.remaining) == (1, 2, 2, 3)
    assert [(r.line, r.reason) for r in second.rejected_codes] == [
        (4, "contains a space or a control character"),
        (5, "longer than 64 characters"),
    ]


def test_a_csv_file_gives_its_code_column_or_its_first_column():
    assert discounts.codes_from_csv(b"\xef\xbb\xbfname,code\nA,SAVE1\nB,SAVE2\n") == [
        "SAVE1",
        "SAVE2",
    ]
    assert discounts.codes_from_csv("SAVE1\nSAVE2\n") == ["SAVE1", "SAVE2"]
    assert discounts.codes_from_csv("Coupon\r\nSAVE1\r\n") == ["SAVE1"]


async def test_each_recipient_gets_a_different_code_once(platform, workspace):
    pool = await a_pool(platform, workspace, [f"C{i}" for i in range(5)])
    ws = workspace.workspace.id
    async with platform.sessions() as session:
        rows = Rows(session, ws)
        campaign = await rows.campaign(discount_mode="pool")
        people = [await rows.contact() for _ in range(3)]
        await session.commit()
        asked = [(p.id, new_id("msg")) for p in people]
        given = await discounts.draw(session, ws, pool.id, campaign.id, asked)
        await session.commit()
        again = await discounts.draw(session, ws, pool.id, campaign.id, asked)
        await session.commit()
        left = await discounts.remaining(session, ws, pool.id)
        stored = list(
            await session.execute(
                select(DiscountCode.contact_id, DiscountCode.message_id).where(
                    DiscountCode.contact_id.is_not(None)
                )
            )
        )
    assert sorted(given) == sorted(p.id for p in people)
    assert len(set(given.values())) == 3
    assert again == given  # a re-run gives the same codes, not new ones
    assert left == 2
    assert sorted(stored) == sorted(asked)


async def test_when_the_pool_runs_short_only_the_first_recipients_get_a_code(platform, workspace):
    pool = await a_pool(platform, workspace, ["ONLY-1", "ONLY-2"])
    ws = workspace.workspace.id
    async with platform.sessions() as session:
        rows = Rows(session, ws)
        campaign = await rows.campaign(discount_mode="pool")
        people = [await rows.contact() for _ in range(3)]
        await session.commit()
        given = await discounts.draw(
            session, ws, pool.id, campaign.id, [(p.id, new_id("msg")) for p in people]
        )
        await session.commit()
        assert await discounts.remaining(session, ws, pool.id) == 0
    assert given == {people[0].id: "ONLY-1", people[1].id: "ONLY-2"}


async def test_a_rolled_back_draw_frees_its_codes(platform, workspace):
    pool = await a_pool(platform, workspace, ["R1", "R2"])
    ws = workspace.workspace.id
    async with platform.sessions() as session:
        rows = Rows(session, ws)
        campaign = await rows.campaign(discount_mode="pool")
        someone = await rows.contact()
        await session.commit()
        await discounts.draw(session, ws, pool.id, campaign.id, [(someone.id, new_id("msg"))])
        await session.rollback()
        assert await discounts.remaining(session, ws, pool.id) == 2


async def test_a_code_given_back_for_a_recipient_not_texted_goes_to_the_next(platform, workspace):
    pool = await a_pool(platform, workspace, ["G1"])
    ws = workspace.workspace.id
    async with platform.sessions() as session:
        rows = Rows(session, ws)
        campaign = await rows.campaign(discount_mode="pool")
        first, second = await rows.contact(), await rows.contact()
        await session.commit()
        await discounts.draw(session, ws, pool.id, campaign.id, [(first.id, new_id("msg"))])
        assert await discounts.release(session, ws, pool.id, campaign.id, [first.id]) == 1
        given = await discounts.draw(
            session, ws, pool.id, campaign.id, [(second.id, new_id("msg"))]
        )
        await session.commit()
    assert given == {second.id: "G1"}


async def test_two_fan_outs_drawing_at_once_never_share_a_code(platform, workspace):
    pool = await a_pool(platform, workspace, [f"P{i:02d}" for i in range(10)])
    ws = workspace.workspace.id
    async with platform.sessions() as session:
        rows = Rows(session, ws)
        first_campaign = await rows.campaign("One")
        second_campaign = await rows.campaign("Two")
        people = [await rows.contact() for _ in range(8)]
        await session.commit()
    async with platform.sessions() as one, platform.sessions() as two:
        first = await discounts.draw(
            one, ws, pool.id, first_campaign.id, [(p.id, new_id("msg")) for p in people[:4]]
        )
        # The second draw runs while the first transaction is still open.
        second_task = asyncio.create_task(
            discounts.draw(
                two, ws, pool.id, second_campaign.id, [(p.id, new_id("msg")) for p in people[4:]]
            )
        )
        await asyncio.sleep(0.2)
        await one.commit()
        second = await second_task
        await two.commit()
    assert len(first) == len(second) == 4
    assert not set(first.values()) & set(second.values())
    async with platform.sessions() as session:
        assert await discounts.remaining(session, ws, pool.id) == 2


async def test_pools_list_with_their_remaining_codes(platform, workspace):
    await a_pool(platform, workspace, ["A1", "A2", "A3"], name="Autumn")
    actor = system_actor(workspace.workspace.id)
    async with platform.sessions() as session:
        pools, cursor = await discounts.list_pools(session, actor)
    assert [(p.name, p.total, p.remaining) for p in pools] == [("Autumn", 3, 3)]
    assert cursor is None


async def test_a_pool_name_is_used_once_and_pools_stay_in_their_workspace(
    platform, workspace, other_workspace
):
    pool = await a_pool(platform, workspace, ["W1"])
    async with platform.sessions() as session:
        with pytest.raises(Conflict):
            await discounts.create_pool(
                session, system_actor(workspace.workspace.id), "Black Friday"
            )
        with pytest.raises(NotFound):
            await discounts.add_codes(
                session, system_actor(other_workspace.workspace.id), pool.id, ["X"]
            )
        assert await discounts.remaining(session, other_workspace.workspace.id, pool.id) == 0


async def test_a_viewer_may_not_upload_codes(platform, workspace):
    pool = await a_pool(platform, workspace, [])
    viewer = Actor(workspace.workspace.id, Role.VIEWER)
    async with platform.sessions() as session:
        with pytest.raises(PermissionDenied):
            await discounts.add_codes(session, viewer, pool.id, ["X"])
