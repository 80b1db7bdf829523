"""/v1/templates: the library, saved templates, preview and lint, roles and isolation."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from recado.api import templates as templates_api
from recado.api.app import create_app
from recado.domain.roles import Role
from recado.platform import Platform
from recado.services.actor import system_actor
from recado.services.credentials import create_api_key
from recado.services.workspaces import NewWorkspace

NY = "+12125550123"
CART = "{{ brand }}: Hi {{ first_name | default('there') }}, your cart: {{ cart_url }}"


def _app(platform: Platform):  # type: ignore[no-untyped-def]
    app = create_app(platform, start_workers=False)
    # Until app.py includes the router, include it here; afterwards this does nothing.
    if not any(getattr(r, "path", "").startswith("/v1/templates") for r in app.routes):
        app.include_router(templates_api.router)
    return app


async def _client(platform: Platform, key: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=_app(platform)),
        base_url="http://recado.test",
        headers={"Authorization": f"Bearer {key}"},
    ) as api:
        yield api


@pytest.fixture
async def api(platform: Platform, workspace: NewWorkspace) -> AsyncIterator[httpx.AsyncClient]:
    async for client in _client(platform, workspace.api_key):
        yield client


@pytest.fixture
async def viewer(platform: Platform, workspace: NewWorkspace) -> AsyncIterator[httpx.AsyncClient]:
    async with platform.sessions() as session:
        _, key = await create_api_key(
            session, system_actor(workspace.workspace.id), name="viewer", role=Role.VIEWER
        )
    async for client in _client(platform, key):
        yield client


@pytest.fixture
async def rival(
    platform: Platform, other_workspace: NewWorkspace
) -> AsyncIterator[httpx.AsyncClient]:
    async for client in _client(platform, other_workspace.api_key):
        yield client


async def save(api: httpx.AsyncClient, **fields: object) -> dict:
    payload = {"name": "Cart", "language": "en", "body": CART, **fields}
    response = await api.post("/v1/templates", json=payload)
    assert response.status_code == 201, response.text
    return response.json()


# --- the library -------------------------------------------------------------------------------


async def test_the_library_lists_every_template_and_filters(api: httpx.AsyncClient):
    everything = (await api.get("/v1/templates/library")).json()
    assert len(everything) == 36
    assert {e["language"] for e in everything} == {"en", "pt-BR", "es"}
    carts = await api.get(
        "/v1/templates/library", params={"use_case": "abandoned_cart", "language": "pt"}
    )
    assert [(e["id"], e["language"]) for e in carts.json()] == [
        ("abandoned_cart_1", "pt-BR"),
        ("abandoned_cart_2", "pt-BR"),
        ("abandoned_cart_3", "pt-BR"),
    ]
    entry = carts.json()[0]
    assert entry["category"] == "marketing" and entry["body"].startswith("{{ brand }}")
    assert "cart_url" in entry["variables"] and entry["sample"]["cart_url"]


async def test_one_library_template_in_every_language_or_one(api: httpx.AsyncClient):
    otp = (await api.get("/v1/templates/library/otp")).json()
    assert [e["language"] for e in otp] == ["en", "pt-BR", "es"]
    spanish = (await api.get("/v1/templates/library/otp", params={"language": "es"})).json()
    assert [e["language"] for e in spanish] == ["es"]
    missing = await api.get("/v1/templates/library/nope")
    assert missing.status_code == 404 and "abandoned_cart_1" in missing.json()["error"]["message"]


async def test_the_library_needs_an_api_key(platform: Platform, workspace: NewWorkspace):
    async for anonymous in _client(platform, "nope"):
        assert (await anonymous.get("/v1/templates/library")).status_code == 401


# --- saved templates ---------------------------------------------------------------------------


async def test_create_read_list_update_and_delete(api: httpx.AsyncClient):
    created = await save(api, use_case="abandoned_cart")
    assert created["id"].startswith("tpl_")
    assert created["variables"] == {
        "names": ["brand", "first_name", "cart_url"],
        "with_default": ["first_name"],
        "required": ["brand", "cart_url"],
    }
    assert (await api.get(f"/v1/templates/{created['id']}")).json() == created
    listed = (await api.get("/v1/templates", params={"use_case": "abandoned_cart"})).json()
    assert [t["id"] for t in listed["data"]] == [created["id"]]
    patched = await api.patch(
        f"/v1/templates/{created['id']}", json={"name": "Cart 2", "use_case": None}
    )
    assert patched.status_code == 200, patched.text
    assert (patched.json()["name"], patched.json()["use_case"]) == ("Cart 2", None)
    assert patched.json()["body"] == CART
    assert (await api.delete(f"/v1/templates/{created['id']}")).status_code == 204
    assert (await api.get(f"/v1/templates/{created['id']}")).status_code == 404


async def test_a_syntax_error_is_a_422_naming_the_line(api: httpx.AsyncClient):
    response = await api.post(
        "/v1/templates",
        json={"name": "Bad", "language": "en", "body": "Hi\n{{ first_name }\nBye"},
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "template_syntax_error"
    assert error["field"] == "body"
    assert error["message"].startswith("Line 2:")
    saved = await save(api)
    patched = await api.patch(f"/v1/templates/{saved['id']}", json={"body": "{% if x %}"})
    assert patched.status_code == 422 and patched.json()["error"]["message"].startswith("Line 1:")


async def test_a_name_is_unique_per_language_and_cannot_be_cleared(api: httpx.AsyncClient):
    saved = await save(api)
    await save(api, language="es")
    duplicate = await api.post(
        "/v1/templates", json={"name": "Cart", "language": "en", "body": "x"}
    )
    assert duplicate.status_code == 409
    cleared = await api.patch(f"/v1/templates/{saved['id']}", json={"name": None})
    assert cleared.status_code == 422 and cleared.json()["error"]["field"] == "name"
    extra = await api.post(
        "/v1/templates", json={"name": "X", "language": "en", "body": "x", "y": 1}
    )
    assert extra.status_code == 422


async def test_another_workspaces_templates_are_not_found(
    api: httpx.AsyncClient, rival: httpx.AsyncClient
):
    theirs = await save(rival)
    assert (await api.get(f"/v1/templates/{theirs['id']}")).status_code == 404
    assert (await api.patch(f"/v1/templates/{theirs['id']}", json={"body": "x"})).status_code == 404
    assert (await api.delete(f"/v1/templates/{theirs['id']}")).status_code == 404
    assert (await api.get("/v1/templates")).json()["data"] == []
    assert (await rival.get(f"/v1/templates/{theirs['id']}")).status_code == 200


async def test_a_viewer_may_read_and_preview_but_not_write(
    api: httpx.AsyncClient, viewer: httpx.AsyncClient
):
    saved = await save(api)
    assert (await viewer.get(f"/v1/templates/{saved['id']}")).status_code == 200
    assert len((await viewer.get("/v1/templates")).json()["data"]) == 1
    assert (await viewer.get("/v1/templates/library")).status_code == 200
    preview = await viewer.post(
        "/v1/templates/preview", json={"body": "hi", "category": "transactional"}
    )
    assert preview.status_code == 200
    for response in (
        await viewer.post("/v1/templates", json={"name": "V", "language": "en", "body": "x"}),
        await viewer.patch(f"/v1/templates/{saved['id']}", json={"body": "y"}),
        await viewer.delete(f"/v1/templates/{saved['id']}"),
    ):
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "forbidden"


# --- preview and lint --------------------------------------------------------------------------


async def test_preview_for_a_contact_without_a_first_name(api: httpx.AsyncClient):
    contact = (await api.post("/v1/contacts", json={"phone": NY})).json()
    named = (
        await api.post("/v1/contacts", json={"phone": "+14155550123", "first_name": "Ana"})
    ).json()
    response = await api.post(
        "/v1/templates/preview",
        json={
            "body": CART,
            "contact_id": contact["id"],
            "category": "marketing",
            "context": {"cart_url": "https://go.acme.co/c/1"},
        },
    )
    assert response.status_code == 200, response.text
    preview = response.json()
    assert preview["contact"]["text"] == (
        "Acme: Hi there, your cart: https://go.acme.co/c/1\nReply STOP to opt out"
    )
    assert preview["contact"]["ok"] is True
    assert (preview["contact"]["parts"], preview["contact"]["encoding"]) == (1, "GSM-7")
    assert preview["contact"]["price_estimate"] == "0.0079"
    assert preview["contact"]["currency"] == "USD"
    assert [r["contact_id"] for r in preview["recipients"]] == [contact["id"], named["id"]]
    assert preview["recipients"][1]["text"].startswith("Acme: Hi Ana,")
    assert preview["broken"] == []
    assert preview["cost"] == {
        "messages": 2,
        "parts": 2,
        "totals": {"USD": "0.0158"},
        "unpriced": 0,
    }
    assert preview["example"]["text"].startswith("Acme: Hi Maria")
    assert preview["variables"]["required"] == ["brand", "cart_url"]


async def test_preview_flags_the_recipients_who_would_not_be_sent(api: httpx.AsyncClient):
    contact = (await api.post("/v1/contacts", json={"phone": NY})).json()
    response = await api.post("/v1/templates/preview", json={"body": CART, "category": "marketing"})
    assert response.status_code == 200
    preview = response.json()
    assert preview["recipients"] == []
    assert [(r["contact_id"], r["missing"], r["ok"]) for r in preview["broken"]] == [
        (contact["id"], ["cart_url"], False)
    ]
    assert preview["broken"][0]["price_estimate"] is None
    assert preview["cost"]["messages"] == 0 and preview["cost"]["totals"] == {}
    assert "variable_without_default" in [f["code"] for f in preview["findings"]]


async def test_preview_refuses_a_broken_body_and_an_unknown_contact(api: httpx.AsyncClient):
    broken = await api.post(
        "/v1/templates/preview", json={"body": "a\nb\n{{ x", "category": "marketing"}
    )
    assert broken.status_code == 422
    assert broken.json()["error"]["message"].startswith("Line 3:")
    unknown = await api.post(
        "/v1/templates/preview",
        json={"body": "hi", "category": "marketing", "contact_id": "ct_00000000000000000000000000"},
    )
    assert unknown.status_code == 404
    too_many = await api.post(
        "/v1/templates/preview", json={"body": "hi", "category": "marketing", "sample_size": 101}
    )
    assert too_many.status_code == 422


async def test_preview_does_not_reach_another_workspaces_contacts(
    api: httpx.AsyncClient, rival: httpx.AsyncClient
):
    theirs = (await rival.post("/v1/contacts", json={"phone": NY})).json()
    response = await api.post(
        "/v1/templates/preview",
        json={"body": "hi", "category": "transactional", "contact_id": theirs["id"]},
    )
    assert response.status_code == 404
    sample = await api.post(
        "/v1/templates/preview", json={"body": "hi", "category": "transactional"}
    )
    assert sample.json()["recipients"] == []


async def test_lint_returns_findings_even_for_a_broken_draft(api: httpx.AsyncClient):
    clean = await api.post(
        "/v1/templates/lint",
        json={
            "body": "{{ brand }}: Hi {{ first_name | default('there') }}",
            "category": "marketing",
        },
    )
    assert clean.status_code == 200 and clean.json() == {"findings": []}
    shouting = await api.post(
        "/v1/templates/lint", json={"body": "Acme: HUGE SALE at bit.ly/x", "category": "marketing"}
    )
    codes = [f["code"] for f in shouting.json()["findings"]]
    assert "public_shortener" in codes and "all_caps" in codes
    broken = await api.post("/v1/templates/lint", json={"body": "{{ x", "category": "marketing"})
    assert broken.status_code == 200
    first = broken.json()["findings"][0]
    assert (first["severity"], first["code"], first["details"]) == (
        "error",
        "template_syntax",
        {"line": 1},
    )


async def test_lint_flags_an_unshortened_url_without_a_short_domain(api: httpx.AsyncClient):
    # The default setup: no short_domain, so short links live on Recado's own URL.
    assert (await api.get("/v1/workspace")).json()["settings"]["short_domain"] is None
    body = "Acme: our new menu is at https://acme.example/menu/summer-2026"

    linted = await api.post("/v1/templates/lint", json={"body": body, "category": "marketing"})
    previewed = await api.post(
        "/v1/templates/preview", json={"body": body, "category": "marketing"}
    )
    own = await api.post(
        "/v1/templates/lint",
        json={"body": "Acme: menu at http://127.0.0.1:8000/l/x7Kp2Q", "category": "marketing"},
    )

    finding = next(f for f in linted.json()["findings"] if f["code"] == "url_not_shortened")
    assert finding["details"]["url"] == "https://acme.example/menu/summer-2026"
    assert finding["fix"] == "Shorten it on 127.0.0.1."  # the test settings' public URL
    assert "url_not_shortened" in [f["code"] for f in previewed.json()["findings"]]
    assert own.json()["findings"] == []  # a link already on Recado's own host is short


async def test_with_a_short_domain_lint_points_at_it(api: httpx.AsyncClient):
    await api.patch("/v1/workspace/settings", json={"short_domain": "go.acme.co"})

    linted = await api.post(
        "/v1/templates/lint",
        json={"body": "Acme: menu at https://acme.example/menu", "category": "marketing"},
    )
    short = await api.post(
        "/v1/templates/lint",
        json={"body": "Acme: menu at https://go.acme.co/l/x7Kp2Q", "category": "marketing"},
    )

    finding = next(f for f in linted.json()["findings"] if f["code"] == "url_not_shortened")
    assert finding["fix"] == "Shorten it on go.acme.co."
    assert short.json()["findings"] == []


async def a_list_of_50(api: httpx.AsyncClient, *, unnamed: int) -> tuple[str, list[str]]:
    """A list whose 50 subscribed members all have a first name but the last `unnamed`;
    the ids of its members in id order."""
    ids = []
    for i in range(50):
        fields = {"first_name": f"Ana{i}"} if i < 50 - unnamed else {}
        created = await api.post("/v1/contacts", json={"phone": f"+1415723{i:04d}", **fields})
        assert created.status_code == 201, created.text
        ids.append(created.json()["id"])
    the_list = (await api.post("/v1/lists", json={"name": "Summer"})).json()
    added = await api.post(f"/v1/lists/{the_list['id']}/members", json={"contact_ids": ids})
    assert added.json()["added"] == 50, added.text
    return the_list["id"], sorted(ids)


async def test_preview_of_a_list_prices_every_member_and_shows_a_sample(
    api: httpx.AsyncClient,
):
    list_id, members = await a_list_of_50(api, unnamed=2)
    # Neither an unsubscribed member nor a contact off the list is part of the audience.
    outsider = (await api.post("/v1/contacts", json={"phone": "+14157239998"})).json()
    left = (await api.post("/v1/contacts", json={"phone": "+14157239999"})).json()
    await api.post(
        f"/v1/lists/{list_id}/members",
        json={"contact_ids": [left["id"]], "status": "unsubscribed"},
    )

    response = await api.post(
        "/v1/templates/preview",
        json={
            "body": "{{ brand }}: Hi {{ first_name }}, summer sale today",
            "category": "marketing",
            "list_id": list_id,
            "sample_size": 10,
        },
    )

    assert response.status_code == 200, response.text
    preview = response.json()
    assert preview["audience"] == {"list_id": list_id, "members": 50, "sendable": 48, "broken": 2}
    # Every sendable member is priced, not only the ten shown: 48 one-part texts to the US.
    assert preview["cost"] == {
        "messages": 48,
        "parts": 48,
        "totals": {"USD": "0.3792"},
        "unpriced": 0,
    }
    assert [r["contact_id"] for r in preview["recipients"]] == members[:10]
    assert [(r["missing"], r["ok"]) for r in preview["broken"]] == [(["first_name"], False)] * 2
    shown = {r["contact_id"] for r in preview["recipients"] + preview["broken"]}
    assert not shown & {outsider["id"], left["id"]}


async def test_a_list_preview_counts_members_whose_text_comes_out_empty(
    api: httpx.AsyncClient,
):
    list_id, _ = await a_list_of_50(api, unnamed=3)

    response = await api.post(
        "/v1/templates/preview",
        json={
            "body": "{% if first_name %}Your table is ready, {{ first_name }}{% endif %}",
            "category": "transactional",
            "list_id": list_id,
            "sample_size": 0,
        },
    )

    preview = response.json()
    assert preview["audience"] == {"list_id": list_id, "members": 50, "sendable": 47, "broken": 3}
    assert (preview["cost"]["messages"], preview["cost"]["totals"]) == (47, {"USD": "0.3713"})
    assert preview["recipients"] == [] and preview["broken"] == []  # sample_size 0: totals only


async def test_a_list_preview_shows_the_asked_for_contact_first(api: httpx.AsyncClient):
    list_id, members = await a_list_of_50(api, unnamed=0)

    preview = (
        await api.post(
            "/v1/templates/preview",
            json={
                "body": "Hi {{ first_name }}",
                "category": "transactional",
                "list_id": list_id,
                "contact_id": members[7],
                "sample_size": 3,
            },
        )
    ).json()

    assert [r["contact_id"] for r in preview["recipients"]] == [members[7], *members[:3]]
    assert preview["audience"]["members"] == preview["cost"]["messages"] == 50


async def test_a_list_preview_of_another_workspaces_list_is_not_found(
    api: httpx.AsyncClient, rival: httpx.AsyncClient
):
    theirs = (await rival.post("/v1/lists", json={"name": "Theirs"})).json()

    response = await api.post(
        "/v1/templates/preview",
        json={"body": "hi", "category": "transactional", "list_id": theirs["id"]},
    )

    assert response.status_code == 404
    assert response.json()["error"]["field"] == "list_id"
