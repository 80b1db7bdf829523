"""Roles through the API: what a key of each role may do, and the 403 it gets otherwise.

viewer < agent < marketer < admin < owner (src/recado/domain/roles.py); every refusal is a
403 `forbidden` that changes nothing.
"""

from __future__ import annotations

import httpx
import pytest

from recado.domain.roles import Role
from recado.platform import Platform
from recado.services.actor import system_actor
from recado.services.credentials import create_api_key
from recado.services.workspaces import NewWorkspace

SMPP_CONFIG = {"host": "127.0.0.1", "port": 2775, "system_id": "recado", "password": "pw123"}
CSV = b"phone,first_name\n+14157234567,Ana\n"


@pytest.fixture
async def keys(platform: Platform, workspace: NewWorkspace) -> dict[Role, dict[str, str]]:
    """One API key per role in the `workspace`, as request headers."""
    headers: dict[Role, dict[str, str]] = {}
    async with platform.sessions() as session:
        for role in (Role.VIEWER, Role.AGENT, Role.MARKETER, Role.ADMIN):
            _, plain = await create_api_key(
                session, system_actor(workspace.workspace.id), name=role.value, role=role
            )
            headers[role] = {"Authorization": f"Bearer {plain}"}
    return headers


def assert_forbidden(response: httpx.Response) -> None:
    assert response.status_code == 403, response.text
    error = response.json()["error"]
    assert error["code"] == "forbidden"
    assert "ask an admin" in error["message"]


async def test_a_viewer_reads_contacts_but_cannot_send_add_contacts_or_change_settings(
    client: httpx.AsyncClient, keys: dict[Role, dict[str, str]]
) -> None:
    viewer = keys[Role.VIEWER]
    await client.post("/v1/contacts", json={"phone": "+14157230001"})  # by the owner

    send = await client.post(
        "/v1/messages", json={"to": "+14157234567", "body": "Hi"}, headers=viewer
    )
    add = await client.post("/v1/contacts", json={"phone": "+14157234567"}, headers=viewer)
    settings = await client.patch(
        "/v1/workspace/settings", json={"brand_name": "Viewer Co"}, headers=viewer
    )
    contacts = await client.get("/v1/contacts", headers=viewer)

    for refused in (send, add, settings):
        assert_forbidden(refused)
    assert contacts.status_code == 200
    assert [c["phone"] for c in contacts.json()["data"]] == ["+14157230001"]
    assert (await client.get("/v1/messages")).json()["data"] == []
    assert (await client.get("/v1/workspace")).json()["settings"]["brand_name"] is None


async def test_an_agent_sends_but_cannot_import_contacts_or_create_lists(
    client: httpx.AsyncClient, keys: dict[Role, dict[str, str]]
) -> None:
    agent = keys[Role.AGENT]

    send = await client.post(
        "/v1/messages", json={"to": "+14157234567", "body": "Your order shipped"}, headers=agent
    )
    imported = await client.post(
        "/v1/contacts/imports", files={"file": ("contacts.csv", CSV, "text/csv")}, headers=agent
    )
    new_list = await client.post("/v1/lists", json={"name": "VIPs"}, headers=agent)

    assert send.status_code == 202, send.text
    assert_forbidden(imported)
    assert_forbidden(new_list)
    assert (await client.get("/v1/lists")).json()["data"] == []
    phones = [c["phone"] for c in (await client.get("/v1/contacts")).json()["data"]]
    assert phones == ["+14157234567"]  # the recipient of the text, nobody from the file


async def test_a_marketer_builds_audiences_but_cannot_touch_settings_senders_or_routes(
    client: httpx.AsyncClient, keys: dict[Role, dict[str, str]]
) -> None:
    marketer = keys[Role.MARKETER]
    connection = await client.post(
        "/v1/carrier-connections",
        json={"name": "Claro SMPP", "kind": "smpp", "config": SMPP_CONFIG},
    )
    assert connection.status_code == 201, connection.text

    new_list = await client.post("/v1/lists", json={"name": "VIPs"}, headers=marketer)
    contact = await client.post("/v1/contacts", json={"phone": "+14157234567"}, headers=marketer)
    settings = await client.patch(
        "/v1/workspace/settings", json={"brand_name": "Marketer Co"}, headers=marketer
    )
    sender = await client.post(
        "/v1/senders", json={"address": "+14155550199", "kind": "long_code"}, headers=marketer
    )
    route = await client.post(
        "/v1/routes",
        json={"prefix": "1", "connection_id": connection.json()["id"]},
        headers=marketer,
    )

    assert new_list.status_code == 201, new_list.text
    assert contact.status_code == 201, contact.text
    for refused in (settings, sender, route):
        assert_forbidden(refused)
    senders = [s["address"] for s in (await client.get("/v1/senders")).json()["data"]]
    assert "+14155550199" not in senders
    assert (await client.get("/v1/routes")).json()["data"] == []


async def test_an_admin_changes_settings_and_adds_routes(
    client: httpx.AsyncClient, keys: dict[Role, dict[str, str]]
) -> None:
    admin = keys[Role.ADMIN]
    connection = await client.post(
        "/v1/carrier-connections",
        json={"name": "Claro SMPP", "kind": "smpp", "config": SMPP_CONFIG},
        headers=admin,
    )

    settings = await client.patch(
        "/v1/workspace/settings", json={"brand_name": "Acme"}, headers=admin
    )
    route = await client.post(
        "/v1/routes", json={"prefix": "1", "connection_id": connection.json()["id"]}, headers=admin
    )

    assert connection.status_code == 201, connection.text
    assert settings.status_code == 200, settings.text
    assert settings.json()["brand_name"] == "Acme"
    assert (await client.get("/v1/workspace")).json()["settings"]["brand_name"] == "Acme"
    assert route.status_code == 201, route.text
