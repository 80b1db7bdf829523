"""A campaign through the running platform: timers, dispatcher and simulator, as in production."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpx
from sqlalchemy import func, select

from recado.api.app import create_app
from recado.db.tables import Message
from recado.platform import Platform
from recado.services import campaign_fanout, campaigns
from recado.services.actor import system_actor
from recado.services.workspaces import NewWorkspace
from tests.support.consenting import daytime, opted_in

PHONES = [f"+1202555{n:04d}" for n in range(40)]


async def _until(check: Callable[[], Awaitable[bool]], what: str, rounds: int = 600) -> None:
    """Wait for the workers to get somewhere (polling, no timing assertions)."""
    for _ in range(rounds):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


async def _api(platform: Platform, workspace: NewWorkspace) -> httpx.AsyncClient:
    app = create_app(platform, start_workers=False)
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://recado.test",
        headers={"Authorization": f"Bearer {workspace.api_key}"},
    )


async def _draft(api: httpx.AsyncClient) -> str:
    created = await api.post("/v1/lists", json={"name": "Everyone"})
    list_id = created.json()["id"]
    for phone in PHONES:
        await opted_in(api, phone, list_id=list_id)
    campaign = await api.post(
        "/v1/campaigns",
        json={
            "name": "Launch party",
            "body": "Acme: party tonight https://acme.com/party",
            "audience": {"lists": [list_id]},
        },
    )
    campaign_id: str = campaign.json()["id"]
    return campaign_id


async def _delivered_once(platform: Platform, campaign_id: str) -> dict[str, int]:
    async with platform.sessions() as session:
        return dict(
            (
                await session.execute(
                    select(Message.recipient, func.count())
                    .where(Message.campaign_id == campaign_id)
                    .group_by(Message.recipient)
                )
            ).all()
        )


async def test_a_launched_campaign_is_delivered_paused_resumed_and_completed(
    running: Platform, workspace: NewWorkspace
) -> None:
    with daytime():
        async with await _api(running, workspace) as api:
            campaign_id = await _draft(api)
            path = f"/v1/campaigns/{campaign_id}"
            actor = system_actor(workspace.workspace.id)
            async with running.sessions() as session:  # launched without waking the timers,
                await campaigns.launch(session, actor, campaign_id, base_url="http://recado.test")
            paused = await api.post(f"{path}/pause")  # so the pause lands before completion
            assert paused.status_code == 200, paused.text
            held = (await api.get(f"{path}/progress")).json()
            # Nothing paused moves while the campaign is paused.
            for _ in range(5):
                await running.campaign_timers.run_once()
                await running.dispatcher.run_once()
            after = (await api.get(f"{path}/progress")).json()["messages"]
            # (Texts submitted before the pause may still get their delivery reports.)
            assert after.get("paused", 0) == held["messages"].get("paused", 0)
            assert not {"queued", "scheduled", "sending"} & set(after)

            await api.post(f"{path}/resume")
            await _until(lambda: _status_is(api, path, "completed"), "the campaign completes")

            progress = (await api.get(f"{path}/progress")).json()
    assert progress["messages"] == {"delivered": len(PHONES)}
    assert await _delivered_once(running, campaign_id) == dict.fromkeys(PHONES, 1)


async def test_a_fan_out_killed_midway_finishes_after_a_restart_without_duplicates(
    platform: Platform, workspace: NewWorkspace
) -> None:
    with daytime():
        async with await _api(platform, workspace) as api:
            campaign_id = await _draft(api)
            actor = system_actor(workspace.workspace.id)
            async with platform.sessions() as session:
                await campaigns.launch(session, actor, campaign_id, base_url="http://recado.test")
            # The process dies after its first chunk of 15 recipients...
            async with platform.sessions() as session:
                first = await campaign_fanout.fan_out(
                    session, campaign_id, base_url="http://recado.test", chunk=15, max_chunks=1
                )
            assert first.messages == 15 and not first.finished
            # ...and the restarted platform's workers find the campaign and finish it.
            await platform.start_workers()
            await _until(lambda: _status_is(api, f"/v1/campaigns/{campaign_id}", "completed"), "")
    assert await _delivered_once(platform, campaign_id) == dict.fromkeys(PHONES, 1)


async def _status_is(api: httpx.AsyncClient, path: str, *statuses: str) -> bool:
    return (await api.get(path)).json()["status"] in statuses
