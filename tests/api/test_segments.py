"""/v1/segments: save, read, change, delete, count while editing, list the contacts; errors."""

from __future__ import annotations

import httpx
import pytest

from recado.domain.roles import Role
from recado.platform import Platform
from recado.services.actor import system_actor
from recado.services.credentials import create_api_key

VIP = {"match": "all", "conditions": [{"field": "tag", "op": "has", "value": "vip"}]}


async def contact(api: httpx.AsyncClient, phone: str, **fields: object) -> dict:
    response = await api.post("/v1/contacts", json={"phone": phone, **fields})
    assert response.status_code == 201, response.text
    return response.json()


async def save(api: httpx.AsyncClient, name: str = "VIPs", definition: dict = VIP) -> dict:
    response = await api.post("/v1/segments", json={"name": name, "definition": definition})
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
async def viewer(platform: Platform, workspace) -> dict[str, str]:
    async with platform.sessions() as session:
        _, key = await create_api_key(
            session, system_actor(workspace.workspace.id), name="viewer", role=Role.VIEWER
        )
    return {"Authorization": f"Bearer {key}"}


async def test_a_saved_segment_reads_back_lists_and_changes(client: httpx.AsyncClient):
    created = await save(client)
    assert created["id"].startswith("seg_")
    assert created["name"] == "VIPs"
    assert created["definition"] == VIP
    assert (await client.get(f"/v1/segments/{created['id']}")).json() == created

    listed = (await client.get("/v1/segments")).json()
    assert [s["id"] for s in listed["data"]] == [created["id"]]
    assert listed["next_cursor"] is None

    changed = await client.patch(
        f"/v1/segments/{created['id']}", json={"name": "Best customers", "description": "VIP"}
    )
    assert changed.status_code == 200
    assert changed.json()["name"] == "Best customers"
    assert changed.json()["definition"] == VIP

    assert (await client.delete(f"/v1/segments/{created['id']}")).status_code == 204
    assert (await client.get(f"/v1/segments/{created['id']}")).status_code == 404


async def test_the_live_counter_counts_an_unsaved_definition(client: httpx.AsyncClient):
    await contact(client, "+12125550101", tags=["vip"])
    await contact(client, "+12125550102", tags=["vip"], attributes={"plan": "gold"})
    await contact(client, "+12125550103")
    response = await client.post("/v1/segments/count", json={"definition": VIP})
    assert response.status_code == 200
    assert response.json() == {"count": 2}
    gold = {
        "conditions": [{"field": "tag", "op": "has", "value": "vip"}],
        "exclude": [{"field": "attribute", "name": "plan", "op": "equals", "value": "gold"}],
    }
    assert (await client.post("/v1/segments/count", json={"definition": gold})).json() == {
        "count": 1
    }
    assert (await client.get("/v1/segments")).json()["data"] == []  # nothing was saved


async def test_a_saved_segment_counts_and_pages_its_contacts(client: httpx.AsyncClient):
    made = [await contact(client, f"+1212555020{i}", tags=["vip"]) for i in range(3)]
    await contact(client, "+12125550299")
    segment = await save(client)
    assert (await client.get(f"/v1/segments/{segment['id']}/count")).json() == {"count": 3}

    first = (await client.get(f"/v1/segments/{segment['id']}/contacts?limit=2")).json()
    second = (
        await client.get(
            f"/v1/segments/{segment['id']}/contacts?limit=2&cursor={first['next_cursor']}"
        )
    ).json()
    assert second["next_cursor"] is None
    shown = [c["id"] for c in first["data"] + second["data"]]
    assert shown == [c["id"] for c in reversed(made)]  # newest first, like /v1/contacts
    assert first["data"][0]["tags"] == ["vip"]
    assert first["data"][0]["phone"] == made[-1]["phone"]


async def test_a_bad_definition_is_a_422_naming_the_bad_part(client: httpx.AsyncClient):
    response = await client.post(
        "/v1/segments",
        json={
            "name": "Big",
            "definition": {
                "conditions": [
                    {"field": "tag", "op": "has", "value": "vip"},
                    {"match": "any", "conditions": [{"field": "attribute", "name": "seats"}]},
                ]
            },
        },
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["field"] == "definition.conditions[1].conditions[0].op"
    assert "is not one of equals" in error["message"]
    counted = await client.post(
        "/v1/segments/count", json={"definition": {"match": "most", "conditions": []}}
    )
    assert counted.status_code == 422
    assert counted.json()["error"]["field"] == "definition.match"


async def test_a_list_of_nobody_is_a_422_not_an_empty_count(client: httpx.AsyncClient):
    missing = "lst_" + "0" * 26
    response = await client.post(
        "/v1/segments/count",
        json={"definition": {"conditions": [{"field": "list", "op": "in", "value": missing}]}},
    )
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "definition.conditions[0].value"


async def test_a_duplicate_name_is_a_409(client: httpx.AsyncClient):
    await save(client)
    response = await client.post("/v1/segments", json={"name": "VIPs", "definition": {}})
    assert response.status_code == 409
    assert response.json()["error"]["field"] == "name"


async def test_another_workspaces_segment_is_a_404(
    client: httpx.AsyncClient, platform: Platform, other_workspace
):
    rival = httpx.AsyncClient(
        transport=client._transport,
        base_url="http://recado.test",
        headers={"Authorization": f"Bearer {other_workspace.api_key}"},
    )
    async with rival:
        theirs = await save(rival, "Rival VIPs")
    segment_id = theirs["id"]
    for method, path in (
        ("GET", f"/v1/segments/{segment_id}"),
        ("PATCH", f"/v1/segments/{segment_id}"),
        ("DELETE", f"/v1/segments/{segment_id}"),
        ("GET", f"/v1/segments/{segment_id}/count"),
        ("GET", f"/v1/segments/{segment_id}/contacts"),
    ):
        response = await client.request(method, path, json={} if method == "PATCH" else None)
        assert response.status_code == 404, (method, path)
        assert response.json()["error"]["code"] == "not_found"


async def test_a_viewer_may_count_but_not_save(client: httpx.AsyncClient, viewer):
    assert (
        await client.post("/v1/segments/count", json={"definition": VIP}, headers=viewer)
    ).status_code == 200
    response = await client.post(
        "/v1/segments", json={"name": "Mine", "definition": VIP}, headers=viewer
    )
    assert response.status_code == 403
