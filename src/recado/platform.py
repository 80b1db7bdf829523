"""The running platform: one engine, the carrier connectors and the background workers.

In the embedded mode one process holds all of it; the API, the CLI and the tests build a
Platform from Settings and start only the parts they need.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from recado.carriers.base import Connector, build_connector
from recado.db.engine import make_engine, make_sessionmaker
from recado.delivery.carrier_events import CarrierEventHandler
from recado.delivery.dispatcher import Dispatcher
from recado.delivery.webhook_sender import WebhookSender
from recado.settings import Settings

log = logging.getLogger(__name__)


class Platform:
    def __init__(self, settings: Settings, *, connector: Connector | None = None) -> None:
        self.settings = settings
        self.engine = make_engine(settings.database_url)
        self.sessions = make_sessionmaker(self.engine)
        self.connector = connector or build_connector(
            "simulator",
            "simulator",
            {
                "delivery_delay_seconds": settings.simulator_delivery_delay_seconds,
                "failure_ratio": settings.simulator_failure_ratio,
                "undelivered_ratio": settings.simulator_undelivered_ratio,
            },
        )
        # Every connector by name, for routing and for providers' webhooks.
        self.connectors: dict[str, Connector] = {self.connector.name: self.connector}
        self.carrier_events = CarrierEventHandler(self.sessions)
        self.dispatcher = Dispatcher(
            self.sessions,
            self.connector,
            batch_size=settings.dispatch_batch_size,
            idle_seconds=settings.dispatch_idle_seconds,
        )
        self.webhooks = WebhookSender(self.sessions)
        self._tasks: list[asyncio.Task[None]] = []

    async def start_workers(self) -> None:
        """Connect the carriers and start dispatching (the embedded mode)."""
        await self.connector.start(self.carrier_events)
        self._tasks.append(asyncio.create_task(self.dispatcher.run_forever(), name="dispatcher"))
        self._tasks.append(asyncio.create_task(self.webhooks.run_forever(), name="webhooks"))
        log.info("dispatcher started with connector %s", self.connector.name)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await self.connector.stop()
        await self.webhooks.close()
        await self.engine.dispose()
