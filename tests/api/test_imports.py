"""POST /v1/contacts/imports and GET /v1/contacts/export: CSV in and out over HTTP."""

from __future__ import annotations

import csv
import io
import json

import httpx
import pytest

from recado.api import imports as imports_api
from recado.db.tables import ContactList
from recado.domain.roles import Role
from recado.platform import Platform
from recado.services.actor import system_actor
from recado.services.credentials import create_api_key
from recado.services.workspaces import NewWorkspace

CONTACTS = (
    "Telefone;Nome;E-mail;Etiquetas;Plano\n"
    "(11) 91234-5678;Ana;ana@example.com;vip;ouro\n"
    "123;Bia;;;\n"
    "+1 415 723 4567;Carl;;promo;\n"
)


async def upload(
    api: httpx.AsyncClient, content: bytes | str, *, name: str = "contacts.csv", **fields: str
) -> httpx.Response:
    data = content.encode() if isinstance(content, str) else content
    return await api.post(
        "/v1/contacts/imports", files={"file": (name, data, "text/csv")}, data=fields
    )


async def test_multipart_csv_import_answers_the_report(client: httpx.AsyncClient):
    response = await upload(client, CONTACTS, default_country="BR")
    assert response.status_code == 200, response.text
    report = response.json()
    assert {k: report[k] for k in ("rows", "created", "updated", "rejected", "duplicates")} == {
        "rows": 3,
        "created": 2,
        "updated": 0,
        "rejected": 1,
        "duplicates": 0,
    }
    assert report["rejected_rows"] == [
        {"line": 3, "reason": "'123' is not a valid phone number: it is too short."}
    ]
    assert report["mapping"] == {
        "Telefone": "phone",
        "Nome": "first_name",
        "E-mail": "email",
        "Etiquetas": "tags",
        "Plano": "attribute:plano",
    }
    again = (await upload(client, CONTACTS, default_country="BR")).json()
    assert (again["created"], again["unchanged"]) == (0, 2)


async def test_mapping_form_field_names_columns_explicitly(client: httpx.AsyncClient, scalar):
    response = await upload(
        client,
        "Contato,Loja\n+14157234567,sp-01\n",
        mapping=json.dumps({"Contato": "phone", "Loja": "attribute:store"}),
    )
    assert response.status_code == 200, response.text
    assert response.json()["created"] == 1
    assert await scalar("SELECT count(*) FROM contacts") == 1


@pytest.mark.parametrize(
    ("content", "fields", "message"),
    [
        (b"", {}, "The file is empty."),
        (b"name,email\nAna,a@example.com\n", {}, "no phone column"),
        (b"phone\n+1415\xe3\n", {}, "not UTF-8"),
        (b"PK\x03\x04\x14\x00\x06\x00\x08\x00", {}, "Excel workbook"),
        (b"phone\n+14157234567\n", {"mapping": "{not json"}, "mapping must be a JSON object"),
        (b"phone\n+14157234567\n", {"mapping": '["phone"]'}, "mapping must be a JSON object"),
        (b"phone\n+14157234567\n", {"mapping": '{"x": "phone"}'}, "does not have"),
        (b"phone\n+14157234567\n", {"default_country": "Brazil"}, "not a country code"),
        (
            b"phone\n+14157234567\n",
            {"list_id": "lst_missing", "consent_text": "Signed up in store"},
            "No list with id",
        ),
        (b"phone\n+14157234567\n", {"list_id": "lst_missing"}, "send the form fields"),
        (b"phone\n+14157234567\n", {"consent_source": "ui"}, "needs consent_text"),
        (
            b"phone\n+14157234567\n",
            {"consent_text": "Signed up in store", "consent_source": "guess"},
            "'guess' is not a consent source",
        ),
    ],
)
async def test_bad_files_and_fields_are_422_with_a_clear_message(
    client: httpx.AsyncClient, scalar, content, fields, message
):
    response = await upload(client, content, **fields)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert message in error["message"]
    assert await scalar("SELECT count(*) FROM contacts") == 0


async def test_a_request_without_the_file_field_is_422(client: httpx.AsyncClient):
    as_field = await client.post("/v1/contacts/imports", data={"file": "phone\n+14157234567\n"})
    as_json = await client.post("/v1/contacts/imports", json={"file": "phone"})
    for response in (as_field, as_json):
        assert response.status_code == 422
        assert response.json()["error"]["field"] == "file"


async def test_an_upload_over_the_size_limit_is_413(client: httpx.AsyncClient, monkeypatch):
    monkeypatch.setattr(imports_api, "MAX_UPLOAD_BYTES", 100)
    monkeypatch.setattr(imports_api, "_MULTIPART_OVERHEAD", 0)
    response = await upload(client, "phone\n" + "+14157234567\n" * 20)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert "larger than" in response.json()["error"]["message"]


async def test_viewers_cannot_import_or_export(
    client: httpx.AsyncClient, platform: Platform, workspace
):
    async with platform.sessions() as session:
        _, key = await create_api_key(
            session, system_actor(workspace.workspace.id), name="viewer", role=Role.VIEWER
        )
    client.headers["Authorization"] = f"Bearer {key}"
    assert (await upload(client, "phone\n+14157234567\n")).status_code == 403
    assert (await client.get("/v1/contacts/export")).status_code == 403


async def test_export_streams_a_csv_attachment_that_imports_back(
    client: httpx.AsyncClient, other_workspace
):
    await upload(client, CONTACTS, default_country="BR")
    response = await client.get("/v1/contacts/export")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"].startswith('attachment; filename="contacts-')
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [(r["phone"], r["first_name"], r["tags"], r["plano"]) for r in rows] == [
        ("+5511912345678", "Ana", "vip", "ouro"),
        ("+14157234567", "Carl", "promo", ""),
    ]
    rival = {"Authorization": f"Bearer {other_workspace.api_key}"}
    back = await client.post(
        "/v1/contacts/imports",
        files={"file": ("export.csv", response.content, "text/csv")},
        headers=rival,
    )
    assert (back.json()["created"], back.json()["rejected"]) == (2, 0)
    assert (await client.get("/v1/contacts/export", headers=rival)).text.splitlines()[1:] != []


async def test_export_of_an_unknown_list_is_404(client: httpx.AsyncClient):
    response = await client.get("/v1/contacts/export", params={"list_id": "lst_missing"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


async def test_import_and_export_routes_are_not_taken_by_contact_routes(
    client: httpx.AsyncClient,
):
    """/v1/contacts/{contact_id} must not swallow the literal paths /imports and /export:
    app.py has to include the imports router before the contacts router."""
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert "post" in paths["/v1/contacts/imports"]
    assert "get" in paths["/v1/contacts/export"]
    assert "get" in paths["/v1/contacts/{contact_id}"]
    exported = await client.get("/v1/contacts/export")
    assert exported.status_code == 200, "GET /v1/contacts/export was routed to another route"
    assert exported.text.startswith("phone,first_name,")
    imported = await upload(client, "phone\n+14157234567\n")
    assert imported.json()["created"] == 1


async def test_an_import_into_a_list_declares_consent_in_form_fields(
    client: httpx.AsyncClient, platform: Platform, workspace: NewWorkspace, scalar
):
    async with platform.sessions() as session:
        offers = ContactList(id="lst_offers", workspace_id=workspace.workspace.id, name="Offers")
        session.add(offers)
        await session.commit()
    text = "phone,opt_in_date\n+14157234567,2024-05-31\n+14157234568,\n"
    refused = await upload(client, text, list_id="lst_offers")
    assert refused.status_code == 422
    assert refused.json()["error"]["field"] == "consent_text"
    assert await scalar("SELECT count(*) FROM contacts") == 0

    response = await upload(
        client,
        text,
        list_id="lst_offers",
        consent_text="Checkout checkbox 'Text me offers' on acme.com",
        consent_source="signup_form",
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["created"], report["added_to_list"], report["consent_recorded"]) == (1, 1, 1)
    assert report["rejected_rows"] == [
        {"line": 3, "reason": "no opt-in in this row (column 'opt_in_date' is empty)"}
    ]
    assert report["mapping"]["opt_in_date"] == "consented_at"
    assert (
        await scalar(
            "SELECT count(*) FROM consents WHERE list_id = 'lst_offers' AND source = 'signup_form'"
            " AND consent_text = 'Checkout checkbox ''Text me offers'' on acme.com'"
        )
        == 1
    )
