"""Campaign use cases: scheduling, A/B tests, discount codes, local time and throttling."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select

from recado.db.tables import Campaign, CampaignSkip, CampaignVariant, Message
from recado.platform import Platform
from recado.services import campaigns, discounts, links
from recado.services.actor import system_actor
from recado.services.workspaces import NewWorkspace
from tests.support.consenting import DAYTIME, daytime, opted_in

BASE = "http://recado.test"


async def _audience(client: httpx.AsyncClient, phones: list[str]) -> str:
    created = await client.post("/v1/lists", json={"name": "Customers"})
    list_id: str = created.json()["id"]
    for phone in phones:
        await opted_in(client, phone, list_id=list_id)
    return list_id


async def _create(platform: Platform, workspace: NewWorkspace, **fields: object) -> str:
    actor = system_actor(workspace.workspace.id)
    async with platform.sessions() as session:
        campaign = await campaigns.create_campaign(
            session,
            actor,
            campaigns.CampaignInput(**{"name": "Sale", **fields}),  # type: ignore[arg-type]
        )
        return campaign.id


async def _launch(platform: Platform, workspace: NewWorkspace, campaign_id: str) -> Campaign:
    actor = system_actor(workspace.workspace.id)
    async with platform.sessions() as session:
        return await campaigns.launch(session, actor, campaign_id, base_url=BASE)


async def _timers(platform: Platform, now: datetime | None = None) -> campaigns.TimerRound:
    async with platform.sessions() as session:
        return await campaigns.run_timers(session, base_url=BASE, now=now)


async def _campaign(platform: Platform, campaign_id: str) -> Campaign:
    async with platform.sessions() as session:
        found = await session.get(Campaign, campaign_id)
        assert found is not None
        return found


async def _messages(platform: Platform, campaign_id: str) -> list[Message]:
    async with platform.sessions() as session:
        return list(
            await session.scalars(
                select(Message).where(Message.campaign_id == campaign_id).order_by(Message.id)
            )
        )


async def test_a_campaign_for_later_waits_then_goes_at_its_time(
    platform: Platform, workspace: NewWorkspace, client: httpx.AsyncClient
) -> None:
    list_id = await _audience(client, ["+12025550161"])
    at = datetime.now(UTC) + timedelta(hours=2)
    campaign_id = await _create(
        platform,
        workspace,
        body="Acme: doors open",
        audience={"lists": [list_id]},
        schedule_kind="at",
        send_at=at,
    )

    assert (await _launch(platform, workspace, campaign_id)).status == "scheduled"
    await _timers(platform)
    assert await _messages(platform, campaign_id) == []

    await _timers(platform, now=at + timedelta(seconds=1))
    assert [m.recipient for m in await _messages(platform, campaign_id)] == ["+12025550161"]
    assert (await _campaign(platform, campaign_id)).status == "sending"


async def test_a_campaign_completes_when_no_message_is_left_to_send(
    platform: Platform, workspace: NewWorkspace, client: httpx.AsyncClient
) -> None:
    list_id = await _audience(client, ["+12025550171"])
    campaign_id = await _create(
        platform, workspace, body="Acme: thanks", audience={"lists": [list_id]}
    )
    await _launch(platform, workspace, campaign_id)
    await _timers(platform)
    assert (await _campaign(platform, campaign_id)).status == "sending"

    actor = system_actor(workspace.workspace.id)
    async with platform.sessions() as session:
        await campaigns.cancel(session, actor, campaign_id, "changed our mind")
    assert (await _campaign(platform, campaign_id)).status == "canceled"
    await _timers(platform)
    assert (await _campaign(platform, campaign_id)).status == "canceled"


async def test_ab_test_sends_the_test_share_then_the_winner_to_the_rest(
    platform: Platform, workspace: NewWorkspace, client: httpx.AsyncClient
) -> None:
    phones = [f"+120255502{n:02d}" for n in range(40)]
    list_id = await _audience(client, phones)
    campaign_id = await _create(
        platform,
        workspace,
        body="Acme: sale at https://acme.com",
        audience={"lists": [list_id]},
        ab_test={"test_share": 0.5, "holdout_share": 0.1, "metric": "click_rate"},
        variants=(
            campaigns.VariantInput("Acme: A sale at https://acme.com/a"),
            campaigns.VariantInput("Acme: B sale at https://acme.com/b"),
        ),
    )
    await _launch(platform, workspace, campaign_id)

    await _timers(platform)
    campaign = await _campaign(platform, campaign_id)
    assert campaign.status == "testing" and campaign.decide_at is not None
    tested = await _messages(platform, campaign_id)
    async with platform.sessions() as session:
        variants = {
            v.label: v.id
            for v in await session.scalars(
                select(CampaignVariant).where(CampaignVariant.campaign_id == campaign_id)
            )
        }
        held = list(
            await session.scalars(
                select(CampaignSkip.reason).where(CampaignSkip.campaign_id == campaign_id)
            )
        )
    assert tested and {m.variant_id for m in tested} <= set(variants.values())
    assert all(m.body.startswith("Acme: A") for m in tested if m.variant_id == variants["A"])
    assert set(held) <= {"holdout"}
    # Everyone who got B clicks; nobody who got A does.
    async with platform.sessions() as session:
        codes = await session.scalars(
            select(Message.link_code).where(Message.variant_id == variants["B"])
        )
        for code in list(codes):
            await links.record_click(session, code, "test")

    await _timers(platform, now=campaign.decide_at + timedelta(seconds=1))

    decided = await _campaign(platform, campaign_id)
    assert decided.winner_variant_id == variants["B"]
    assert decided.ab_test is not None and decided.ab_test["decision"]["winner"] == "B"
    everyone = await _messages(platform, campaign_id)
    rest = [m for m in everyone if m not in tested and m.id not in {t.id for t in tested}]
    assert rest and {m.variant_id for m in rest} == {variants["B"]}
    assert len(everyone) + len(held) == 40
    assert len({m.recipient for m in everyone}) == len(everyone)


async def test_each_recipient_gets_their_own_pool_code(
    platform: Platform, workspace: NewWorkspace, client: httpx.AsyncClient
) -> None:
    list_id = await _audience(client, ["+12025550181", "+12025550182", "+12025550183"])
    actor = system_actor(workspace.workspace.id)
    async with platform.sessions() as session:
        pool = await discounts.create_pool(session, actor, "Black Friday")
        await discounts.add_codes(session, actor, pool.id, ["BF-1", "BF-2"])
    campaign_id = await _create(
        platform,
        workspace,
        body="Acme: your code {{ discount_code }}",
        audience={"lists": [list_id]},
        discount_mode="pool",
        discount_pool_id=pool.id,
    )

    async with platform.sessions() as session:
        checked = await campaigns.review(session, actor, campaign_id, base_url=BASE)
    assert not checked.ready
    assert any("2 codes left for 3 recipients" in r for r in checked.refusals)

    async with platform.sessions() as session:
        await discounts.add_codes(session, actor, pool.id, ["BF-3"])
    await _launch(platform, workspace, campaign_id)
    await _timers(platform)

    bodies = sorted(m.body.split("\n")[0] for m in await _messages(platform, campaign_id))
    assert bodies == [f"Acme: your code BF-{n}" for n in (1, 2, 3)]


async def test_a_shared_code_goes_to_everyone(
    platform: Platform, workspace: NewWorkspace, client: httpx.AsyncClient
) -> None:
    list_id = await _audience(client, ["+12025550191"])
    campaign_id = await _create(
        platform,
        workspace,
        body="Acme: use {{ discount_code }}",
        audience={"lists": [list_id]},
        discount_mode="shared",
        discount_code="SUMMER20",
    )
    await _launch(platform, workspace, campaign_id)
    await _timers(platform)
    assert (await _messages(platform, campaign_id))[0].body.startswith("Acme: use SUMMER20")


async def test_local_send_reaches_each_recipient_at_their_own_ten_oclock(
    platform: Platform, workspace: NewWorkspace, client: httpx.AsyncClient
) -> None:
    with daytime():
        list_id = await _audience(client, ["+12125550101", "+13105550102"])  # NY, LA
        campaign_id = await _create(
            platform,
            workspace,
            body="Acme: good morning",
            audience={"lists": [list_id]},
            schedule_kind="local",
            local_send="2026-06-11T10:00",
        )
        await _launch(platform, workspace, campaign_id)
        await _timers(platform)
        due = {m.recipient: m.send_at for m in await _messages(platform, campaign_id)}

    assert due == {
        "+12125550101": datetime(2026, 6, 11, 14, 0, tzinfo=UTC),
        "+13105550102": datetime(2026, 6, 11, 17, 0, tzinfo=UTC),
    }
    assert min(due.values()) > DAYTIME  # type: ignore[type-var]


async def test_a_throttle_spreads_the_messages_over_minutes(
    platform: Platform, workspace: NewWorkspace, client: httpx.AsyncClient
) -> None:
    list_id = await _audience(client, [f"+1202555030{n}" for n in range(5)])
    campaign_id = await _create(
        platform,
        workspace,
        body="Acme: limited stock",
        audience={"lists": [list_id]},
        throttle_per_minute=2,
    )
    await _launch(platform, workspace, campaign_id)
    now = datetime.now(UTC)
    await _timers(platform, now=now)

    messages = await _messages(platform, campaign_id)
    offsets = sorted(round(((m.send_at or now) - now).total_seconds() / 60) for m in messages)
    assert offsets == [0, 0, 1, 1, 2]
    assert sorted(m.status for m in messages) == [
        "queued",
        "queued",
        "scheduled",
        "scheduled",
        "scheduled",
    ]


@pytest.mark.parametrize("status", ["draft"])
async def test_a_draft_cannot_be_paused(
    platform: Platform, workspace: NewWorkspace, client: httpx.AsyncClient, status: str
) -> None:
    list_id = await _audience(client, [])
    campaign_id = await _create(platform, workspace, body="Acme: x", audience={"lists": [list_id]})
    actor = system_actor(workspace.workspace.id)
    async with platform.sessions() as session:
        with pytest.raises(campaigns.CampaignStateConflict):
            await campaigns.pause(session, actor, campaign_id)
    assert (await _campaign(platform, campaign_id)).status == status


async def test_pause_resume_and_cancel_tell_the_workspace_webhook_of_each_message(
    platform: Platform, workspace: NewWorkspace, client: httpx.AsyncClient
) -> None:
    import json  # noqa: PLC0415

    from recado.db.tables import WebhookDelivery  # noqa: PLC0415
    from recado.services import workspace_admin  # noqa: PLC0415

    actor = system_actor(workspace.workspace.id)
    async with platform.sessions() as session:
        await workspace_admin.update_settings(
            session, actor, {"webhook_url": "https://hooks.example/recado"}
        )
    list_id = await _audience(client, ["+12025550101", "+12025550102"])
    campaign_id = await _create(
        platform, workspace, body="Acme: sale today", audience={"lists": [list_id]}
    )
    await _launch(platform, workspace, campaign_id)
    await _timers(platform)  # the fan-out: two queued messages
    async with platform.sessions() as session:
        await campaigns.pause(session, actor, campaign_id)
    async with platform.sessions() as session:
        await campaigns.resume(session, actor, campaign_id)
    async with platform.sessions() as session:
        await campaigns.cancel(session, actor, campaign_id)
        sent = [
            json.loads(payload)["status"]
            for payload in await session.scalars(
                select(WebhookDelivery.payload).order_by(WebhookDelivery.created_at)
            )
        ]
    assert sent.count("paused") == 2
    assert sent.count("canceled") == 2
    assert sent.index("paused") < sent.index("canceled")
    assert sent.count("queued") >= 4  # fanned out, then resumed


async def test_an_unfinished_draft_saves_and_review_and_launch_say_what_is_missing(
    platform: Platform, workspace: NewWorkspace
) -> None:
    campaign_id = await _create(platform, workspace)  # a name, nothing else
    actor = system_actor(workspace.workspace.id)
    async with platform.sessions() as session:
        checked = await campaigns.review(session, actor, campaign_id, base_url=BASE)
        assert "Write the message: a text, media, or both." in checked.refusals
        assert "Choose an audience: at least one list or segment." in checked.refusals
        with pytest.raises(campaigns.CampaignNotReady, match="Write the message"):
            await campaigns.launch(session, actor, campaign_id, base_url=BASE)
    assert (await _campaign(platform, campaign_id)).status == "draft"
