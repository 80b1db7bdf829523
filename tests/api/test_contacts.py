"""/v1/contacts: create, read, update, upsert by phone, delete, filters, roles and isolation."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from recado.domain.roles import Role
from recado.platform import Platform
from recado.services.actor import system_actor
from recado.services.credentials import create_api_key

NY = "+12125550123"  # one clock: America/New_York
SP = "+5511912345678"  # São Paulo


async def create(api: httpx.AsyncClient, **fields: object) -> dict:
    response = await api.post("/v1/contacts", json={"phone": NY, **fields})
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
async def viewer(platform: Platform, workspace) -> dict[str, str]:
    """Headers of a viewer key of the `workspace` fixture."""
    async with platform.sessions() as session:
        _, key = await create_api_key(
            session, system_actor(workspace.workspace.id), name="viewer", role=Role.VIEWER
        )
    return {"Authorization": f"Bearer {key}"}


# --- create and read -------------------------------------------------------------------------


async def test_create_normalizes_the_number_and_derives_region_and_zone(
    client: httpx.AsyncClient,
):
    contact = await create(
        client,
        phone="(212) 555-0123",
        first_name=" Ana ",
        last_name="Silva",
        email="ana@example.com",
        language="pt_br",
        tags=["vip", "early adopter", "vip"],
        attributes={"plan": "gold", "seats": 3, "trial": False},
        external_id="crm-1",
    )
    assert contact["id"].startswith("ct_")
    assert contact["phone"] == NY
    assert contact["region"] == "US"
    assert contact["timezone"] == "America/New_York"
    assert contact["timezone_explicit"] is False
    assert contact["first_name"] == "Ana"
    assert contact["language"] == "pt-BR"
    assert contact["tags"] == ["early adopter", "vip"]
    assert contact["attributes"] == {"plan": "gold", "seats": 3, "trial": False}
    assert contact["lists"] == []
    read = (await client.get(f"/v1/contacts/{contact['id']}")).json()
    assert read == contact


async def test_invalid_number_is_a_422_with_the_reason(client: httpx.AsyncClient):
    response = await client.post("/v1/contacts", json={"phone": "12345"})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_phone_number"
    assert error["field"] == "phone"
    assert "12345" in error["message"]


async def test_a_second_contact_with_the_same_number_is_a_409_naming_the_first(
    client: httpx.AsyncClient, scalar
):
    first = await create(client)
    response = await client.post("/v1/contacts", json={"phone": "+1 212-555-0123"})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "conflict"
    assert first["id"] in response.json()["error"]["message"]
    assert await scalar("SELECT count(*) FROM contacts") == 1


async def test_unknown_contact_is_a_404(client: httpx.AsyncClient):
    for path in ("/v1/contacts/ct_00000000000000000000000000", "/v1/contacts/nope%00x"):
        response = await client.get(path)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"


# --- update ----------------------------------------------------------------------------------


async def test_patch_changes_only_the_fields_sent_and_merges_attributes(
    client: httpx.AsyncClient,
):
    contact = await create(
        client, first_name="Ana", email="ana@example.com", attributes={"plan": "gold", "n": 1}
    )
    response = await client.patch(
        f"/v1/contacts/{contact['id']}",
        json={"last_name": "Souza", "email": None, "attributes": {"plan": None, "city": "Rio"}},
    )
    assert response.status_code == 200
    updated = response.json()
    assert updated["first_name"] == "Ana"
    assert updated["last_name"] == "Souza"
    assert updated["email"] is None
    assert updated["attributes"] == {"n": 1, "city": "Rio"}
    assert updated["updated_at"] >= contact["updated_at"]


async def test_patch_tags_replaces_them(client: httpx.AsyncClient, scalar):
    contact = await create(client, tags=["a", "b"])
    updated = (
        await client.patch(f"/v1/contacts/{contact['id']}", json={"tags": ["b", "c"]})
    ).json()
    assert updated["tags"] == ["b", "c"]
    cleared = (await client.patch(f"/v1/contacts/{contact['id']}", json={"tags": None})).json()
    assert cleared["tags"] == []
    assert await scalar("SELECT count(*) FROM contact_tags") == 0


async def test_zone_follows_the_number_until_someone_sets_one(client: httpx.AsyncClient):
    contact = await create(client)
    path = f"/v1/contacts/{contact['id']}"
    moved = (await client.patch(path, json={"phone": SP})).json()
    assert (moved["region"], moved["timezone"]) == ("BR", "America/Sao_Paulo")
    pinned = (await client.patch(path, json={"timezone": "Europe/Lisbon"})).json()
    assert (pinned["timezone"], pinned["timezone_explicit"]) == ("Europe/Lisbon", True)
    moved_again = (await client.patch(path, json={"phone": NY})).json()
    assert moved_again["timezone"] == "Europe/Lisbon"
    assert moved_again["region"] == "US"
    unpinned = (await client.patch(path, json={"timezone": None})).json()
    assert (unpinned["timezone"], unpinned["timezone_explicit"]) == ("America/New_York", False)


async def test_changing_the_number_to_another_contacts_is_a_409(client: httpx.AsyncClient):
    first = await create(client)
    second = await create(client, phone=SP)
    response = await client.patch(f"/v1/contacts/{second['id']}", json={"phone": NY})
    assert response.status_code == 409
    assert first["id"] in response.json()["error"]["message"]


async def test_a_contact_cannot_lose_its_number(client: httpx.AsyncClient):
    contact = await create(client)
    response = await client.patch(f"/v1/contacts/{contact['id']}", json={"phone": None})
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "phone"


async def test_a_failed_update_changes_nothing(client: httpx.AsyncClient):
    contact = await create(client, first_name="Ana")
    response = await client.patch(
        f"/v1/contacts/{contact['id']}", json={"first_name": "Bia", "email": "not-an-email"}
    )
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "email"
    assert (await client.get(f"/v1/contacts/{contact['id']}")).json()["first_name"] == "Ana"


# --- upsert by phone -------------------------------------------------------------------------


async def test_put_by_phone_creates_then_updates(client: httpx.AsyncClient, scalar):
    created = await client.put(
        "/v1/contacts/by-phone/(212) 555-0123",
        json={"first_name": "Ana", "attributes": {"plan": "gold"}},
    )
    assert created.status_code == 201
    assert created.json()["phone"] == NY
    updated = await client.put(
        "/v1/contacts/by-phone/%2B12125550123", json={"attributes": {"seats": 2}}
    )
    assert updated.status_code == 200
    body = updated.json()
    assert body["id"] == created.json()["id"]
    assert body["first_name"] == "Ana"
    assert body["attributes"] == {"plan": "gold", "seats": 2}
    assert await scalar("SELECT count(*) FROM contacts") == 1


async def test_put_by_phone_with_a_bad_number_or_a_phone_field_is_a_422(
    client: httpx.AsyncClient,
):
    bad = await client.put("/v1/contacts/by-phone/12345", json={})
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "invalid_phone_number"
    extra = await client.put(f"/v1/contacts/by-phone/{NY}", json={"phone": SP})
    assert extra.status_code == 422
    assert extra.json()["error"]["field"] == "phone"


# --- delete ----------------------------------------------------------------------------------


async def test_delete_removes_the_contact_its_tags_and_memberships(
    client: httpx.AsyncClient, scalar
):
    contact = await create(client, tags=["vip"])
    the_list = (await client.post("/v1/lists", json={"name": "News"})).json()
    await client.post(f"/v1/lists/{the_list['id']}/members", json={"contact_ids": [contact["id"]]})
    response = await client.delete(f"/v1/contacts/{contact['id']}")
    assert response.status_code == 204
    assert (await client.get(f"/v1/contacts/{contact['id']}")).status_code == 404
    assert await scalar("SELECT count(*) FROM contact_tags") == 0
    assert await scalar("SELECT count(*) FROM list_members") == 0
    assert await scalar("SELECT count(*) FROM lists") == 1
    assert (await client.delete(f"/v1/contacts/{contact['id']}")).status_code == 404


# --- list and filters ------------------------------------------------------------------------


async def test_list_is_newest_first_and_pages_with_a_cursor(client: httpx.AsyncClient):
    phones = [f"+1212555{n:04d}" for n in range(120, 125)]
    ids = [(await create(client, phone=p))["id"] for p in phones]
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/v1/contacts", params=params)).json()
        seen += [c["id"] for c in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(ids, reverse=True)
    bad = await client.get("/v1/contacts", params={"cursor": "'; drop table"})
    assert bad.status_code == 422
    assert bad.json()["error"]["field"] == "cursor"


async def test_filter_by_tag_requires_every_tag_given(client: httpx.AsyncClient):
    both = await create(client, tags=["vip", "rio"])
    await create(client, phone=SP, tags=["vip"])
    vip = (await client.get("/v1/contacts", params={"tag": "vip"})).json()["data"]
    assert len(vip) == 2
    rio_vip = (await client.get("/v1/contacts", params=[("tag", "vip"), ("tag", "rio")])).json()
    assert [c["id"] for c in rio_vip["data"]] == [both["id"]]


async def test_filter_by_attribute_matches_text_numbers_and_booleans(client: httpx.AsyncClient):
    gold = await create(client, attributes={"plan": "gold", "seats": 3, "trial": True})
    await create(client, phone=SP, attributes={"plan": "silver", "seats": 30, "trial": False})

    async def ids(*pairs: str) -> list[str]:
        response = await client.get("/v1/contacts", params=[("attribute", p) for p in pairs])
        assert response.status_code == 200, response.text
        return [c["id"] for c in response.json()["data"]]

    assert await ids("plan:gold") == [gold["id"]]
    assert await ids("seats:3") == [gold["id"]]
    assert await ids("trial:true") == [gold["id"]]
    assert await ids("plan:gold", "trial:false") == []
    assert await ids("missing:x") == []


async def test_filter_by_phone_accepts_any_usual_spelling(client: httpx.AsyncClient):
    contact = await create(client)
    for spelling in ("+12125550123", "(212) 555-0123", "212.555.0123", "1 212 555 0123"):
        found = (await client.get("/v1/contacts", params={"phone": spelling})).json()["data"]
        assert [c["id"] for c in found] == [contact["id"]], spelling
    bad = await client.get("/v1/contacts", params={"phone": "12"})
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "invalid_phone_number"


async def test_filter_by_search_external_id_and_creation_time(client: httpx.AsyncClient):
    ana = await create(client, first_name="Ana", last_name="Silva", external_id="crm-1")
    await create(client, phone=SP, first_name="Bruno", email="bruno@EXAMPLE.com")

    async def names(**params: str) -> list[str | None]:
        response = await client.get("/v1/contacts", params=params)
        assert response.status_code == 200, response.text
        return [c["first_name"] for c in response.json()["data"]]

    assert await names(q="ana silva") == ["Ana"]
    assert await names(q="example.com") == ["Bruno"]
    assert await names(q="%") == []
    assert await names(external_id="crm-1") == ["Ana"]
    assert await names(created_after=ana["created_at"], q="ana") == ["Ana"]
    assert await names(created_before=ana["created_at"]) == []
    assert len(await names(created_before="2999-01-01T00:00:00Z")) == 2


async def test_filter_by_list(client: httpx.AsyncClient):
    member = await create(client)
    await create(client, phone=SP)
    the_list = (await client.post("/v1/lists", json={"name": "News"})).json()
    await client.post(f"/v1/lists/{the_list['id']}/members", json={"contact_ids": [member["id"]]})
    found = (await client.get("/v1/contacts", params={"list_id": the_list["id"]})).json()
    assert [c["id"] for c in found["data"]] == [member["id"]]
    assert found["data"][0]["lists"] == [
        {
            "id": the_list["id"],
            "name": "News",
            "status": "subscribed",
            "added_at": found["data"][0]["lists"][0]["added_at"],
        }
    ]
    unknown = await client.get("/v1/contacts", params={"list_id": "lst_nope"})
    assert unknown.status_code == 404


@pytest.mark.parametrize(
    ("params", "field", "hint"),
    [
        ({"attribute": "plan"}, "attribute", "name:value"),
        ({"attribute": "1bad:x"}, "attribute", "name:value"),
        ({"created_after": "yesterday"}, "created_after", "2026-03-01T00:00:00Z"),
        ({"created_after": "2026-03-01T00:00:00"}, "created_after", "zone"),
        ({"tag": "a\nb"}, "tag", "line break"),
        ({"tag": " "}, "tag", "tag=vip"),
        ({"q": "x" * 500}, "q", "longer than"),
        ({"q": "a\x00b"}, "q", "control character"),
        ({"limit": 0}, "limit", ""),
    ],
)
async def test_bad_filters_are_a_422_saying_what_to_write(
    client: httpx.AsyncClient, params: dict, field: str, hint: str
):
    response = await client.get("/v1/contacts", params=params)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["field"] == field
    assert hint in error["message"]


# --- nasty input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"first_name": "x" * 10_000}, "first_name"),
        ({"first_name": "Ana\x00"}, "first_name"),
        ({"attributes": {"1bad": "x"}}, "attributes"),
        ({"attributes": {"phone": "x"}}, "attributes"),
        ({"attributes": {"nested": {"a": 1}}}, "attributes"),
        ({"attributes": {"huge": 10**30}}, "attributes"),
        ({"attributes": {"long": "x" * 5000}}, "attributes"),
        ({"attributes": {f"k{i}": i for i in range(101)}}, "attributes"),
        ({"tags": ["vip\nnew"]}, "tags"),
        ({"tags": [f"t{i}" for i in range(51)]}, "tags"),
        ({"email": "nope"}, "email"),
        ({"language": "english!"}, "language"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"favourite_colour": "blue"}, "favourite_colour"),
        ({"first_name": 12}, "first_name"),
        ({"tags": "vip"}, "tags"),
    ],
)
async def test_nasty_input_is_a_422_never_a_500(
    client: httpx.AsyncClient, payload: dict, field: str, scalar
):
    response = await client.post("/v1/contacts", json={"phone": NY, **payload})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field
    assert await scalar("SELECT count(*) FROM contacts") == 0


async def test_non_finite_numbers_are_refused(client: httpx.AsyncClient):
    response = await client.post(
        "/v1/contacts",
        content=b'{"phone": "+12125550123", "attributes": {"score": NaN}}',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "attributes"


async def test_huge_path_and_phone_are_answered_cleanly(client: httpx.AsyncClient):
    assert (await client.get("/v1/contacts/" + "x" * 5000)).status_code == 404
    response = await client.post("/v1/contacts", json={"phone": "1" * 10_000})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_phone_number"


# --- roles -----------------------------------------------------------------------------------


async def test_a_viewer_reads_but_cannot_write(client: httpx.AsyncClient, viewer: dict):
    contact = await create(client)
    path = f"/v1/contacts/{contact['id']}"
    assert (await client.get(path, headers=viewer)).status_code == 200
    assert (await client.get("/v1/contacts", headers=viewer)).status_code == 200
    writes = [
        client.post("/v1/contacts", json={"phone": SP}, headers=viewer),
        client.patch(path, json={"first_name": "X"}, headers=viewer),
        client.put(f"/v1/contacts/by-phone/{SP}", json={}, headers=viewer),
        client.delete(path, headers=viewer),
    ]
    for write in writes:
        response = await write
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "forbidden"
    assert (await client.get(path)).json()["first_name"] is None


# --- isolation -------------------------------------------------------------------------------


async def test_another_workspace_cannot_see_or_change_the_contact(
    client: httpx.AsyncClient, other_workspace, scalar
):
    contact = await create(client, first_name="Ana", external_id="crm-1", tags=["vip"])
    rival = {"Authorization": f"Bearer {other_workspace.api_key}"}
    path = f"/v1/contacts/{contact['id']}"
    assert (await client.get(path, headers=rival)).status_code == 404
    assert (await client.patch(path, json={"first_name": "X"}, headers=rival)).status_code == 404
    assert (await client.delete(path, headers=rival)).status_code == 404
    for params in ({}, {"phone": NY}, {"external_id": "crm-1"}, {"tag": "vip"}, {"q": "Ana"}):
        listed = (await client.get("/v1/contacts", params=params, headers=rival)).json()
        assert listed["data"] == [], params
    # The same number is a separate contact in the other workspace, not a conflict.
    theirs = await client.put(f"/v1/contacts/by-phone/{NY}", json={}, headers=rival)
    assert theirs.status_code == 201
    assert theirs.json()["id"] != contact["id"]
    mine = (await client.get(path)).json()
    assert mine["first_name"] == "Ana"
    assert await scalar("SELECT count(*) FROM contacts") == 2


async def test_concurrent_upserts_of_one_number_make_one_contact(client: httpx.AsyncClient, scalar):
    responses = await asyncio.gather(
        *[
            client.put(f"/v1/contacts/by-phone/{NY}", json={"attributes": {f"k{i}": i}})
            for i in range(6)
        ]
    )
    assert sorted(r.status_code for r in responses) == [200] * 5 + [201]
    assert len({r.json()["id"] for r in responses}) == 1
    assert await scalar("SELECT count(*) FROM contacts") == 1
