"""The running platform: one engine, the carrier connectors and the background workers.

In the embedded mode one process holds all of it; the API, the CLI and the tests build a
Platform from Settings and start only the parts they need.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
from datetime import timedelta

from sqlalchemy import select

from recado.carriers.base import Connector, build_connector
from recado.db.engine import make_engine, make_sessionmaker
from recado.db.tables import CarrierConnection
from recado.delivery.campaign_timers import CampaignTimers
from recado.delivery.carrier_events import CarrierEventHandler
from recado.delivery.dispatcher import Dispatcher
from recado.delivery.in_flight import InFlight
from recado.delivery.report_refresher import ReportRefresher
from recado.delivery.webhook_sender import WebhookSender
from recado.services.outbox_writer import OutboxWriter
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
        # Shared: a delivery report waits for the dispatcher to record its carrier id.
        self.in_flight = InFlight()
        self.carrier_events = CarrierEventHandler(
            self.sessions, on_inbound=self._inbound_arrived, in_flight=self.in_flight
        )
        self.outbox = OutboxWriter(self.sessions)  # the API's group commit of accepted texts
        self.dispatcher = Dispatcher(
            self.sessions,
            self.connector,
            batch_size=settings.dispatch_batch_size,
            idle_seconds=settings.dispatch_idle_seconds,
            connectors=self.connectors,
            submit_lease=timedelta(seconds=settings.submit_lease_seconds),
            claim_lease=timedelta(seconds=settings.claim_lease_seconds),
            in_flight=self.in_flight,
        )
        self._configs: dict[str, str] = {}  # connection id -> its config as loaded
        self._running = False
        self._starting: set[asyncio.Task[None]] = set()
        self.webhooks = WebhookSender(self.sessions)
        self.campaign_timers = CampaignTimers(
            self.sessions, base_url=settings.base_url, on_messages=self.dispatcher.notify
        )
        self.report_refresher = ReportRefresher(self.sessions)
        self._tasks: list[asyncio.Task[None]] = []

    def _inbound_arrived(self) -> None:
        # A stage may have queued an auto-reply: send it without waiting for the next poll.
        self.dispatcher.notify()

    async def sync_connectors(self) -> None:
        """Make the running connectors match the enabled carrier connections in the database.

        Called at start and whenever a connection is created, changed or removed. A changed
        connection is rebuilt; one that cannot be built is logged and left out.
        """
        async with self.sessions() as session:
            rows = list(
                await session.scalars(
                    select(CarrierConnection).where(CarrierConnection.enabled.is_(True))
                )
            )
        wanted = {row.id: row for row in rows}
        for name in [n for n in self.connectors if n != self.connector.name]:
            row = wanted.get(name)
            if row is None or _fingerprint(row) != self._configs.get(name):
                await self.connectors[name].stop()
                del self.connectors[name]
                self._configs.pop(name, None)
        for row in rows:
            if row.id in self.connectors:
                continue
            config = {"public_url": self.settings.base_url, **(row.config or {})}
            try:
                connector = build_connector(row.kind, row.id, config)
            except (ValueError, KeyError, TypeError) as exc:
                log.error("carrier connection %s (%s) not started: %s", row.name, row.kind, exc)
                continue
            self.connectors[row.id] = connector
            self._configs[row.id] = _fingerprint(row)
            if self._running:
                # Connect in the background: a slow bind must not hold the API request.
                task = asyncio.create_task(connector.start(self.carrier_events))
                self._starting.add(task)
                task.add_done_callback(self._starting.discard)
        self.dispatcher.config_changed()

    async def start_workers(self) -> None:
        """Connect the carriers and start dispatching (the embedded mode)."""
        self._running = True
        await self.sync_connectors()
        for connector in list(self.connectors.values()):
            await connector.start(self.carrier_events)
        self._tasks.append(asyncio.create_task(self.dispatcher.run_forever(), name="dispatcher"))
        self._tasks.append(asyncio.create_task(self.webhooks.run_forever(), name="webhooks"))
        self._tasks.append(
            asyncio.create_task(self.campaign_timers.run_forever(), name="campaign-timers")
        )
        self._tasks.append(
            asyncio.create_task(self.report_refresher.run_forever(), name="report-snapshots")
        )
        freeze_startup_heap()
        log.info("dispatcher started with connectors %s", ", ".join(self.connectors))

    async def close(self) -> None:
        for task in list(self._starting):
            task.cancel()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        for connector in list(self.connectors.values()):
            await connector.stop()
        self._running = False
        await self.webhooks.close()
        await self.engine.dispose()


_heap_frozen = False


def freeze_startup_heap() -> None:
    """Keep what the process loaded at startup (modules, phone number metadata, the ORM's
    mappings, carrier connections) out of the garbage collector's full passes: it lives as
    long as the process, and scanning it paused the event loop for about 100 ms every 10 to
    20 s, in which a 100 MPS sender lost up to 10 texts of that second (14 ms after this).
    Once per process: a later call would also keep whatever is garbage by then."""
    global _heap_frozen
    if not _heap_frozen:
        gc.collect()
        gc.freeze()
        _heap_frozen = True


def _fingerprint(row: CarrierConnection) -> str:
    return json.dumps([row.kind, row.config], sort_keys=True, default=str)
