"""The per-second histogram of one sender limited to 100 messages per second.

Runs the real dispatcher against a fresh SQLite database (or --database-url) with the
simulator as carrier, and stamps every submit. Prints, as its last line, one JSON object:
the count in each wall-clock second, and the most seen in any sliding one-second window.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import insert, update

from recado.carriers.base import OutboundSMS, SubmitResult
from recado.carriers.simulator import SimulatorConnector
from recado.db.migrate import upgrade
from recado.db.tables import Message, Sender, utcnow
from recado.delivery.dispatcher import Dispatcher
from recado.ids import new_id
from recado.platform import Platform, freeze_startup_heap
from recado.services.workspaces import create_workspace
from recado.settings import Settings


class StampingSimulator(SimulatorConnector):
    def __init__(self) -> None:
        super().__init__("stamping", {"delivery_delay_seconds": 0.5})
        self.stamps: list[float] = []

    async def submit(self, sms: OutboundSMS) -> SubmitResult:
        self.stamps.append(time.monotonic())
        return await super().submit(sms)


async def main(rate: int, seconds: int, database_url: str) -> dict[str, object]:
    platform = Platform(Settings(database_url=database_url, _env_file=None))  # type: ignore[call-arg]
    async with platform.sessions() as session:
        ws = await create_workspace(session, name="Bench", owner_email=f"{new_id('u')}@bench.test")
        await session.execute(
            update(Sender).where(Sender.workspace_id == ws.workspace.id).values(rate_limit_mps=rate)
        )
        sender = "+12015550100"
        now = utcnow()
        rows = []
        for i in range(rate * seconds):
            message_id = new_id("msg")
            rows.append(
                {
                    "id": message_id,
                    "workspace_id": ws.workspace.id,
                    "direction": "outbound",
                    "sender": sender,
                    "recipient": f"+1415723{i % 10000:04d}",
                    "body": f"bench {i}",
                    "media_urls": [],
                    "category": "transactional",
                    "status": "queued",
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
    carrier = StampingSimulator()
    await carrier.start(platform.carrier_events)
    freeze_startup_heap()  # as `recado serve` and `recado worker` do once started
    dispatcher = Dispatcher(platform.sessions, carrier, batch_size=500)
    while await dispatcher.run_once(batches=None):  # as run_forever chains them
        pass
    await carrier.stop()
    await platform.close()
    stamps = carrier.stamps
    start = stamps[0]
    per_second = Counter(int(t - start) for t in stamps)
    histogram = [per_second[s] for s in range(max(per_second) + 1)]
    worst, j = 0, 0
    for i, t in enumerate(stamps):
        while stamps[j] <= t - 1.0:
            j += 1
        worst = max(worst, i - j + 1)
    full = histogram[:-1] or histogram  # the last second is partial
    return {
        "rate_limit_mps": rate,
        "messages": len(stamps),
        "seconds": round(stamps[-1] - start, 2),
        "per_second": histogram,
        "min_per_s": min(full),
        "max_per_s": max(full),
        "max_in_any_1s_window": worst,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=int, default=100)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
        upgrade(url)
        print(json.dumps(asyncio.run(main(args.rate, args.seconds, url))))
