"""/v1/lists: lists, members and their status, roles and isolation between workspaces."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from recado.domain.roles import Role
from recado.platform import Platform
from recado.services.actor import system_actor
from recado.services.credentials import create_api_key

NY = "+12125550123"
SP = "+5511912345678"


async def new_list(api: httpx.AsyncClient, name: str = "Newsletter", **fields: object) -> dict:
    response = await api.post("/v1/lists", json={"name": name, **fields})
    assert response.status_code == 201, response.text
    return response.json()


async def new_contact(api: httpx.AsyncClient, phone: str = NY) -> dict:
    response = await api.post("/v1/contacts", json={"phone": phone})
    assert response.status_code == 201, response.text
    return response.json()


async def add(api: httpx.AsyncClient, list_id: str, **payload: object) -> httpx.Response:
    return await api.post(f"/v1/lists/{list_id}/members", json=payload)


@pytest.fixture
async def viewer(platform: Platform, workspace) -> dict[str, str]:
    async with platform.sessions() as session:
        _, key = await create_api_key(
            session, system_actor(workspace.workspace.id), name="viewer", role=Role.VIEWER
        )
    return {"Authorization": f"Bearer {key}"}


# --- lists -----------------------------------------------------------------------------------


async def test_create_read_and_list_lists(client: httpx.AsyncClient):
    created = await new_list(client, description="Weekly news")
    assert created["id"].startswith("lst_")
    assert created["members"] == {
        "subscribed": 0,
        "unsubscribed": 0,
        "pending": 0,
        "opted_out": 0,
        "total": 0,
    }
    assert (await client.get(f"/v1/lists/{created['id']}")).json() == created
    other = await new_list(client, "Promotions")
    listed = (await client.get("/v1/lists")).json()
    assert [entry["id"] for entry in listed["data"]] == sorted(
        [created["id"], other["id"]], reverse=True
    )
    first = (await client.get("/v1/lists", params={"limit": 1})).json()
    second = (
        await client.get("/v1/lists", params={"limit": 1, "cursor": first["next_cursor"]})
    ).json()
    assert len(first["data"]) == len(second["data"]) == 1
    assert second["next_cursor"] is None


async def test_a_list_name_is_unique_in_the_workspace(client: httpx.AsyncClient):
    first = await new_list(client)
    again = await client.post("/v1/lists", json={"name": " Newsletter "})
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "conflict"
    assert first["id"] in again.json()["error"]["message"]
    other = await new_list(client, "Other")
    rename = await client.patch(f"/v1/lists/{other['id']}", json={"name": "Newsletter"})
    assert rename.status_code == 409


async def test_rename_and_describe(client: httpx.AsyncClient):
    the_list = await new_list(client, description="old")
    path = f"/v1/lists/{the_list['id']}"
    renamed = (await client.patch(path, json={"name": "Weekly"})).json()
    assert (renamed["name"], renamed["description"]) == ("Weekly", "old")
    cleared = (await client.patch(path, json={"description": None})).json()
    assert (cleared["name"], cleared["description"]) == ("Weekly", None)
    nameless = await client.patch(path, json={"name": None})
    assert nameless.status_code == 422
    assert nameless.json()["error"]["field"] == "name"


async def test_delete_a_list_keeps_its_contacts(client: httpx.AsyncClient, scalar):
    the_list = await new_list(client)
    contact = await new_contact(client)
    await add(client, the_list["id"], contact_ids=[contact["id"]])
    assert (await client.delete(f"/v1/lists/{the_list['id']}")).status_code == 204
    assert (await client.get(f"/v1/lists/{the_list['id']}")).status_code == 404
    assert await scalar("SELECT count(*) FROM list_members") == 0
    assert (await client.get(f"/v1/contacts/{contact['id']}")).json()["lists"] == []


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "x" * 10_000}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "two\nlines"}, "name"),
        ({"name": "nul\x00"}, "name"),
        ({"name": "ok", "description": "x" * 3000}, "description"),
        ({"name": "ok", "colour": "red"}, "colour"),
        ({}, "name"),
    ],
)
async def test_bad_list_input_is_a_422(
    client: httpx.AsyncClient, payload: dict, field: str, scalar
):
    response = await client.post("/v1/lists", json=payload)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field
    assert await scalar("SELECT count(*) FROM lists") == 0


# --- members ---------------------------------------------------------------------------------


async def test_add_members_by_id_and_phone_reports_each_outcome(client: httpx.AsyncClient, scalar):
    the_list = await new_list(client)
    known = await new_contact(client)
    response = await add(
        client,
        the_list["id"],
        contact_ids=[known["id"], "ct_00000000000000000000000000", "junk"],
        phones=["(212) 555-0123", SP, "12345"],
    )
    assert response.status_code == 200
    result = response.json()
    assert result["added"] == 2  # the known contact and a new one for SP
    assert result["already_present"] == 1  # the known contact again, by its number
    assert [r["value"] for r in result["rejected"]] == [
        "ct_00000000000000000000000000",
        "junk",
        "12345",
    ]
    assert "12345" in result["rejected"][2]["reason"]
    assert await scalar("SELECT count(*) FROM contacts") == 2
    again = (await add(client, the_list["id"], phones=[SP])).json()
    assert (again["added"], again["already_present"]) == (0, 1)
    counts = (await client.get(f"/v1/lists/{the_list['id']}")).json()["members"]
    assert counts == {"subscribed": 2, "unsubscribed": 0, "pending": 0, "opted_out": 0, "total": 2}


async def test_adding_an_unsubscribed_member_again_keeps_them_unsubscribed(
    client: httpx.AsyncClient,
):
    the_list = await new_list(client)
    contact = await new_contact(client)
    await add(client, the_list["id"], contact_ids=[contact["id"]])
    path = f"/v1/lists/{the_list['id']}/members/{contact['id']}"
    changed = await client.patch(path, json={"status": "unsubscribed"})
    assert changed.status_code == 200
    assert changed.json()["status"] == "unsubscribed"
    again = (await add(client, the_list["id"], contact_ids=[contact["id"]])).json()
    assert again["already_present"] == 1
    members = (await client.get(f"/v1/lists/{the_list['id']}/members")).json()["data"]
    assert [m["status"] for m in members] == ["unsubscribed"]
    read = (await client.get(f"/v1/contacts/{contact['id']}")).json()
    assert read["lists"][0]["status"] == "unsubscribed"


async def test_members_page_and_filter_by_status(client: httpx.AsyncClient):
    the_list = await new_list(client)
    phones = [f"+1212555{n:04d}" for n in range(130, 135)]
    await add(client, the_list["id"], phones=phones)
    await add(client, the_list["id"], phones=[SP], status="pending")
    path = f"/v1/lists/{the_list['id']}/members"
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await client.get(path, params=params)).json()
        seen += [m["contact_id"] for m in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 6
    assert seen == sorted(seen, reverse=True)
    pending = (await client.get(path, params={"status": "pending"})).json()["data"]
    assert [m["phone"] for m in pending] == [SP]
    bad = await client.get(path, params={"status": "gone"})
    assert bad.status_code == 422
    assert "subscribed, unsubscribed, pending" in bad.json()["error"]["message"]


async def test_remove_a_member_keeps_the_contact(client: httpx.AsyncClient):
    the_list = await new_list(client)
    contact = await new_contact(client)
    await add(client, the_list["id"], contact_ids=[contact["id"]])
    path = f"/v1/lists/{the_list['id']}/members/{contact['id']}"
    assert (await client.delete(path)).status_code == 204
    assert (await client.delete(path)).status_code == 404
    assert (await client.get(f"/v1/contacts/{contact['id']}")).status_code == 200
    assert (await client.get(f"/v1/lists/{the_list['id']}")).json()["members"]["total"] == 0


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "contact_ids"),
        ({"contact_ids": ["x"] * 1001}, "contact_ids"),
        ({"contact_ids": ["x"] * 600, "phones": ["y"] * 600}, "contact_ids"),
        ({"phones": [NY], "status": "maybe"}, "status"),
        ({"phones": NY}, "phones"),
        ({"phones": [NY], "extra": 1}, "extra"),
    ],
)
async def test_bad_member_requests_are_a_422(client: httpx.AsyncClient, payload: dict, field: str):
    the_list = await new_list(client)
    response = await add(client, the_list["id"], **payload)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field


async def test_member_status_must_be_a_known_one(client: httpx.AsyncClient):
    the_list = await new_list(client)
    contact = await new_contact(client)
    await add(client, the_list["id"], contact_ids=[contact["id"]])
    path = f"/v1/lists/{the_list['id']}/members/{contact['id']}"
    assert (await client.patch(path, json={"status": "gone"})).status_code == 422
    stranger = await new_contact(client, SP)
    other = f"/v1/lists/{the_list['id']}/members/{stranger['id']}"
    assert (await client.patch(other, json={"status": "pending"})).status_code == 404


# --- roles -----------------------------------------------------------------------------------


async def test_a_viewer_reads_but_cannot_write(client: httpx.AsyncClient, viewer: dict):
    the_list = await new_list(client)
    contact = await new_contact(client)
    await add(client, the_list["id"], contact_ids=[contact["id"]])
    path = f"/v1/lists/{the_list['id']}"
    member = f"{path}/members/{contact['id']}"
    for read in ("/v1/lists", path, f"{path}/members"):
        assert (await client.get(read, headers=viewer)).status_code == 200, read
    writes = [
        client.post("/v1/lists", json={"name": "Mine"}, headers=viewer),
        client.patch(path, json={"name": "Renamed"}, headers=viewer),
        client.post(f"{path}/members", json={"phones": [SP]}, headers=viewer),
        client.patch(member, json={"status": "unsubscribed"}, headers=viewer),
        client.delete(member, headers=viewer),
        client.delete(path, headers=viewer),
    ]
    for write in writes:
        response = await write
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "forbidden"
    assert (await client.get(path)).json()["members"]["subscribed"] == 1


# --- isolation -------------------------------------------------------------------------------


async def test_another_workspace_gets_404_on_every_list_endpoint(
    client: httpx.AsyncClient, other_workspace, scalar
):
    the_list = await new_list(client)
    contact = await new_contact(client)
    await add(client, the_list["id"], contact_ids=[contact["id"]])
    rival = {"Authorization": f"Bearer {other_workspace.api_key}"}
    path = f"/v1/lists/{the_list['id']}"
    member = f"{path}/members/{contact['id']}"
    requests = [
        client.get(path, headers=rival),
        client.patch(path, json={"name": "Taken"}, headers=rival),
        client.get(f"{path}/members", headers=rival),
        client.post(f"{path}/members", json={"phones": [SP]}, headers=rival),
        client.patch(member, json={"status": "unsubscribed"}, headers=rival),
        client.delete(member, headers=rival),
        client.delete(path, headers=rival),
        client.get("/v1/contacts", params={"list_id": the_list["id"]}, headers=rival),
    ]
    for request in requests:
        response = await request
        assert response.status_code == 404, response.request.url
    assert (await client.get("/v1/lists", headers=rival)).json()["data"] == []
    # Names are unique per workspace only.
    same_name = await client.post("/v1/lists", json={"name": "Newsletter"}, headers=rival)
    assert same_name.status_code == 201
    assert await scalar("SELECT count(*) FROM list_members") == 1
    assert await scalar("SELECT count(*) FROM contacts") == 1


async def test_a_contact_of_another_workspace_cannot_join_a_list(
    client: httpx.AsyncClient, other_workspace, scalar
):
    contact = await new_contact(client)
    rival = {"Authorization": f"Bearer {other_workspace.api_key}"}
    theirs = await client.post("/v1/lists", json={"name": "Theirs"}, headers=rival)
    response = await client.post(
        f"/v1/lists/{theirs.json()['id']}/members",
        json={"contact_ids": [contact["id"]]},
        headers=rival,
    )
    assert response.status_code == 200
    result = response.json()
    assert result["added"] == 0
    assert [r["value"] for r in result["rejected"]] == [contact["id"]]
    assert await scalar("SELECT count(*) FROM list_members") == 0


async def test_concurrent_adds_of_one_number_make_one_member(client: httpx.AsyncClient, scalar):
    the_list = await new_list(client)
    responses = await asyncio.gather(*[add(client, the_list["id"], phones=[SP]) for _ in range(5)])
    assert {r.status_code for r in responses} == {200}
    assert sum(r.json()["added"] for r in responses) == 1
    assert sum(r.json()["already_present"] for r in responses) == 4
    assert await scalar("SELECT count(*) FROM contacts") == 1
    assert await scalar("SELECT count(*) FROM list_members") == 1
