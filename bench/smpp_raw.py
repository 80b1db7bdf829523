"""The raw SMPP ceiling: a bare windowed smpp34 client against the local SMSC, storing nothing.

It submits N texts (submit_sm, registered_delivery=1), keeping `window` submits outstanding,
and reads every delivery receipt. No database, no dispatcher, no connector: the fastest
this machine moves SMPP traffic, for the end-to-end bench to be measured against. Its
connection gets what Recado's bind gets: TCP_NODELAY and an inbound queue of 10,000.

    python bench/smpp_raw.py [--messages 100000] [--window 10] [--host H --port P]

Without --port, the local SMSC runs in a separate process (`python -m
recado.carriers.smpp.smsc`), as a carrier would run elsewhere. The last line printed is one
JSON object: messages, seconds (first submit to last receipt), submits_per_s, receipts.
Other benches import `raw_ceiling` and `local_smsc_process`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import smpp34

from recado import event_loop
from recado.carriers.smpp.nodelay import disable_nagle
from recado.domain.encoding import gsm7_septets

INBOUND_QUEUE = 10_000
RECEIPT_WAIT_SECONDS = 60.0  # after the last submit, how long missing receipts are awaited


async def raw_ceiling(n: int, host: str, port: int, window: int = 10) -> dict[str, Any]:
    """Submit `n` texts through one transceiver bind and wait for their `n` receipts."""
    # The inbound queue Recado's connector has by default (`inbound_queue`): with smpp34's own,
    # far smaller one, a reader that falls behind gets receipts refused and the bind dropped.
    client = smpp34.Client(
        host,
        port,
        "bench",
        "bench",
        bind_type="TRX",
        window_size=window,
        inbound_capacity=INBOUND_QUEUE,
    )
    session = await client.connect()
    await disable_nagle(host, port)  # as Recado's bind does: the ratio is about storing, not TCP
    receipts = 0
    refused = 0
    all_receipts = asyncio.Event()

    async def read_receipts() -> None:
        nonlocal receipts
        deliver_sm = smpp34.DeliverSmEvent
        while True:
            event = await session.next()
            if type(event) is not deliver_sm:
                return  # Disconnected
            if event.esm_class & 0x04:
                receipts += 1
                if receipts >= n:
                    all_receipts.set()

    numbers = iter(range(n))
    short_message = gsm7_septets("Recado bench: your code is 123456")

    async def lane() -> None:
        nonlocal refused
        submit_sm = session.submit_sm
        for _ in numbers:
            response = await submit_sm(
                "15551234567",
                short_message,
                source_addr="Recado",
                source_addr_ton=5,
                dest_addr_ton=1,
                dest_addr_npi=1,
                registered_delivery=1,
            )
            if response.command_status:
                refused += 1

    reader = asyncio.ensure_future(read_receipts())
    started = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(window)))
    submitted = time.perf_counter()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(RECEIPT_WAIT_SECONDS):
            await all_receipts.wait()
    finished = time.perf_counter()
    # The smpp34 server closes the connection instead of answering unbind; either way the
    # reader's pending next() ends with Disconnected.
    with contextlib.suppress(Exception):
        async with asyncio.timeout(2):
            await session.unbind()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(2):
            await reader
    await client.stop()
    seconds = finished - started
    return {
        "messages": n,
        "seconds": round(seconds, 2),
        "submits_per_s": round(n / seconds),
        "receipts": receipts,
        "submit_seconds": round(submitted - started, 2),
        "refused": refused,
        "window": window,
    }


@contextlib.asynccontextmanager
async def local_smsc_process(*options: str) -> AsyncIterator[tuple[str, int]]:
    """Run the local SMSC in its own process; yields its (host, port)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "recado.carriers.smpp.smsc",
        *options,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    try:
        address = json.loads(await process.stdout.readline())
        yield address["host"], address["port"]
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(10):
                    await process.communicate()
            except TimeoutError:
                process.kill()
                await process.wait()


async def _main(args: argparse.Namespace) -> dict[str, Any]:
    if args.port:
        return await raw_ceiling(args.messages, args.host, args.port, args.window)
    async with local_smsc_process() as (host, port):
        return await raw_ceiling(args.messages, host, port, args.window)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--window", type=int, default=10)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="an SMSC already running there")
    result = event_loop.run(_main(parser.parse_args()))
    print(json.dumps(result), flush=True)
    # smpp34's runtime threads can abort a finalizing interpreter; the result is out already.
    os._exit(0)


if __name__ == "__main__":
    main()
