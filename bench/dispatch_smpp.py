"""End-to-end SMPP dispatch: N queued texts through the real dispatcher and SMPP connector.

N single-part messages are queued with batched inserts; the platform's workers (the real
Dispatcher, with the SMPP connector as its carrier and the real delivery-report handler) send
them to the local smpp34 SMSC, which answers every submit with a receipt. The clock runs from
the first submit until the last receipt's `delivered` status is committed. In the same run,
the raw ceiling: a bare windowed smpp34 client sending N submits to the same SMSC and
reading their receipts, storing nothing (bench/smpp_raw.py).

    .venv/bin/python bench/dispatch_smpp.py                         # 100,000 texts, SQLite
    .venv/bin/python bench/dispatch_smpp.py --messages 2000
    .venv/bin/python bench/dispatch_smpp.py --database-url postgresql+psycopg://127.0.0.1:5432/test

With --database-url a scratch database is created beside the given one and dropped at the end.
Both phases run on the event loop `recado worker` runs on (uvloop when it is installed).
Each phase gets its own SMSC process, started the same way; the Recado phase's SMSC reports
how many submits it received, so a text submitted twice shows as a duplicate. The last line
printed is one JSON object with the measured numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import func, insert, select, update

from recado import event_loop
from recado.carriers.base import (
    CarrierEvents,
    DeliveryReport,
    InboundSMS,
    OutboundSMS,
    SubmitResult,
)
from recado.carriers.smpp.connector import SmppConnector
from recado.db.engine import make_engine, make_sessionmaker
from recado.db.migrate import upgrade
from recado.db.tables import Message, MessageEvent, Sender, utcnow
from recado.domain.message_status import MessageStatus
from recado.ids import new_id
from recado.platform import Platform
from recado.services.workspaces import create_workspace
from recado.settings import Settings

sys.path.insert(0, str(Path(__file__).parent))
from smpp_raw import local_smsc_process, raw_ceiling  # noqa: E402

BODY = "Recado bench: your code is {code:06d}"  # 33 GSM-7 characters: one part
INSERT_CHUNK = 5_000
PROGRESS_SECONDS = 10.0  # a line on stderr this often: a full run takes minutes
STALL_SECONDS = 60.0  # no submit and no stored receipt for this long: give up and report


class StampedSmpp(SmppConnector):
    """The real SMPP connector, noting when the first submit starts and the last one ends."""

    def __init__(self, name: str, config: dict[str, Any]) -> None:
        super().__init__(name, config)
        self.first_submit: float | None = None
        self.last_submit: float = 0.0
        self.submitted = 0

    async def submit(self, sms: OutboundSMS) -> SubmitResult:
        if self.first_submit is None:
            self.first_submit = time.perf_counter()
        result = await super().submit(sms)
        self.submitted += 1
        self.last_submit = time.perf_counter()
        return result


class CountedEvents:
    """The platform's carrier-event handler, counting the delivery reports it has stored."""

    def __init__(self, inner: CarrierEvents, expected: int) -> None:
        self.inner = inner
        self.expected = expected
        self.stored = 0
        self.last_stored = 0.0
        self.all_stored = asyncio.Event()

    async def delivery_report(self, report: DeliveryReport) -> None:
        await self.inner.delivery_report(report)  # returns once its status is committed
        self.stored += 1
        self.last_stored = time.perf_counter()
        if self.stored >= self.expected:
            self.all_stored.set()

    async def inbound(self, sms: InboundSMS) -> None:
        await self.inner.inbound(sms)


@contextlib.asynccontextmanager
async def counted_smsc_process() -> AsyncIterator[tuple[str, int, dict[str, int]]]:
    """Like `local_smsc_process`, and fills the dict with the SMSC's own counts when it stops."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "recado.carriers.smpp.smsc", stdout=asyncio.subprocess.PIPE
    )
    assert process.stdout is not None
    counts: dict[str, int] = {}
    try:
        address = json.loads(await process.stdout.readline())
        yield address["host"], address["port"], counts
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(10):
                    out, _ = await process.communicate()
                lines = out.decode().strip().splitlines()
                counts.update(json.loads(lines[-1]) if lines else {})
            except TimeoutError:
                process.kill()
                await process.wait()


async def queue_messages(url: str, n: int) -> str:
    """A workspace whose default sender is not rate limited, and `n` queued texts from it."""
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    try:
        async with sessions() as session:
            ws = await create_workspace(
                session, name="Bench", owner_email=f"bench-{uuid.uuid4().hex[:6]}@example.com"
            )
            workspace_id = ws.workspace.id
            await session.execute(
                update(Sender)
                .where(Sender.workspace_id == workspace_id)
                .values(rate_limit_mps=1_000_000.0)
            )
            sender = await session.scalar(
                select(Sender.address).where(Sender.workspace_id == workspace_id)
            )
            await session.commit()
            now = utcnow()
            for start in range(0, n, INSERT_CHUNK):
                rows = []
                for i in range(start, min(n, start + INSERT_CHUNK)):
                    message_id = new_id("msg")
                    rows.append(
                        {
                            "id": message_id,
                            "workspace_id": workspace_id,
                            "direction": "outbound",
                            "sender": sender,
                            "recipient": f"+1415{200 + i // 10_000 % 800:03d}{i % 10_000:04d}",
                            "body": BODY.format(code=i * 7919 % 1_000_000),
                            "media_urls": [],
                            "category": "transactional",
                            "status": MessageStatus.QUEUED.value,
                            "idempotency_key": message_id,
                            "encoding": "GSM-7",
                            "segments": 1,
                            "attempts": 0,
                            "created_at": now,
                            "updated_at": now,
                        }
                    )
                await session.execute(insert(Message), rows)
                await session.commit()
    finally:
        await engine.dispose()
    return workspace_id


async def recado_phase(url: str, n: int, window: int) -> dict[str, Any]:
    """The platform's workers dispatch the queued texts; timed from the first submit to the
    last delivery report stored."""
    async with counted_smsc_process() as (host, port, smsc_counts):
        config = {
            "host": host,
            "port": port,
            "system_id": "recado",
            "window": window,
            "submit_id_format": "hex",  # as the local SMSC writes them
        }
        connector = StampedSmpp("smpp-bench", config)
        settings = Settings(database_url=url, _env_file=None)  # type: ignore[call-arg]
        platform = Platform(settings, connector=connector)
        events = CountedEvents(platform.carrier_events, n)
        platform.carrier_events = events  # type: ignore[assignment]
        cpu = cpu_seconds()
        await platform.start_workers()  # binds, then starts the dispatcher
        await wait_for_reports(connector, events)
        cpu = cpu_seconds() - cpu
        await platform.close()
    started = connector.first_submit or time.perf_counter()
    return {
        "seconds": (events.last_stored or time.perf_counter()) - started,
        "submit_seconds": connector.last_submit - started,
        "receipts_stored": events.stored,
        "cpu_seconds": cpu,
        "smsc_submits": smsc_counts.get("submits", -1),
        "smsc_receipts": smsc_counts.get("receipts", -1),
    }


async def wait_for_reports(connector: StampedSmpp, events: CountedEvents) -> None:
    """Until every report is stored, or nothing moves for STALL_SECONDS; progress on stderr."""
    progress, progress_at = -1, time.perf_counter()
    next_report = progress_at + PROGRESS_SECONDS
    while not events.all_stored.is_set():
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(1.0):
                await events.all_stored.wait()
        now = time.perf_counter()
        state = f"{connector.submitted} submitted, {events.stored} receipts stored"
        if now >= next_report:
            print(f"recado: {state}", file=sys.stderr, flush=True)
            next_report = now + PROGRESS_SECONDS
        if connector.submitted + events.stored != progress:
            progress, progress_at = connector.submitted + events.stored, now
        elif now - progress_at > STALL_SECONDS:
            print(f"stalled for {STALL_SECONDS:g} s: {state}", file=sys.stderr, flush=True)
            return


async def check_database(url: str, workspace_id: str) -> dict[str, Any]:
    """What the database holds after the run: statuses, carrier ids, repeated attempts."""
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    try:
        async with sessions() as session:
            of_workspace = Message.workspace_id == workspace_id
            by_status = await session.execute(
                select(Message.status, func.count()).where(of_workspace).group_by(Message.status)
            )
            statuses = {status: count for status, count in by_status}
            carrier_ids = await session.scalar(
                select(func.count(func.distinct(Message.carrier_message_id))).where(of_workspace)
            )
            retried = await session.scalar(
                select(func.count()).where(of_workspace, Message.attempts > 1)
            )
            # A message marked `sending` twice went to the carrier twice.
            twice_sending = await session.scalar(
                select(func.count()).select_from(
                    select(MessageEvent.message_id)
                    .where(
                        MessageEvent.workspace_id == workspace_id,
                        MessageEvent.status == MessageStatus.SENDING.value,
                    )
                    .group_by(MessageEvent.message_id)
                    .having(func.count() > 1)
                    .subquery()
                )
            )
    finally:
        await engine.dispose()
    return {
        "statuses": statuses,
        "carrier_ids": carrier_ids or 0,
        "retried": retried or 0,
        "twice_sending": twice_sending or 0,
    }


async def run(url: str, database: str, n: int, window: int) -> dict[str, Any]:
    async with local_smsc_process() as (host, port):
        cpu = cpu_seconds()
        raw = await raw_ceiling(n, host, port, window)
        raw_cpu = cpu_seconds() - cpu
    workspace_id = await queue_messages(url, n)
    recado = await recado_phase(url, n, window)
    stored = await check_database(url, workspace_id)
    delivered = stored["statuses"].get(MessageStatus.DELIVERED.value, 0)
    recado_rate = n / recado["seconds"] if recado["receipts_stored"] >= n else 0.0
    raw_rate = n / raw["seconds"] if raw["receipts"] >= n else 0.0
    # Submits beyond one per message: seen by the SMSC, and from the database's own records.
    smsc_extra = max(0, recado["smsc_submits"] - stored["carrier_ids"])
    return {
        "messages": n,
        "database": database,
        "recado_messages_per_s": round(recado_rate),
        "raw_messages_per_s": round(raw_rate),
        "ratio_to_raw": round(recado_rate / raw_rate, 3) if raw_rate else None,
        "delivered": delivered,
        "duplicates": max(smsc_extra, stored["twice_sending"]),
        "seconds": round(recado["seconds"], 2),
        "submit_seconds": round(recado["submit_seconds"], 2),
        "raw_seconds": raw["seconds"],
        "window": window,
        "smsc_submits": recado["smsc_submits"],
        "smsc_receipts": recado["smsc_receipts"],
        "receipts_stored": recado["receipts_stored"],
        "distinct_carrier_ids": stored["carrier_ids"],
        "retried": stored["retried"],
        "statuses": stored["statuses"],
        # This process only (the SMSC and a PostgreSQL server run elsewhere).
        "recado_cpu_seconds": round(recado["cpu_seconds"], 1),
        "raw_cpu_seconds": round(raw_cpu, 1),
    }


def cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--window", type=int, default=10, help="submits outstanding at once")
    parser.add_argument("--database-url", help="postgresql+psycopg://host:port/db (else SQLite)")
    args = parser.parse_args()
    load_before = round(os.getloadavg()[0], 1)
    with tempfile.TemporaryDirectory(prefix="recado-bench-") as folder:
        if args.database_url:
            admin_url = args.database_url.replace("postgresql+psycopg://", "postgresql://", 1)
            name = f"recado_bench_{uuid.uuid4().hex[:10]}"
            with psycopg.connect(admin_url, autocommit=True) as admin:
                admin.execute(f'CREATE DATABASE "{name}"')
                try:
                    url = f"{args.database_url.rpartition('/')[0]}/{name}"
                    upgrade(url)
                    result = event_loop.run(run(url, "postgresql", args.messages, args.window))
                finally:
                    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        else:
            url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
            upgrade(url)
            result = event_loop.run(run(url, "sqlite", args.messages, args.window))
    load = {"load_average_before": load_before, "load_average_after": round(os.getloadavg()[0], 1)}
    print(json.dumps({**result, **load}), flush=True)
    # smpp34's runtime threads can abort a finalizing interpreter; the result is out already.
    os._exit(0)


if __name__ == "__main__":
    main()
