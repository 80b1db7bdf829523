"""Fixtures for the SMPP connector: a local SMSC on a free loopback port, recording events,
and a factory for connectors bound to that SMSC (stopped at the end of each test)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from recado.carriers.base import DeliveryReport, InboundSMS
from recado.carriers.smpp.connector import SmppConnector
from recado.carriers.smpp.smsc import LocalSmsc


class RecordedEvents:
    """CarrierEvents that keep what they were told, with waits for tests."""

    def __init__(self) -> None:
        self.reports: list[DeliveryReport] = []
        self.texts: list[InboundSMS] = []

    async def delivery_report(self, report: DeliveryReport) -> None:
        self.reports.append(report)

    async def inbound(self, sms: InboundSMS) -> None:
        self.texts.append(sms)

    async def wait_for_reports(self, count: int, seconds: float = 5.0) -> list[DeliveryReport]:
        await until(lambda: len(self.reports) >= count, seconds, f"{count} reports")
        return self.reports

    async def wait_for_texts(self, count: int, seconds: float = 5.0) -> list[InboundSMS]:
        await until(lambda: len(self.texts) >= count, seconds, f"{count} inbound texts")
        return self.texts


async def until(condition: Callable[[], bool], seconds: float = 5.0, what: str = "it") -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {seconds} s for {what}")
        await asyncio.sleep(0.01)


ConnectorFactory = Callable[..., Awaitable[SmppConnector]]


@pytest.fixture
async def smsc() -> AsyncIterator[LocalSmsc]:
    async with LocalSmsc() as running:
        yield running


@pytest.fixture
def events() -> RecordedEvents:
    return RecordedEvents()


@pytest.fixture
def wait_until() -> Callable[..., Awaitable[None]]:
    return until


@pytest.fixture
async def connect(smsc: LocalSmsc, events: RecordedEvents) -> AsyncIterator[ConnectorFactory]:
    """Start an SmppConnector on the local SMSC; keyword arguments override its config."""
    started: list[SmppConnector] = []

    async def start(**overrides: Any) -> SmppConnector:
        config = {
            "host": smsc.host,
            "port": smsc.port,
            "system_id": "recado",
            "password": "secret",
            "submit_id_format": "hex",  # as the local SMSC writes them unless told otherwise
            **overrides,
        }
        connector = SmppConnector("smpp-test", config)
        started.append(connector)
        await connector.start(events)
        return connector

    yield start
    for connector in started:
        await connector.stop()
