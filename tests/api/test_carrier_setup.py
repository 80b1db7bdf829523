"""/v1/senders, /v1/carrier-connections, /v1/routes, /v1/rate-card: validation, secrets,
the running connectors, roles, and isolation between workspaces."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from recado.api.app import create_app
from recado.api.carrier_setup import router
from recado.carriers.base import DeliveryReport
from recado.delivery import carrier_events
from recado.domain.roles import Role
from recado.platform import Platform
from recado.services import unmatched_reports
from recado.services.actor import system_actor
from recado.services.credentials import create_api_key
from recado.services.workspaces import SIMULATOR_SENDER, NewWorkspace

SMPP_CONFIG = {"host": "127.0.0.1", "port": 2775, "system_id": "recado", "password": "pw123"}
TWILIO_CONFIG = {"account_sid": "AC0123", "auth_token": "tok_0123456789abcdef"}
BASE_URL = "http://127.0.0.1:8000"  # the test settings' public URL


@pytest.fixture
async def client(platform: Platform, workspace: NewWorkspace) -> AsyncIterator[httpx.AsyncClient]:
    """The owner's client, on an app that has the carrier setup routes."""
    app = create_app(platform, start_workers=False)
    if not any(getattr(r, "path", None) == "/v1/senders" for r in app.routes):
        app.include_router(router)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://recado.test",
        headers={"Authorization": f"Bearer {workspace.api_key}"},
    ) as api:
        yield api


@pytest.fixture
async def viewer(platform: Platform, workspace: NewWorkspace) -> dict[str, str]:
    async with platform.sessions() as session:
        _, key = await create_api_key(
            session, system_actor(workspace.workspace.id), name="viewer", role=Role.VIEWER
        )
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def rival(other_workspace: NewWorkspace) -> dict[str, str]:
    return {"Authorization": f"Bearer {other_workspace.api_key}"}


async def created(response_or_call: Any) -> dict[str, Any]:
    response = await response_or_call
    assert response.status_code == 201, response.text
    return response.json()


def new_sender(
    api: httpx.AsyncClient,
    address: str,
    kind: str = "long_code",
    *,
    headers: dict[str, str] | None = None,
    **fields: Any,
) -> Any:
    return api.post(
        "/v1/senders", json={"address": address, "kind": kind, **fields}, headers=headers
    )


def new_connection(
    api: httpx.AsyncClient,
    name: str = "Claro SMPP",
    kind: str = "smpp",
    *,
    headers: dict[str, str] | None = None,
    **fields: Any,
) -> Any:
    fields.setdefault("config", SMPP_CONFIG)
    return api.post(
        "/v1/carrier-connections", json={"name": name, "kind": kind, **fields}, headers=headers
    )


def error_of(response: httpx.Response) -> dict[str, Any]:
    return response.json()["error"]


# --- senders ---------------------------------------------------------------------------------


SENDER_ADDRESSES = [
    # kind, as typed, stored as (None: refused)
    ("long_code", "(415) 723-4567", "+14157234567"),
    ("long_code", "+55 11 91234-5678", "+5511912345678"),
    ("long_code", "+1 415 000 0000", None),
    ("long_code", "Acme", None),
    ("toll_free", "+1 833 555 0100", "+18335550100"),
    ("toll_free", "12", None),
    ("short_code", "12345", "12345"),
    ("short_code", " 898 ", "898"),
    ("short_code", "12", None),
    ("short_code", "123456789", None),
    ("short_code", "12a45", None),
    ("alphanumeric", "Acme", "Acme"),
    ("alphanumeric", "Acme Shop 1", "Acme Shop 1"),
    ("alphanumeric", "A", "A"),
    ("alphanumeric", "Acme Shop 12", None),  # 12 characters
    ("alphanumeric", "12345", None),  # no letter: reads as a number
    ("alphanumeric", "Acmé", None),
    ("alphanumeric", "Acme-Shop", None),
    ("alphanumeric", "", None),
]


@pytest.mark.parametrize(("kind", "typed", "stored"), SENDER_ADDRESSES)
async def test_a_sender_address_must_fit_its_kind(
    client: httpx.AsyncClient, kind: str, typed: str, stored: str | None
):
    response = await new_sender(client, typed, kind)
    if stored is None:
        assert response.status_code == 422, response.text
        assert error_of(response)["field"] == "address"
    else:
        assert response.status_code == 201, response.text
        assert (response.json()["address"], response.json()["kind"]) == (stored, kind)


async def test_create_read_and_list_senders(client: httpx.AsyncClient):
    sender = await created(new_sender(client, "+14157234567", rate_limit_mps=2.5))
    assert sender["id"].startswith("snd_")
    assert sender["is_default"] is False
    assert sender["rate_limit_mps"] == 2.5
    assert sender["connection_id"] is None
    assert (await client.get(f"/v1/senders/{sender['id']}")).json() == sender
    listed = (await client.get("/v1/senders")).json()
    assert [s["address"] for s in listed["data"]] == [SIMULATOR_SENDER, "+14157234567"]
    first = (await client.get("/v1/senders", params={"limit": 1})).json()
    rest = (
        await client.get("/v1/senders", params={"limit": 1, "cursor": first["next_cursor"]})
    ).json()
    assert [s["id"] for s in first["data"] + rest["data"]] == [s["id"] for s in listed["data"]]
    assert rest["next_cursor"] is None
    bad_cursor = await client.get("/v1/senders", params={"cursor": "nope"})
    assert bad_cursor.status_code == 422


async def test_an_address_is_unique_in_the_workspace(
    client: httpx.AsyncClient, rival: dict[str, str]
):
    duplicate = await new_sender(client, "(201) 555-0100")  # the default sender, typed nationally
    assert duplicate.status_code == 409
    assert error_of(duplicate)["field"] == "address"
    await created(new_sender(client, "Acme", "alphanumeric"))
    assert (await new_sender(client, "Acme", "alphanumeric")).status_code == 409
    # Another workspace may use the same sender id.
    await created(new_sender(client, "Acme", "alphanumeric", headers=rival))


async def test_one_default_sender_at_a_time(client: httpx.AsyncClient):
    original = (await client.get("/v1/senders")).json()["data"][0]
    assert original["is_default"] is True
    second = await created(new_sender(client, "+14157234567", is_default=True))
    assert second["is_default"] is True
    assert (await client.get(f"/v1/senders/{original['id']}")).json()["is_default"] is False
    back = await client.patch(f"/v1/senders/{original['id']}", json={"is_default": True})
    assert back.json()["is_default"] is True
    defaults = [
        s["id"] for s in (await client.get("/v1/senders")).json()["data"] if s["is_default"]
    ]
    assert defaults == [original["id"]]
    # The default stops being one only by another taking over.
    unset = await client.patch(f"/v1/senders/{original['id']}", json={"is_default": False})
    assert unset.status_code == 422
    assert error_of(unset)["field"] == "is_default"


async def test_update_a_sender(client: httpx.AsyncClient):
    sender = await created(new_sender(client, "12345", "short_code"))
    path = f"/v1/senders/{sender['id']}"
    changed = (await client.patch(path, json={"rate_limit_mps": 100})).json()
    assert (changed["rate_limit_mps"], changed["kind"]) == (100, "short_code")
    # The address must still fit the new kind.
    wrong_kind = await client.patch(path, json={"kind": "long_code"})
    assert wrong_kind.status_code == 422
    assert (await client.get(path)).json()["kind"] == "short_code"
    assert (await client.patch(path, json={"kind": "alphanumeric"})).status_code == 422
    assert (await client.patch(path, json={"address": "54321"})).status_code == 422
    assert (await client.patch(path, json={"kind": None})).status_code == 422


@pytest.mark.parametrize("rate", [0, -1, 10_000.5, "fast"])
async def test_a_sender_rate_is_above_0_and_at_most_10000(client: httpx.AsyncClient, rate: Any):
    response = await new_sender(client, "+14157234567", rate_limit_mps=rate)
    assert response.status_code == 422
    assert error_of(response)["field"] == "rate_limit_mps"
    default = (await client.get("/v1/senders")).json()["data"][0]
    patched = await client.patch(f"/v1/senders/{default['id']}", json={"rate_limit_mps": rate})
    assert patched.status_code == 422
    assert error_of(patched)["field"] == "rate_limit_mps"


async def test_the_highest_rate_is_10000(client: httpx.AsyncClient):
    sender = await created(new_sender(client, "+14157234567", rate_limit_mps=10_000))
    assert sender["rate_limit_mps"] == 10_000


async def test_a_sender_binds_to_a_connection_of_its_workspace_only(
    client: httpx.AsyncClient, rival: dict[str, str]
):
    mine = await created(new_connection(client))
    theirs = await created(new_connection(client, headers=rival))
    sender = await created(new_sender(client, "+14157234567", connection_id=mine["id"]))
    assert sender["connection_id"] == mine["id"]
    path = f"/v1/senders/{sender['id']}"
    foreign = await client.patch(path, json={"connection_id": theirs["id"]})
    assert foreign.status_code == 404
    assert error_of(foreign)["field"] == "connection_id"
    assert (
        await new_sender(client, "Acme", "alphanumeric", connection_id=theirs["id"])
    ).status_code == 404
    assert (await client.patch(path, json={"connection_id": "conn_nope"})).status_code == 404
    unbound = await client.patch(path, json={"connection_id": None})
    assert unbound.json()["connection_id"] is None


async def test_the_last_sender_cannot_be_deleted_and_the_default_passes_on(
    client: httpx.AsyncClient,
):
    original = (await client.get("/v1/senders")).json()["data"][0]
    last = await client.delete(f"/v1/senders/{original['id']}")
    assert last.status_code == 409
    assert "only sender" in error_of(last)["message"]
    second = await created(new_sender(client, "+14157234567"))
    assert (await client.delete(f"/v1/senders/{original['id']}")).status_code == 204
    assert (await client.get(f"/v1/senders/{original['id']}")).status_code == 404
    assert (await client.get(f"/v1/senders/{second['id']}")).json()["is_default"] is True
    # Messages now go from the new default.
    sent = await client.post("/v1/messages", json={"to": "+14155550100", "body": "Hi"})
    assert sent.json()["from"] == "+14157234567"


async def test_sender_changes_reach_the_dispatcher(
    client: httpx.AsyncClient, platform: Platform, monkeypatch: pytest.MonkeyPatch
):
    calls: list[None] = []
    monkeypatch.setattr(platform.dispatcher, "config_changed", lambda: calls.append(None))
    sender = await created(new_sender(client, "+14157234567"))
    await client.patch(f"/v1/senders/{sender['id']}", json={"rate_limit_mps": 1})
    await client.delete(f"/v1/senders/{sender['id']}")
    assert len(calls) == 3


# --- carrier connections ---------------------------------------------------------------------


async def test_create_an_smpp_connection_with_its_secret_masked(
    client: httpx.AsyncClient, platform: Platform
):
    connection = await created(new_connection(client))
    assert connection["id"].startswith("conn_")
    assert connection["kind"] == "smpp"
    assert connection["enabled"] is True
    assert connection["config"] == {**SMPP_CONFIG, "password": "••••"}
    assert connection["webhook_urls"] is None  # SMPP reports over its bind
    assert connection["connected"] is False  # workers are not running in this app
    assert connection["id"] in platform.connectors
    read = (await client.get(f"/v1/carrier-connections/{connection['id']}")).json()
    assert read == connection
    listed = (await client.get("/v1/carrier-connections")).json()
    assert listed["data"] == [connection]


async def test_delivery_reports_that_match_no_message_are_kept_for_their_connection(
    client: httpx.AsyncClient,
    platform: Platform,
    viewer: dict[str, str],
    rival: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
):
    """An operator whose carrier writes ids in a format the connection does not expect sees
    those ids, newest first; only the newest KEEP of a connection stay."""
    monkeypatch.setattr(carrier_events, "_LOOKUP_RETRIES", ())  # no 4 s of retries
    monkeypatch.setattr(unmatched_reports, "KEEP", 3)
    connection = await created(new_connection(client))
    for n in range(5):
        report = DeliveryReport(
            connector=connection["id"],
            carrier_message_id=f"0A{n}",
            status="undelivered",
            error_code="absent_subscriber",
        )
        await platform.carrier_events.delivery_report(report)
    url = f"/v1/carrier-connections/{connection['id']}/unmatched-reports"
    page = (await client.get(url, headers=viewer)).json()
    assert [r["carrier_message_id"] for r in page["data"]] == ["0A4", "0A3", "0A2"]
    assert page["data"][0]["status"] == "undelivered"
    assert page["data"][0]["error_code"] == "absent_subscriber"
    assert (await client.get(url, headers=rival)).status_code == 404


async def test_http_providers_get_their_webhook_urls(client: httpx.AsyncClient):
    twilio = await created(new_connection(client, "Twilio", "twilio", config=TWILIO_CONFIG))
    root = f"{BASE_URL}/carriers/{twilio['id']}"
    assert twilio["webhook_urls"] == {"status": f"{root}/status", "inbound": f"{root}/inbound"}
    assert twilio["config"]["auth_token"] == "••••cdef"  # long secrets keep a hint
    assert twilio["config"]["account_sid"] == "AC0123"
    vonage = await created(
        new_connection(
            client,
            "Vonage",
            "vonage",
            config={"api_key": "k1", "api_secret": "s3cr3t", "signature_secret": "sig-0123456789"},
        )
    )
    assert vonage["webhook_urls"]["status"].endswith(f"/carriers/{vonage['id']}/status")
    assert vonage["config"] == {
        "api_key": "k1",
        "api_secret": "••••",
        "signature_secret": "••••6789",
    }


async def test_an_unknown_kind_lists_the_known_ones(client: httpx.AsyncClient):
    response = await new_connection(client, kind="carrier-pigeon")
    assert response.status_code == 422
    error = error_of(response)
    assert error["field"] == "kind"
    for known in ("plivo", "simulator", "smpp", "twilio", "vonage"):
        assert known in error["message"]


@pytest.mark.parametrize(
    ("kind", "config", "says"),
    [
        ("smpp", {"host": "127.0.0.1"}, "port, system_id"),
        ("smpp", {**SMPP_CONFIG, "bind_mode": "receiver"}, "bind_mode"),
        ("smpp", {**SMPP_CONFIG, "window": 0}, "window"),
        ("smpp", {**SMPP_CONFIG, "port": "twenty"}, "invalid literal"),
        ("twilio", {"account_sid": "AC1"}, "auth_token"),
        ("vonage", {}, "api_key, api_secret"),
        ("plivo", {"auth_id": "MA1"}, "auth_token"),
        ("simulator", {"replies": [{"match": "(", "reply": "hi"}]}, "regex"),
    ],
)
async def test_a_config_that_cannot_build_its_connector_is_refused(
    client: httpx.AsyncClient, platform: Platform, kind: str, config: dict[str, Any], says: str
):
    response = await new_connection(client, kind=kind, config=config)
    assert response.status_code == 422, response.text
    assert error_of(response)["field"] == "config"
    assert says in error_of(response)["message"]
    assert (await client.get("/v1/carrier-connections")).json()["data"] == []
    assert list(platform.connectors) == ["simulator"]


async def test_connection_names_are_unique_in_the_workspace(
    client: httpx.AsyncClient, rival: dict[str, str]
):
    first = await created(new_connection(client))
    again = await new_connection(client, name=" Claro SMPP ")
    assert again.status_code == 409
    assert first["id"] in error_of(again)["message"]
    other = await created(new_connection(client, "Other"))
    rename = await client.patch(
        f"/v1/carrier-connections/{other['id']}", json={"name": "Claro SMPP"}
    )
    assert rename.status_code == 409
    assert (await new_connection(client, name="")).status_code == 422
    await created(new_connection(client, headers=rival))


async def test_a_masked_secret_sent_back_keeps_the_stored_one(
    client: httpx.AsyncClient, platform: Platform, scalar
):
    connection = await created(new_connection(client, "Twilio", "twilio", config=TWILIO_CONFIG))
    path = f"/v1/carrier-connections/{connection['id']}"
    edited = {**connection["config"], "account_sid": "AC9999"}
    changed = await client.patch(path, json={"config": edited})
    assert changed.status_code == 200, changed.text
    assert changed.json()["config"] == {"account_sid": "AC9999", "auth_token": "••••cdef"}
    running = platform.connectors[connection["id"]]
    assert running.config["auth_token"] == TWILIO_CONFIG["auth_token"]
    assert running.config["account_sid"] == "AC9999"
    # A new secret replaces the old one.
    await client.patch(
        path, json={"config": {"account_sid": "AC9999", "auth_token": "new-token-abcdefgh"}}
    )
    assert platform.connectors[connection["id"]].config["auth_token"] == "new-token-abcdefgh"
    # A masked value that is not the stored one's mask would save the mask itself: refused.
    wrong = await client.patch(
        path, json={"config": {"account_sid": "AC9999", "auth_token": "••••zzzz"}}
    )
    assert wrong.status_code == 422
    assert error_of(wrong)["field"] == "config.auth_token"
    stored = await scalar(
        "SELECT config FROM carrier_connections WHERE id = :id", id=connection["id"]
    )
    assert "new-token-abcdefgh" in str(stored)


async def test_connection_changes_restart_the_running_connectors(
    client: httpx.AsyncClient, platform: Platform
):
    connection = await created(new_connection(client))
    path = f"/v1/carrier-connections/{connection['id']}"
    first = platform.connectors[connection["id"]]
    await client.patch(path, json={"config": {**SMPP_CONFIG, "port": 2776, "password": "••••"}})
    rebuilt = platform.connectors[connection["id"]]
    assert rebuilt is not first
    assert rebuilt.config["port"] == 2776
    assert rebuilt.config["password"] == "pw123"
    renamed = await client.patch(path, json={"name": "Claro"})
    assert renamed.json()["name"] == "Claro"
    assert platform.connectors[connection["id"]] is rebuilt  # the config did not change
    disabled = await client.patch(path, json={"enabled": False})
    assert disabled.json()["enabled"] is False
    assert connection["id"] not in platform.connectors
    await client.patch(path, json={"enabled": True})
    assert connection["id"] in platform.connectors
    assert (await client.patch(path, json={"enabled": None})).status_code == 422
    await client.delete(path)
    assert connection["id"] not in platform.connectors


async def test_a_disabled_connection_is_saved_but_not_started(
    client: httpx.AsyncClient, platform: Platform
):
    connection = await created(new_connection(client, enabled=False))
    assert connection["enabled"] is False
    assert connection["id"] not in platform.connectors


async def test_changing_the_kind_checks_the_config_against_it(client: httpx.AsyncClient):
    connection = await created(new_connection(client))
    path = f"/v1/carrier-connections/{connection['id']}"
    wrong = await client.patch(path, json={"kind": "twilio"})
    assert wrong.status_code == 422
    assert "auth_token" in error_of(wrong)["message"]
    assert (await client.patch(path, json={"kind": "fax"})).status_code == 422
    moved = await client.patch(path, json={"kind": "twilio", "config": TWILIO_CONFIG})
    assert moved.status_code == 200
    assert moved.json()["webhook_urls"] is not None


async def test_deleting_a_connection_removes_its_routes_and_unbinds_its_senders(
    client: httpx.AsyncClient, scalar
):
    connection = await created(new_connection(client))
    other = await created(new_connection(client, "Backup"))
    sender = await created(new_sender(client, "+14157234567", connection_id=connection["id"]))
    await created(
        client.post("/v1/routes", json={"prefix": "55", "connection_id": connection["id"]})
    )
    kept = await created(
        client.post("/v1/routes", json={"prefix": "1", "connection_id": other["id"]})
    )
    response = await client.delete(f"/v1/carrier-connections/{connection['id']}")
    assert response.status_code == 204
    assert (await client.get(f"/v1/carrier-connections/{connection['id']}")).status_code == 404
    assert [r["id"] for r in (await client.get("/v1/routes")).json()["data"]] == [kept["id"]]
    assert (await client.get(f"/v1/senders/{sender['id']}")).json()["connection_id"] is None
    assert await scalar("SELECT count(*) FROM senders") == 2


# --- routes ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("55", "55"),
        ("+5511", "5511"),
        ("", ""),
        (" 1 ", "1"),
        ("123456789012345", "123456789012345"),
        ("1234567890123456", None),
        ("55a", None),
        ("5 5", None),
        ("٥٥", None),  # Arabic-Indic digits are digits to Python, not to E.164
    ],
)
async def test_a_route_prefix_is_e164_digits(
    client: httpx.AsyncClient, typed: str, stored: str | None
):
    connection = await created(new_connection(client))
    response = await client.post(
        "/v1/routes", json={"prefix": typed, "connection_id": connection["id"]}
    )
    if stored is None:
        assert response.status_code == 422, response.text
        assert error_of(response)["field"] == "prefix"
    else:
        assert response.status_code == 201, response.text
        assert response.json()["prefix"] == stored


async def test_routes_are_listed_in_the_order_routing_applies_them(
    client: httpx.AsyncClient, platform: Platform, monkeypatch: pytest.MonkeyPatch
):
    calls: list[None] = []
    monkeypatch.setattr(platform.dispatcher, "config_changed", lambda: calls.append(None))
    a = (await created(new_connection(client, "A")))["id"]
    b = (await created(new_connection(client, "B")))["id"]
    calls.clear()
    made = {}
    for name, prefix, connection, priority in [
        ("all", "", a, 0),
        ("br-backup", "55", b, 5),
        ("br", "55", a, 1),
        ("sp", "5511", b, 9),
    ]:
        route = await created(
            client.post(
                "/v1/routes",
                json={"prefix": prefix, "connection_id": connection, "priority": priority},
            )
        )
        assert route["id"].startswith("rt_")
        made[name] = route
    listed = (await client.get("/v1/routes")).json()
    assert [r["id"] for r in listed["data"]] == [
        made[n]["id"] for n in ("sp", "br", "br-backup", "all")
    ]
    assert listed["next_cursor"] is None
    assert (await client.get(f"/v1/routes/{made['br']['id']}")).json() == made["br"]
    assert (await client.delete(f"/v1/routes/{made['br']['id']}")).status_code == 204
    assert (await client.get(f"/v1/routes/{made['br']['id']}")).status_code == 404
    assert len(calls) == 5


async def test_route_input_is_checked(client: httpx.AsyncClient, rival: dict[str, str]):
    connection = await created(new_connection(client))
    theirs = await created(new_connection(client, headers=rival))
    foreign = await client.post("/v1/routes", json={"prefix": "55", "connection_id": theirs["id"]})
    assert foreign.status_code == 404
    assert error_of(foreign)["field"] == "connection_id"
    for priority in (-1, 1_000_001, "first"):
        bad = await client.post(
            "/v1/routes",
            json={"prefix": "55", "connection_id": connection["id"], "priority": priority},
        )
        assert bad.status_code == 422
        assert error_of(bad)["field"] == "priority"
    missing = await client.post("/v1/routes", json={"prefix": "55"})
    assert error_of(missing)["field"] == "connection_id"
    await created(
        client.post("/v1/routes", json={"prefix": "55", "connection_id": connection["id"]})
    )
    twice = await client.post(
        "/v1/routes", json={"prefix": "+55", "connection_id": connection["id"], "priority": 3}
    )
    assert twice.status_code == 409


# --- rate card -------------------------------------------------------------------------------


async def test_put_a_rate_then_change_it(client: httpx.AsyncClient, scalar):
    first = await client.put(
        "/v1/rate-card", json={"prefix": "55", "price_per_part": "0.0420", "currency": "brl"}
    )
    assert first.status_code == 201, first.text
    entry = first.json()
    assert entry["id"].startswith("rate_")
    assert (entry["prefix"], entry["sender_kind"], entry["price_per_part"], entry["currency"]) == (
        "55",
        None,
        "0.042",
        "BRL",
    )
    again = await client.put(
        "/v1/rate-card", json={"prefix": "+55", "price_per_part": "0.05", "currency": "BRL"}
    )
    assert again.status_code == 200
    assert again.json()["id"] == entry["id"]
    assert await scalar("SELECT price_micros FROM rate_card_entries") == 50_000
    assert (await client.get(f"/v1/rate-card/{entry['id']}")).json() == again.json()


async def test_rates_by_sender_kind_are_separate_entries_and_price_messages(
    client: httpx.AsyncClient,
):
    for kind, price in [(None, "0.010000"), ("long_code", "0.02"), ("short_code", "0.5")]:
        await created(
            client.put(
                "/v1/rate-card", json={"prefix": "1", "sender_kind": kind, "price_per_part": price}
            )
        )
    await created(client.put("/v1/rate-card", json={"prefix": "1415", "price_per_part": "0"}))
    hundred = await created(
        client.put("/v1/rate-card", json={"prefix": "999", "price_per_part": "100.00"})
    )
    assert hundred["price_per_part"] == "100"
    await client.delete(f"/v1/rate-card/{hundred['id']}")
    listed = (await client.get("/v1/rate-card")).json()["data"]
    assert [(r["prefix"], r["sender_kind"], r["price_per_part"]) for r in listed] == [
        ("1415", None, "0"),
        ("1", "long_code", "0.02"),
        ("1", "short_code", "0.5"),
        ("1", None, "0.01"),
    ]
    # The default sender is a long code.
    sent = (await client.post("/v1/messages", json={"to": "+12125550123", "body": "Hi"})).json()
    assert (sent["price_estimate"], sent["currency"]) == ("0.02", "USD")
    long_code = next(r for r in listed if r["sender_kind"] == "long_code")
    assert (await client.delete(f"/v1/rate-card/{long_code['id']}")).status_code == 204
    sent = (await client.post("/v1/messages", json={"to": "+12125550123", "body": "Hi"})).json()
    assert sent["price_estimate"] == "0.01"
    assert (await client.get(f"/v1/rate-card/{long_code['id']}")).status_code == 404


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ({"price_per_part": "-0.01"}, "price_per_part"),
        ({"price_per_part": "abc"}, "price_per_part"),
        ({"price_per_part": "NaN"}, "price_per_part"),
        ({"price_per_part": "Infinity"}, "price_per_part"),
        ({"price_per_part": "0.0000001"}, "price_per_part"),
        ({"price_per_part": "1001"}, "price_per_part"),
        ({"price_per_part": 0.01}, "price_per_part"),  # a JSON number would lose exactness
        ({"currency": "dollars"}, "currency"),
        ({"currency": "U1D"}, "currency"),
        ({"sender_kind": "pager"}, "sender_kind"),
        ({"prefix": "x55"}, "prefix"),
    ],
)
async def test_rate_input_is_checked(
    client: httpx.AsyncClient, scalar, entry: dict[str, Any], field: str
):
    response = await client.put(
        "/v1/rate-card", json={"prefix": "55", "price_per_part": "0.01", **entry}
    )
    assert response.status_code == 422, response.text
    assert error_of(response)["field"] == field
    assert await scalar("SELECT count(*) FROM rate_card_entries") == 0


# --- roles and workspaces --------------------------------------------------------------------


async def test_a_viewer_reads_but_cannot_change_anything(
    client: httpx.AsyncClient, viewer: dict[str, str], platform: Platform
):
    connection = await created(new_connection(client))
    sender = (await client.get("/v1/senders")).json()["data"][0]
    route = await created(
        client.post("/v1/routes", json={"prefix": "55", "connection_id": connection["id"]})
    )
    rate = await created(
        client.put("/v1/rate-card", json={"prefix": "55", "price_per_part": "0.01"})
    )
    reads = [
        "/v1/senders",
        f"/v1/senders/{sender['id']}",
        "/v1/carrier-connections",
        f"/v1/carrier-connections/{connection['id']}",
        "/v1/routes",
        f"/v1/routes/{route['id']}",
        "/v1/rate-card",
        f"/v1/rate-card/{rate['id']}",
    ]
    for path in reads:
        assert (await client.get(path, headers=viewer)).status_code == 200, path
    viewed = (
        await client.get(f"/v1/carrier-connections/{connection['id']}", headers=viewer)
    ).json()
    assert viewed["config"]["password"] == "••••"
    writes = [
        client.post(
            "/v1/senders", json={"address": "Acme", "kind": "alphanumeric"}, headers=viewer
        ),
        client.patch(f"/v1/senders/{sender['id']}", json={"rate_limit_mps": 1}, headers=viewer),
        client.delete(f"/v1/senders/{sender['id']}", headers=viewer),
        new_connection(client, "Mine", headers=viewer),
        client.patch(
            f"/v1/carrier-connections/{connection['id']}", json={"enabled": False}, headers=viewer
        ),
        client.delete(f"/v1/carrier-connections/{connection['id']}", headers=viewer),
        client.post(
            "/v1/routes", json={"prefix": "1", "connection_id": connection["id"]}, headers=viewer
        ),
        client.delete(f"/v1/routes/{route['id']}", headers=viewer),
        client.put("/v1/rate-card", json={"prefix": "1", "price_per_part": "0.01"}, headers=viewer),
        client.delete(f"/v1/rate-card/{rate['id']}", headers=viewer),
    ]
    for write in writes:
        response = await write
        assert response.status_code == 403, response.request.url
        assert error_of(response)["code"] == "forbidden"
    assert connection["id"] in platform.connectors
    assert len((await client.get("/v1/routes")).json()["data"]) == 1


async def test_another_workspace_gets_404_on_every_id(
    client: httpx.AsyncClient, rival: dict[str, str], platform: Platform, scalar
):
    connection = await created(new_connection(client))
    sender = await created(new_sender(client, "+14157234567", connection_id=connection["id"]))
    route = await created(
        client.post("/v1/routes", json={"prefix": "55", "connection_id": connection["id"]})
    )
    rate = await created(
        client.put("/v1/rate-card", json={"prefix": "55", "price_per_part": "0.01"})
    )
    attempts = [
        client.get(f"/v1/senders/{sender['id']}", headers=rival),
        client.patch(f"/v1/senders/{sender['id']}", json={"is_default": True}, headers=rival),
        client.delete(f"/v1/senders/{sender['id']}", headers=rival),
        client.get(f"/v1/carrier-connections/{connection['id']}", headers=rival),
        client.patch(
            f"/v1/carrier-connections/{connection['id']}", json={"enabled": False}, headers=rival
        ),
        client.delete(f"/v1/carrier-connections/{connection['id']}", headers=rival),
        client.get(f"/v1/routes/{route['id']}", headers=rival),
        client.delete(f"/v1/routes/{route['id']}", headers=rival),
        client.get(f"/v1/rate-card/{rate['id']}", headers=rival),
        client.delete(f"/v1/rate-card/{rate['id']}", headers=rival),
        # Their own resources cannot point at ours either.
        client.post(
            "/v1/routes", json={"prefix": "1", "connection_id": connection["id"]}, headers=rival
        ),
        client.post(
            "/v1/senders",
            json={"address": "Rival", "kind": "alphanumeric", "connection_id": connection["id"]},
            headers=rival,
        ),
    ]
    for attempt in attempts:
        response = await attempt
        assert response.status_code == 404, (response.request.method, response.request.url)
    for path in ("/v1/carrier-connections", "/v1/routes", "/v1/rate-card"):
        assert (await client.get(path, headers=rival)).json()["data"] == []
    theirs = (await client.get("/v1/senders", headers=rival)).json()["data"]
    ours = {s["id"] for s in (await client.get("/v1/senders")).json()["data"]}
    assert len(theirs) == 1  # only the rival's own default sender
    assert not ours & {s["id"] for s in theirs}
    # Nothing of ours changed.
    assert (await client.get(f"/v1/senders/{sender['id']}")).json() == sender
    assert (await client.get(f"/v1/carrier-connections/{connection['id']}")).json()["enabled"]
    assert connection["id"] in platform.connectors
    assert await scalar("SELECT count(*) FROM routes") == 1
    assert await scalar("SELECT count(*) FROM rate_card_entries") == 1


async def test_ids_that_cannot_exist_are_404_without_a_query(client: httpx.AsyncClient):
    for path in (
        "/v1/senders/x",
        "/v1/carrier-connections/simulator",  # the built-in simulator is not a connection
        "/v1/routes/%27%20or%201=1",
        "/v1/rate-card/" + "a" * 300,
    ):
        assert (await client.get(path)).status_code == 404, path
        assert (await client.delete(path)).status_code == 404, path
