"""The fan-out: who gets a message row, who is skipped and why, and never twice."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from recado.db.tables import CampaignSkip, Contact, Link, Message, MessageEvent
from recado.platform import Platform
from recado.services import campaign_fanout, campaigns, consent, links
from recado.services.actor import system_actor
from recado.services.workspaces import NewWorkspace
from tests.support.consenting import opted_in

BASE = "http://recado.test"


async def _list(client: httpx.AsyncClient, name: str = "VIP") -> str:
    created = await client.post("/v1/lists", json={"name": name})
    assert created.status_code == 201, created.text
    list_id: str = created.json()["id"]
    return list_id


async def _member_without_consent(client: httpx.AsyncClient, list_id: str, phone: str) -> str:
    contact = await client.put(f"/v1/contacts/by-phone/{phone}", json={})
    contact_id: str = contact.json()["id"]
    added = await client.post(f"/v1/lists/{list_id}/members", json={"contact_ids": [contact_id]})
    assert added.status_code in (200, 201), added.text
    return contact_id


async def _campaign(platform: Platform, workspace: NewWorkspace, **fields: object) -> str:
    actor = system_actor(workspace.workspace.id)
    data = campaigns.CampaignInput(**{"name": "Sale", **fields})  # type: ignore[arg-type]
    async with platform.sessions() as session:
        campaign = await campaigns.create_campaign(session, actor, data)
        return campaign.id


async def _launch_and_fan_out(
    platform: Platform, workspace: NewWorkspace, campaign_id: str, **options: object
) -> campaign_fanout.Outcome:
    actor = system_actor(workspace.workspace.id)
    async with platform.sessions() as session:
        await campaigns.launch(session, actor, campaign_id, base_url=BASE)
    async with platform.sessions() as session:
        return await campaign_fanout.fan_out(session, campaign_id, base_url=BASE, **options)  # type: ignore[arg-type]


async def _messages(platform: Platform, campaign_id: str) -> list[Message]:
    async with platform.sessions() as session:
        return list(
            await session.scalars(
                select(Message).where(Message.campaign_id == campaign_id).order_by(Message.id)
            )
        )


async def test_each_consenting_member_gets_one_personalized_marketing_message(
    platform: Platform, workspace: NewWorkspace, client: httpx.AsyncClient
) -> None:
    vip, news = await _list(client, "VIP"), await _list(client, "News")
    both = await opted_in(client, "+12025550101", list_id=vip)
    await client.post(f"/v1/lists/{news}/members", json={"contact_ids": [both]})
    await client.patch(f"/v1/contacts/{both}", json={"first_name": "Ana"})
    await opted_in(client, "+12025550102", list_id=news)
    campaign_id = await _campaign(
        platform,
        workspace,
        body="Acme: Hi {{ first_name | default('there') }}, sale at https://acme.com/sale",
        audience={"lists": [vip, news]},
    )

    outcome = await _launch_and_fan_out(platform, workspace, campaign_id)

    assert outcome.finished and outcome.messages == 2
    messages = await _messages(platform, campaign_id)
    assert sorted(m.recipient for m in messages) == ["+12025550101", "+12025550102"]
    ana = next(m for m in messages if m.recipient == "+12025550101")
    assert ana.body.startswith("Acme: Hi Ana, sale at http://recado.test/l/")
    assert "STOP" in ana.body  # the opt-out footer
    assert {m.category for m in messages} == {"marketing"}
    assert {m.status for m in messages} == {"queued"}
    assert all(m.price_micros for m in messages)
    # The tracked link's code and target live on the message: no link row per recipient.
    assert {m.link_url for m in messages} == {"https://acme.com/sale"}
    assert len({m.link_code for m in messages}) == 2
    assert f"/l/{ana.link_code}\n" in ana.body
    async with platform.sessions() as session:
        links = await session.scalar(select(func.count()).select_from(Link))
        events = list(
            await session.execute(
                select(MessageEvent.status, MessageEvent.detail).where(
                    MessageEvent.message_id == ana.id
                )
            )
        )
    assert links == 0
    [(status, detail)] = events
    assert status == "queued" and detail.startswith("queued by campaign ")


async def test_members_without_consent_are_skipped_and_stop_senders_get_nothing(
    platform: Platform, workspace: NewWorkspace, client: httpx.AsyncClient
) -> None:
    vip = await _list(client)
    await opted_in(client, "+12025550111", list_id=vip)
    silent = await _member_without_consent(client, vip, "+12025550112")
    leaver = await opted_in(client, "+12025550113", list_id=vip)
    async with platform.sessions() as session:
        contact = await session.get(Contact, leaver)
        assert contact is not None
        await consent.opt_out(session, contact, source="keyword", by="test")
        await session.commit()
    campaign_id = await _campaign(
        platform, workspace, body="Acme: new arrivals", audience={"lists": [vip]}
    )

    outcome = await _launch_and_fan_out(platform, workspace, campaign_id)

    assert outcome.messages == 1
    assert [m.recipient for m in await _messages(platform, campaign_id)] == ["+12025550111"]
    async with platform.sessions() as session:
        reasons = dict(
            (await session.execute(select(CampaignSkip.contact_id, CampaignSkip.reason))).all()
        )
    assert reasons == {silent: "no_consent"}


async def test_a_fan_out_killed_midway_resumes_without_texting_anyone_twice(
    platform: Platform, workspace: NewWorkspace, client: httpx.AsyncClient
) -> None:
    vip = await _list(client)
    for n in range(7):
        await opted_in(client, f"+1202555012{n}", list_id=vip)
    campaign_id = await _campaign(
        platform, workspace, body="Acme: flash sale", audience={"lists": [vip]}
    )

    first = await _launch_and_fan_out(platform, workspace, campaign_id, chunk=3, max_chunks=1)
    assert not first.finished and first.messages == 3
    async with platform.sessions() as session:  # "after the restart": from the start again
        rest = await campaign_fanout.fan_out(session, campaign_id, base_url=BASE, chunk=3)
    async with platform.sessions() as session:
        again = await campaign_fanout.fan_out(session, campaign_id, base_url=BASE, chunk=3)

    assert rest.finished and rest.messages == 4
    assert again.messages == 0
    messages = await _messages(platform, campaign_id)
    assert len(messages) == len({m.recipient for m in messages}) == 7


async def test_excluded_list_members_get_nothing(
    platform: Platform, workspace: NewWorkspace, client: httpx.AsyncClient
) -> None:
    vip, staff = await _list(client, "VIP"), await _list(client, "Staff")
    await opted_in(client, "+12025550131", list_id=vip)
    employee = await opted_in(client, "+12025550132", list_id=vip)
    await client.post(f"/v1/lists/{staff}/members", json={"contact_ids": [employee]})
    campaign_id = await _campaign(
        platform,
        workspace,
        body="Acme: VIP night",
        audience={"lists": [vip], "exclude_lists": [staff]},
    )

    await _launch_and_fan_out(platform, workspace, campaign_id)

    assert [m.recipient for m in await _messages(platform, campaign_id)] == ["+12025550131"]


async def test_a_segment_and_a_list_together_reach_each_contact_once(
    platform: Platform, workspace: NewWorkspace, client: httpx.AsyncClient
) -> None:
    from recado.services import segments

    vip = await _list(client)
    gold_in_list = await opted_in(client, "+12025550141", list_id=vip)
    gold_elsewhere = await opted_in(client, "+12025550142")
    await opted_in(client, "+12025550143")  # neither gold nor on the list
    for contact_id in (gold_in_list, gold_elsewhere):
        patched = await client.patch(
            f"/v1/contacts/{contact_id}", json={"attributes": {"plan": "gold"}}
        )
        assert patched.status_code == 200, patched.text
    async with platform.sessions() as session:
        gold = await segments.create_segment(
            session,
            system_actor(workspace.workspace.id),
            name="Gold",
            definition={
                "conditions": [
                    {"field": "attribute", "name": "plan", "op": "equals", "value": "gold"}
                ]
            },
        )
    campaign_id = await _campaign(
        platform,
        workspace,
        body="Acme: gold perks",
        audience={"lists": [vip], "segments": [gold.id]},
    )

    await _launch_and_fan_out(platform, workspace, campaign_id)

    recipients = sorted(m.recipient for m in await _messages(platform, campaign_id))
    assert recipients == ["+12025550141", "+12025550142"]


async def test_a_pool_code_drawn_for_a_recipient_skipped_afterwards_goes_back_to_the_pool(
    platform: Platform, workspace: NewWorkspace, client: httpx.AsyncClient
) -> None:
    from recado.services import discounts  # noqa: PLC0415

    actor = system_actor(workspace.workspace.id)
    async with platform.sessions() as session:
        pool = await discounts.create_pool(session, actor, "Summer")
        await discounts.add_codes(session, actor, pool.id, ["SUN-1", "SUN-2", "SUN-3"])
    vip = await _list(client)
    ana = await opted_in(client, "+12025550101", list_id=vip)
    await client.patch(f"/v1/contacts/{ana}", json={"first_name": "Ana"})
    nameless = await opted_in(client, "+12025550102", list_id=vip)
    campaign_id = await _campaign(
        platform,
        workspace,
        body="Acme: {{ first_name }}, your code is {{ discount_code }}",
        audience={"lists": [vip]},
        discount_mode="pool",
        discount_pool_id=pool.id,
    )

    outcome = await _launch_and_fan_out(platform, workspace, campaign_id)

    assert (outcome.messages, outcome.skipped) == (1, 1)
    async with platform.sessions() as session:
        holders = set(
            await session.scalars(
                select(discounts.DiscountCode.contact_id).where(
                    discounts.DiscountCode.pool_id == pool.id,
                    discounts.DiscountCode.contact_id.is_not(None),
                )
            )
        )
        left = await discounts.remaining(session, workspace.workspace.id, pool.id)
    assert holders == {ana} and nameless not in holders
    assert left == 2


async def test_a_link_code_already_in_use_is_redrawn_and_the_text_follows(
    platform: Platform,
    workspace: NewWorkspace,
    client: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    vip = await _list(client)
    for phone in ("+12025550131", "+12025550132", "+12025550133"):
        await opted_in(client, phone, list_id=vip)
    async with platform.sessions() as session:
        session.add(
            Link(code="takenByLink1", workspace_id=workspace.workspace.id, url="https://x.test")
        )
        await session.commit()
    # The first code is a link row's; the next two are equal, so the unique index on the
    # messages' codes refuses the second in the same insert.
    drawn = iter(["takenByLink1", "sameCode0001", "sameCode0001", "freshCode001", "freshCode002"])
    original = campaign_fanout.make_plan

    async def planned(*args: object, **kwargs: object) -> campaign_fanout.Plan:
        plan = await original(*args, **kwargs)  # type: ignore[arg-type]
        plan.codes = drawn
        return plan

    monkeypatch.setattr(campaign_fanout, "make_plan", planned)
    campaign_id = await _campaign(
        platform, workspace, body="Acme: sale at https://acme.com/sale", audience={"lists": [vip]}
    )

    outcome = await _launch_and_fan_out(platform, workspace, campaign_id)

    assert outcome.messages == 3
    messages = await _messages(platform, campaign_id)
    assert sorted(m.link_code or "" for m in messages) == [
        "freshCode001",
        "freshCode002",
        "sameCode0001",
    ]
    for message in messages:
        assert f"/l/{message.link_code}\n" in message.body
    async with platform.sessions() as session:
        url = await links.record_click(session, "freshCode002", "test")
        assert url == "https://acme.com/sale"
        clicks, _ = await links.message_clicks(
            session,
            system_actor(workspace.workspace.id),
            next(m.id for m in messages if m.link_code == "freshCode002"),
        )
    assert [(c.code, c.url) for c in clicks] == [("freshCode002", "https://acme.com/sale")]


async def test_a_text_with_two_links_keeps_a_link_row_per_url(
    platform: Platform, workspace: NewWorkspace, client: httpx.AsyncClient
) -> None:
    vip = await _list(client)
    await opted_in(client, "+12025550141", list_id=vip)
    campaign_id = await _campaign(
        platform,
        workspace,
        body="Acme: shoes https://acme.com/shoes and bags https://acme.com/bags",
        audience={"lists": [vip]},
    )

    await _launch_and_fan_out(platform, workspace, campaign_id)

    [message] = await _messages(platform, campaign_id)
    assert message.link_code is None
    async with platform.sessions() as session:
        rows = list(await session.scalars(select(Link).where(Link.message_id == message.id)))
        assert sorted(r.url for r in rows) == ["https://acme.com/bags", "https://acme.com/shoes"]
        for row in rows:
            assert f"/l/{row.code}" in message.body
            assert await links.record_click(session, row.code, None) == row.url


async def test_a_pause_while_chunks_are_written_stops_the_fan_out_after_them(
    platform: Platform,
    workspace: NewWorkspace,
    client: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    vip = await _list(client)
    for n in range(7):
        await opted_in(client, f"+1202555015{n}", list_id=vip)
    campaign_id = await _campaign(
        platform, workspace, body="Acme: flash sale", audience={"lists": [vip]}
    )
    original = campaign_fanout._prepare_chunk
    prepared = 0

    async def prepare_then_pause(*args: Any, **kwargs: Any) -> campaign_fanout.Prepared:
        nonlocal prepared
        prepared += 1
        if prepared == 2:  # the marketer pauses while the first chunk is being written
            async with platform.sessions() as session:
                await campaigns.pause(session, system_actor(workspace.workspace.id), campaign_id)
        return await original(*args, **kwargs)

    monkeypatch.setattr(campaign_fanout, "_prepare_chunk", prepare_then_pause)

    outcome = await _launch_and_fan_out(platform, workspace, campaign_id, chunk=2)

    # Whatever was written before the pause is paused with the campaign; nothing after it.
    messages = await _messages(platform, campaign_id)
    assert not outcome.finished and outcome.messages == len(messages) < 7
    assert {m.status for m in messages} <= {"paused"}
    async with platform.sessions() as session:
        await campaigns.resume(session, system_actor(workspace.workspace.id), campaign_id)
    async with platform.sessions() as session:
        rest = await campaign_fanout.fan_out(session, campaign_id, base_url=BASE, chunk=2)
    assert rest.finished
    messages = await _messages(platform, campaign_id)
    assert len(messages) == len({m.recipient for m in messages}) == 7
