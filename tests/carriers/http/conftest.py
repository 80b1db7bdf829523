"""Fixtures for the HTTP provider connectors: the fake provider APIs (one server per test
session, reset per test) and connectors pointed at them, started with recording events."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
from fake_providers import (
    PLIVO_ID,
    PLIVO_TOKEN,
    PUBLIC_URL,
    TWILIO_SID,
    TWILIO_TOKEN,
    VONAGE_KEY,
    VONAGE_SECRET,
    VONAGE_SIGNATURE_SECRET,
    FakePlivo,
    FakeTwilio,
    FakeVonage,
    RecordingEvents,
)

from recado.carriers.base import Connector
from recado.carriers.plivo import PlivoConnector
from recado.carriers.twilio import TwilioConnector
from recado.carriers.vonage import VonageConnector

ConnectorFactory = Callable[..., Awaitable[Any]]


@pytest.fixture(scope="session")
def twilio_server() -> Iterator[FakeTwilio]:
    with FakeTwilio(TWILIO_SID, TWILIO_TOKEN).serving() as fake:
        yield fake


@pytest.fixture(scope="session")
def vonage_server() -> Iterator[FakeVonage]:
    with FakeVonage(VONAGE_KEY, VONAGE_SECRET).serving() as fake:
        yield fake


@pytest.fixture(scope="session")
def plivo_server() -> Iterator[FakePlivo]:
    with FakePlivo(PLIVO_ID, PLIVO_TOKEN).serving() as fake:
        yield fake


@pytest.fixture
def twilio_api(twilio_server: FakeTwilio) -> FakeTwilio:
    twilio_server.reset()
    return twilio_server


@pytest.fixture
def vonage_api(vonage_server: FakeVonage) -> FakeVonage:
    vonage_server.reset()
    return vonage_server


@pytest.fixture
def plivo_api(plivo_server: FakePlivo) -> FakePlivo:
    plivo_server.reset()
    return plivo_server


@pytest.fixture
def events() -> RecordingEvents:
    return RecordingEvents()


@pytest.fixture
def closed_port_url() -> str:
    """A local URL nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
async def started(events: RecordingEvents) -> AsyncIterator[Callable[..., Awaitable[Any]]]:
    """Build and start a connector (stopped again after the test)."""
    running: list[Connector] = []

    async def start(cls: type[Connector], name: str, config: dict[str, Any]) -> Connector:
        connector = cls(name, {"public_url": PUBLIC_URL, "timeout_seconds": 2.0} | config)
        await connector.start(events)
        running.append(connector)
        return connector

    yield start
    for connector in running:
        await connector.stop()


@pytest.fixture
def make_twilio(twilio_api: FakeTwilio, started: ConnectorFactory) -> ConnectorFactory:
    async def make(**config: Any) -> TwilioConnector:
        base = {"account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN, "base_url": twilio_api.url}
        connector: TwilioConnector = await started(TwilioConnector, "twilio-us", base | config)
        return connector

    return make


@pytest.fixture
def make_vonage(vonage_api: FakeVonage, started: ConnectorFactory) -> ConnectorFactory:
    async def make(**config: Any) -> VonageConnector:
        base = {
            "api_key": VONAGE_KEY,
            "api_secret": VONAGE_SECRET,
            "signature_secret": VONAGE_SIGNATURE_SECRET,
            "base_url": f"{vonage_api.url}/sms/json",
        }
        connector: VonageConnector = await started(VonageConnector, "vonage-eu", base | config)
        return connector

    return make


@pytest.fixture
def make_plivo(plivo_api: FakePlivo, started: ConnectorFactory) -> ConnectorFactory:
    async def make(**config: Any) -> PlivoConnector:
        base = {"auth_id": PLIVO_ID, "auth_token": PLIVO_TOKEN, "base_url": plivo_api.url}
        connector: PlivoConnector = await started(PlivoConnector, "plivo-in", base | config)
        return connector

    return make
