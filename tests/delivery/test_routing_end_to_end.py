"""Routing end to end: connections and routes made through the API decide which carrier
a text goes through, with the platform's workers running and a local SMSC on loopback."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from recado.api.app import create_app
from recado.api.carrier_setup import router
from recado.carriers.smpp.smsc import LocalSmsc, read_text
from recado.platform import Platform
from recado.services.workspaces import NewWorkspace

BRAZIL = "+5511912345678"
US = "+14157234567"
WAIT_SECONDS = 10.0


@pytest.fixture
async def smsc() -> AsyncIterator[LocalSmsc]:
    """Tests ask for it first, so that it stops last, after the platform's binds."""
    async with LocalSmsc() as running:
        yield running


@pytest.fixture
async def api(running: Platform, workspace: NewWorkspace) -> AsyncIterator[httpx.AsyncClient]:
    """The owner's client on the running platform, with the carrier setup routes."""
    app = create_app(running, start_workers=False)  # the `running` fixture started them
    if not any(getattr(r, "path", None) == "/v1/routes" for r in app.routes):
        app.include_router(router)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://recado.test",
        headers={"Authorization": f"Bearer {workspace.api_key}"},
    ) as client:
        yield client


async def eventually(check: Callable[[], Awaitable[Any]], what: str) -> Any:
    """Poll `check` until it returns something truthy, for at most WAIT_SECONDS."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {WAIT_SECONDS} s for {what}")
        await asyncio.sleep(0.05)


async def send(api: httpx.AsyncClient, platform: Platform, to: str, body: str) -> str:
    response = await api.post("/v1/messages", json={"to": to, "body": body})
    assert response.status_code == 202, response.text
    platform.dispatcher.notify()
    return str(response.json()["id"])


async def message(api: httpx.AsyncClient, message_id: str) -> dict[str, Any]:
    response = await api.get(f"/v1/messages/{message_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


async def reaches(api: httpx.AsyncClient, message_id: str, status: str) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        current = await message(api, message_id)
        return current if current["status"] == status else None

    try:
        result: dict[str, Any] = await eventually(check, f"{message_id} to be {status}")
    except AssertionError as timeout:
        state = timeline(await message(api, message_id))
        raise AssertionError(f"{timeout}; it is {state}") from None
    return result


def timeline(current: dict[str, Any]) -> str:
    """A message's status and events, for failure messages."""
    events = "; ".join(f"{e['status']} ({e['detail']})" for e in current["events"])
    return f"{current['status']} after: {events}"


async def smpp_route_to(api: httpx.AsyncClient, smsc: LocalSmsc) -> str:
    """An SMPP connection to the local SMSC, bound, with the route 55 through it."""
    response = await api.post(
        "/v1/carrier-connections",
        json={
            "name": "Local SMSC",
            "kind": "smpp",
            "config": {
                "host": smsc.host,
                "port": smsc.port,
                "system_id": "recado",
                "password": "secret",
                "submit_id_format": "hex",  # as the local SMSC writes its ids
            },
        },
    )
    assert response.status_code == 201, response.text
    connection_id = str(response.json()["id"])

    async def bound() -> bool:
        answer = await api.get(f"/v1/carrier-connections/{connection_id}")
        return bool(answer.json()["connected"])

    await eventually(bound, "the SMPP connection to bind")
    route = await api.post("/v1/routes", json={"prefix": "55", "connection_id": connection_id})
    assert route.status_code == 201, route.text
    return connection_id


async def test_a_55_route_sends_through_the_smsc_and_its_receipt_delivers_the_text(
    smsc: LocalSmsc, api: httpx.AsyncClient, running: Platform
):
    connection_id = await smpp_route_to(api, smsc)
    message_id = await send(api, running, BRAZIL, "Olá do Recado")
    delivered = await reaches(api, message_id, "delivered")
    [submit] = smsc.submits
    assert submit.destination_addr == BRAZIL.lstrip("+")
    assert read_text(submit) == "Olá do Recado"
    # The SMSC writes ids in hex; Recado keeps them normalized to decimal.
    assert delivered["carrier_message_id"] == str(int(submit.message_id or "", 16))
    assert any(f"via {connection_id}" in (e["detail"] or "") for e in delivered["events"])
    assert [e["status"] for e in delivered["events"]][-2:] == ["sent", "delivered"]
    assert running.connector.submitted == []  # type: ignore[attr-defined]


async def test_a_destination_no_route_matches_waits_and_never_reaches_the_simulator(
    smsc: LocalSmsc, api: httpx.AsyncClient, running: Platform
):
    # Once a workspace has routes, the simulator is not a fallback: a fake network must
    # never "deliver" a real customer's text. The text waits, visibly, for a route.
    await smpp_route_to(api, smsc)
    brazil = await send(api, running, BRAZIL, "para o Brasil")
    us = await send(api, running, US, "to the US")
    await reaches(api, brazil, "delivered")

    async def held() -> dict[str, Any] | None:
        current = await message(api, us)
        details = " ".join(e["detail"] or "" for e in current["events"])
        return current if "no connected carrier route" in details else None

    current = await eventually(held, "the US text to be held for want of a route")
    assert current["status"] == "queued"
    assert running.connector.submitted == []  # type: ignore[attr-defined]
    assert [s.destination_addr for s in smsc.submits] == [BRAZIL.lstrip("+")]


async def test_a_route_whose_connection_is_disabled_holds_its_texts_off_the_simulator(
    smsc: LocalSmsc, api: httpx.AsyncClient, running: Platform
):
    connection_id = await smpp_route_to(api, smsc)
    first = await send(api, running, BRAZIL, "antes")
    await reaches(api, first, "delivered")
    disabled = await api.patch(f"/v1/carrier-connections/{connection_id}", json={"enabled": False})
    assert disabled.status_code == 200, disabled.text
    assert disabled.json()["connected"] is False
    assert connection_id not in running.connectors

    held = await send(api, running, BRAZIL, "depois")

    async def refused() -> dict[str, Any] | None:
        current = await message(api, held)
        details = " ".join(e["detail"] or "" for e in current["events"])
        return current if "no connected carrier route" in details else None

    try:
        current = await eventually(refused, "the text to be held for want of a route")
    except AssertionError as timeout:
        state = timeline(await message(api, held))
        raise AssertionError(f"{timeout}; it is {state}") from None
    assert current["status"] == "queued"  # retried later, with backoff
    assert current["carrier_message_id"] is None
    assert running.connector.submitted == []  # type: ignore[attr-defined]
    assert len(smsc.submits) == 1
