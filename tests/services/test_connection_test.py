"""Testing a carrier connection: real peers, no mocks — the local SMSC (smpp34's server), a
raw TCP peer that refuses binds as an SMSC does on the wire, a port nobody listens on, and a
local HTTP server answering as Twilio's account API does."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from fake_providers import (
    PLIVO_ID,
    PLIVO_TOKEN,
    TWILIO_SID,
    TWILIO_TOKEN,
    VONAGE_KEY,
    VONAGE_SECRET,
    FakePlivo,
    FakeTwilio,
    FakeVonage,
)
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from recado.carriers.probe import ProbeFailed, probe
from recado.carriers.smpp.smsc import LocalSmsc
from recado.errors import NotFound, PermissionDenied
from recado.platform import Platform
from recado.services import carrier_setup
from recado.services.actor import Actor, system_actor
from recado.services.carrier_setup import ConnectionTest
from recado.services.workspaces import NewWorkspace

ESME_RINVPASWD = 0x0E


class FakeTwilioAccounts(FakeTwilio):
    """The fake Twilio API, also serving GET /2010-04-01/Accounts/{sid}.json."""

    def routes(self) -> list[Route]:
        account = Route(
            "/2010-04-01/Accounts/{account_sid}.json", self.read_account, methods=["GET"]
        )
        return [*super().routes(), account]

    async def read_account(self, request: Request) -> Response:
        received, scripted = await self.record(request)
        if scripted is not None:
            return scripted
        if not self.authenticated(received, request):
            return self.error(401, 20003, "Authenticate")
        return JSONResponse(
            {"sid": self.account_sid, "friendly_name": "Recado test", "status": "active"}
        )


class FakeVonageAccount(FakeVonage):
    """The fake Vonage API, also serving GET /account/get-balance (credentials in the query)."""

    def routes(self) -> list[Route]:
        return [*super().routes(), Route("/account/get-balance", self.balance, methods=["GET"])]

    async def balance(self, request: Request) -> Response:
        await self.record(request)
        sent = (request.query_params.get("api_key"), request.query_params.get("api_secret"))
        if sent != (self.api_key, self.api_secret):
            return JSONResponse(
                {"error-code": "401", "error-code-label": "authentication failed"}, 401
            )
        return JSONResponse({"value": 10.28, "autoReload": False})


class FakePlivoAccount(FakePlivo):
    """The fake Plivo API, also serving GET /v1/Account/{auth_id}/ (basic auth)."""

    def routes(self) -> list[Route]:
        account = Route("/v1/Account/{auth_id}/", self.read_account, methods=["GET"])
        return [*super().routes(), account]

    async def read_account(self, request: Request) -> Response:
        received, _ = await self.record(request)
        if not self.authenticated(received, request):
            return self.error(401, "authentication failed")
        return JSONResponse(
            {"auth_id": self.auth_id, "account_type": "standard", "cash_credits": "12.50"}
        )


@pytest.fixture(scope="module")
def plivo() -> Iterator[FakePlivoAccount]:
    with FakePlivoAccount(PLIVO_ID, PLIVO_TOKEN).serving() as fake:
        yield fake


@pytest.fixture(scope="module")
def vonage() -> Iterator[FakeVonageAccount]:
    with FakeVonageAccount(VONAGE_KEY, VONAGE_SECRET).serving() as fake:
        yield fake


@pytest.fixture(scope="module")
def twilio() -> Iterator[FakeTwilioAccounts]:
    with FakeTwilioAccounts(TWILIO_SID, TWILIO_TOKEN).serving() as fake:
        yield fake


@pytest.fixture
async def smsc() -> AsyncIterator[LocalSmsc]:
    async with LocalSmsc() as running:
        yield running


@pytest.fixture
async def refusing_smsc() -> AsyncIterator[int]:
    """An SMPP peer that answers every bind_transceiver with ESME_RINVPASWD."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            length, command, _, sequence = struct.unpack(">IIII", await reader.readexactly(16))
            await reader.readexactly(length - 16)
            body = b"SMSC\x00"
            writer.write(
                struct.pack(">IIII", 16 + len(body), command | 0x80000000, ESME_RINVPASWD, sequence)
                + body
            )
            await writer.drain()
        finally:
            writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


@pytest.fixture
def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def run_probe(
    platform: Platform, workspace: NewWorkspace, kind: str, config: dict[str, Any]
) -> ConnectionTest:
    actor = system_actor(workspace.workspace.id)
    async with platform.sessions() as session:
        connection = await carrier_setup.create_connection(
            session, actor, name=f"{kind} test", kind=kind, config=config, enabled=False
        )
        return await carrier_setup.test_connection(session, actor, connection.id)


async def test_the_simulator_is_always_reachable(
    platform: Platform, workspace: NewWorkspace
) -> None:
    result = await run_probe(platform, workspace, "simulator", {})
    assert result.ok, result.detail
    assert result.elapsed_ms >= 0


async def test_smpp_binds_and_unbinds(
    platform: Platform, workspace: NewWorkspace, smsc: LocalSmsc
) -> None:
    config = {"host": smsc.host, "port": smsc.port, "system_id": "recado", "password": "secret"}
    result = await run_probe(platform, workspace, "smpp", config)
    assert result.ok, result.detail
    assert f"Bound to {smsc.host}:{smsc.port} as recado" in result.detail


async def test_smpp_wrong_password_is_the_smscs_refusal(
    platform: Platform, workspace: NewWorkspace, refusing_smsc: int
) -> None:
    config = {"host": "127.0.0.1", "port": refusing_smsc, "system_id": "recado", "password": "x"}
    result = await run_probe(platform, workspace, "smpp", config)
    assert not result.ok
    assert result.detail == "The SMSC refused the bind (ESME_RINVPASWD / 0x0000000E)."


async def test_smpp_port_nobody_listens_on(
    platform: Platform, workspace: NewWorkspace, free_port: int
) -> None:
    config = {"host": "127.0.0.1", "port": free_port, "system_id": "recado"}
    result = await run_probe(platform, workspace, "smpp", config)
    assert not result.ok
    assert result.detail == f"Could not reach 127.0.0.1:{free_port}: connection refused"


async def test_twilio_accepts_the_stored_credentials(
    platform: Platform, workspace: NewWorkspace, twilio: FakeTwilioAccounts
) -> None:
    twilio.reset()
    config = {"account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN, "base_url": twilio.url}
    result = await run_probe(platform, workspace, "twilio", config)
    assert result.ok, result.detail
    assert twilio.last.method == "GET"
    assert twilio.last.path == f"/2010-04-01/Accounts/{TWILIO_SID}.json"
    assert twilio.last.basic_auth == (TWILIO_SID, TWILIO_TOKEN)


async def test_twilio_wrong_token_is_refused(
    platform: Platform, workspace: NewWorkspace, twilio: FakeTwilioAccounts
) -> None:
    twilio.reset()
    config = {"account_sid": TWILIO_SID, "auth_token": "wrong-token", "base_url": twilio.url}
    result = await run_probe(platform, workspace, "twilio", config)
    assert not result.ok
    assert result.detail == "The provider refused the credentials (HTTP 401)."


@pytest.mark.parametrize(("secret", "ok"), [(VONAGE_SECRET, True), ("wrong", False)])
async def test_vonage_balance_with_the_stored_key(
    platform: Platform, workspace: NewWorkspace, vonage: FakeVonageAccount, secret: str, ok: bool
) -> None:
    vonage.reset()
    config = {"api_key": VONAGE_KEY, "api_secret": secret, "base_url": f"{vonage.url}/sms/json"}
    result = await run_probe(platform, workspace, "vonage", config)
    assert result.ok is ok, result.detail
    assert vonage.last.method == "GET" and vonage.last.path == "/account/get-balance"
    if not ok:
        assert result.detail == "The provider refused the credentials (HTTP 401)."


@pytest.mark.parametrize(("token", "ok"), [(PLIVO_TOKEN, True), ("wrong", False)])
async def test_plivo_account_with_the_stored_auth_id(
    platform: Platform, workspace: NewWorkspace, plivo: FakePlivoAccount, token: str, ok: bool
) -> None:
    plivo.reset()
    config = {"auth_id": PLIVO_ID, "auth_token": token, "base_url": plivo.url}
    result = await run_probe(platform, workspace, "plivo", config)
    assert result.ok is ok, result.detail
    assert plivo.last.method == "GET" and plivo.last.path == f"/v1/Account/{PLIVO_ID}/"
    assert plivo.last.basic_auth == (PLIVO_ID, token)
    expected = (
        "Plivo accepted the credentials."
        if ok
        else ("The provider refused the credentials (HTTP 401).")
    )
    assert result.detail == expected


async def test_http_provider_unreachable(
    platform: Platform, workspace: NewWorkspace, free_port: int
) -> None:
    config = {"auth_id": "MAXXXX", "auth_token": "t", "base_url": f"http://127.0.0.1:{free_port}"}
    result = await run_probe(platform, workspace, "plivo", config)
    assert not result.ok
    assert result.detail == f"Could not reach 127.0.0.1:{free_port}: connection refused"


async def test_needs_manage_settings_and_the_own_workspace(
    platform: Platform, workspace: NewWorkspace, other_workspace: NewWorkspace
) -> None:
    owner = system_actor(workspace.workspace.id)
    async with platform.sessions() as session:
        connection = await carrier_setup.create_connection(
            session, owner, name="sim", kind="simulator", config={}
        )
        with pytest.raises(NotFound):
            await carrier_setup.test_connection(
                session, system_actor(other_workspace.workspace.id), connection.id
            )
        viewer = Actor(workspace_id=workspace.workspace.id, role=_least_role())
        with pytest.raises(PermissionDenied):
            await carrier_setup.test_connection(session, viewer, connection.id)


def _least_role() -> Any:
    from recado.domain.roles import Permission, Role, allows

    return next(role for role in Role if not allows(role, Permission.MANAGE_SETTINGS))


async def test_the_api_answers_the_result(
    client: Any, platform: Platform, workspace: NewWorkspace, free_port: int
) -> None:
    created = await client.post(
        "/v1/carrier-connections",
        json={
            "name": "closed smsc",
            "kind": "smpp",
            "config": {"host": "127.0.0.1", "port": free_port, "system_id": "recado"},
            "enabled": False,
        },
    )
    assert created.status_code == 201, created.text
    answer = await client.post(f"/v1/carrier-connections/{created.json()['id']}/test")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["ok"] is False
    assert body["detail"] == f"Could not reach 127.0.0.1:{free_port}: connection refused"
    assert isinstance(body["elapsed_ms"], int)
    missing = await client.post("/v1/carrier-connections/conn_doesnotexist/test")
    assert missing.status_code == 404


async def test_a_peer_that_never_answers_times_out() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # until the probe gives up and closes
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(ProbeFailed) as failure:
            await probe("smpp", {"host": "127.0.0.1", "port": port, "system_id": "x"}, seconds=0.3)
    finally:
        server.close()
        await server.wait_closed()
    assert failure.value.detail == f"Could not reach 127.0.0.1:{port}: no answer in 0.3 s"
