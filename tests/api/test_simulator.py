"""POST /v1/simulator/inbound: a simulated handset texts the workspace, through the carrier path."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from recado.api import simulator
from recado.api.app import create_app
from recado.db.tables import Sender
from recado.domain.roles import Role
from recado.ids import new_id
from recado.platform import Platform
from recado.services import messaging
from recado.services.actor import system_actor
from recado.services.credentials import create_api_key
from recado.services.workspaces import NewWorkspace

OUR_NUMBER = "+12015550100"
HANDSET = "+5511912345678"


def app_with_simulator(platform: Platform) -> FastAPI:
    app = create_app(platform, start_workers=False)
    if not any(getattr(r, "path", "") == "/v1/simulator/inbound" for r in app.routes):
        app.include_router(simulator.router)
    return app


@pytest.fixture
async def api(platform: Platform, workspace: NewWorkspace) -> AsyncIterator[httpx.AsyncClient]:
    """The owner's client, on an app that has the simulator router."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app_with_simulator(platform)),
        base_url="http://recado.test",
        headers={"Authorization": f"Bearer {workspace.api_key}"},
    ) as client:
        yield client


def text(body: str = "Do you deliver on Sundays?", **fields: str) -> dict[str, str]:
    return {"from": HANDSET, "to": OUR_NUMBER, "body": body, **fields}


async def test_an_injected_text_is_stored_as_received_on_a_new_contact(
    running: Platform, api: httpx.AsyncClient
):
    assert (await api.get("/v1/contacts")).json()["data"] == []
    response = await api.post("/v1/simulator/inbound", json=text())
    assert response.status_code == 202
    stored = response.json()
    assert stored["id"].startswith("msg_")
    assert (stored["direction"], stored["status"]) == ("inbound", "received")
    assert (stored["from"], stored["to"]) == (HANDSET, OUR_NUMBER)

    [contact] = (await api.get("/v1/contacts")).json()["data"]
    assert contact["phone"] == HANDSET
    assert stored["contact_id"] == contact["id"]
    listed = (await api.get("/v1/messages", params={"direction": "inbound"})).json()["data"]
    assert [(m["id"], m["body"]) for m in listed] == [(stored["id"], "Do you deliver on Sundays?")]


async def test_the_timeline_of_an_injected_text_says_handled_by_inbox(
    running: Platform, api: httpx.AsyncClient
):
    stored = (await api.post("/v1/simulator/inbound", json=text())).json()
    events = (await api.get(f"/v1/messages/{stored['id']}")).json()["events"]
    assert [(e["status"], e["detail"]) for e in events] == [
        ("received", "received via simulator"),
        ("received", "handled by inbox"),
    ]


async def test_a_national_from_number_is_read_in_the_workspace_country(
    running: Platform, api: httpx.AsyncClient
):
    stored = await api.post("/v1/simulator/inbound", json=text(**{"from": "(415) 723-4567"}))
    assert stored.status_code == 202
    assert stored.json()["from"] == "+14157234567"


async def test_the_endpoint_is_409_when_no_simulator_runs(
    platform: Platform, api: httpx.AsyncClient, scalar
):
    response = await api.post("/v1/simulator/inbound", json=text())
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "simulator_not_running"
    assert "simulator is not running" in error["message"]
    assert await scalar("SELECT count(*) FROM messages") == 0


async def test_another_workspaces_number_is_422_naming_to(
    running: Platform,
    api: httpx.AsyncClient,
    other_workspace: NewWorkspace,
    scalar,
):
    async with running.sessions() as session:
        session.add(
            Sender(
                id=new_id("snd"),
                workspace_id=other_workspace.workspace.id,
                address="+12015550199",
                kind="long_code",
            )
        )
        await session.commit()
    response = await api.post("/v1/simulator/inbound", json=text(to="+12015550199"))
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "to"
    assert await scalar("SELECT count(*) FROM messages") == 0


async def test_a_shared_number_that_would_route_to_another_workspace_is_409(
    running: Platform,
    api: httpx.AsyncClient,
    other_workspace: NewWorkspace,
    scalar,
):
    # The rival also has this number and texted this person last from it: a reply is theirs.
    async with running.sessions() as session:
        session.add(
            Sender(
                id=new_id("snd"),
                workspace_id=other_workspace.workspace.id,
                address="+12015550100",
                kind="long_code",
            )
        )
        await session.commit()
        await messaging.send_message(
            session,
            system_actor(other_workspace.workspace.id),
            messaging.SendRequest(to=HANDSET, body="Your table is ready", sender="+12015550100"),
        )
    response = await api.post("/v1/simulator/inbound", json=text())
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "number_shared"
    assert response.json()["error"]["field"] == "to"
    assert await scalar("SELECT count(*) FROM messages WHERE direction = 'inbound'") == 0


async def test_a_bad_from_number_is_422_invalid_phone_number(
    running: Platform, api: httpx.AsyncClient
):
    response = await api.post("/v1/simulator/inbound", json=text(**{"from": "12"}))
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_phone_number"
    assert response.json()["error"]["field"] == "from"


async def test_a_viewer_key_may_not_simulate_texts(
    running: Platform, api: httpx.AsyncClient, workspace: NewWorkspace
):
    async with running.sessions() as session:
        _, viewer_key = await create_api_key(
            session, system_actor(workspace.workspace.id), name="Read only", role=Role.VIEWER
        )
    response = await api.post(
        "/v1/simulator/inbound",
        json=text(),
        headers={"Authorization": f"Bearer {viewer_key}"},
    )
    assert response.status_code == 403
