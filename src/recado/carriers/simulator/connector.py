"""A carrier network in a box: accepts texts and reports delivery after a configurable delay.

It makes the whole platform usable offline (`make run`, the demo, the tests). Outcomes are
drawn per message from the configured ratios; a seeded RNG makes test runs repeatable.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from typing import Any

from recado.carriers.base import (
    CarrierEvents,
    Connector,
    DeliveryReport,
    InboundSMS,
    OutboundSMS,
    SubmitError,
    SubmitResult,
    register,
)


@register
class SimulatorConnector(Connector):
    code = "simulator"

    def __init__(self, name: str, config: dict[str, Any]) -> None:
        super().__init__(name, config)
        self.delay = float(config.get("delivery_delay_seconds", 1.0))
        self.failure_ratio = float(config.get("failure_ratio", 0.0))
        self.undelivered_ratio = float(config.get("undelivered_ratio", 0.0))
        self._random = random.Random(config.get("seed"))
        self._events: CarrierEvents | None = None
        self._pending: set[asyncio.Task[None]] = set()
        self.submitted: list[OutboundSMS] = []  # what "reached the network", for tests and demos

    async def start(self, events: CarrierEvents) -> None:
        self._events = events

    async def stop(self) -> None:
        for task in list(self._pending):
            task.cancel()
        await asyncio.gather(*self._pending, return_exceptions=True)
        self._events = None

    @property
    def connected(self) -> bool:
        return self._events is not None

    async def submit(self, sms: OutboundSMS) -> SubmitResult:
        if self._events is None:
            raise SubmitError("not_connected", "the simulator is not started", temporary=True)
        draw = self._random.random()
        if draw < self.failure_ratio:
            raise SubmitError("rejected", "the simulated carrier rejected the destination")
        self.submitted.append(sms)
        carrier_id = f"sim-{uuid.uuid4().hex}"
        undelivered = draw < self.failure_ratio + self.undelivered_ratio
        report = DeliveryReport(
            connector=self.name,
            carrier_message_id=carrier_id,
            status="undelivered" if undelivered else "delivered",
            error_code="absent_subscriber" if undelivered else None,
            error_message="the handset was unreachable" if undelivered else None,
        )
        task = asyncio.create_task(self._report_later(report))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
        return SubmitResult(carrier_id)

    async def inject_inbound(self, sender: str, recipient: str, body: str) -> None:
        """Deliver a text as if a handset had sent it (the simulator's inbound endpoint)."""
        if self._events is None:
            raise SubmitError("not_connected", "the simulator is not started", temporary=True)
        await self._events.inbound(
            InboundSMS(self.name, sender, recipient, body, f"sim-in-{uuid.uuid4().hex}")
        )

    async def _report_later(self, report: DeliveryReport) -> None:
        await asyncio.sleep(self.delay)
        if self._events is not None:
            await self._events.delivery_report(report)
