"""Sustained `POST /v1/messages`: accepted messages per second and latency, 32 clients, 30 s.

The real server runs as its own process (`recado serve` from this venv) on a scratch
database; 32 keep-alive connections each send one request after another for the measured
seconds, every request with its own Idempotency-Key, a realistic transactional body (codes,
two-part order notices, Portuguese texts in UCS-2, invoices with a tracked link) and a recipient
from a pool of valid US and Brazilian numbers written as people write them. Marketing is left
out: it needs recorded consent and is capped per contact, so sending it back to back to a pool
of numbers would measure refusals; campaigns are its path. By default it runs twice: with the dispatcher in the
server (`recado serve`'s default, the sender not rate limited so the dispatcher drains the
outbox as fast as it can, with the built-in simulator as carrier) and without it
(RECADO_RUN_WORKERS=false, a separate worker would dispatch). After each run the database must
hold exactly one message per 202 answer.

    .venv/bin/python bench/api_accept.py                            # 30 s, 32 clients, SQLite
    .venv/bin/python bench/api_accept.py --seconds 5 --workers off
    .venv/bin/python bench/api_accept.py --database-url postgresql+psycopg://127.0.0.1:5432/test

The client is a minimal HTTP/1.1 keep-alive client on asyncio streams (uvloop when installed),
so that it costs the server's CPU as little as possible; its CPU and the server process's CPU
are reported. With --database-url a scratch database is created beside the given one and
dropped at the end. The last line printed is one JSON object with the measured numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import os
import random
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import func, select, update

from recado.db.engine import make_engine, make_sessionmaker
from recado.db.migrate import upgrade
from recado.db.tables import Message, Sender
from recado.services.workspaces import create_workspace

sys.path.insert(0, str(Path(__file__).parent))
from import_contacts import valid_number  # noqa: E402

NUMBERS = 20_000  # distinct recipients: a long run sends to new and to known contacts
READY_SECONDS = 60.0
FIRST_NAMES = ("Ana", "João", "Maria", "Emily", "Michael", "Sofia", "Lucas", "Olivia")


def bodies(rng: random.Random) -> Iterator[dict[str, Any]]:
    """Request bodies in a realistic mix; the recipient is filled in by the caller."""
    while True:
        kind = rng.random()
        name = rng.choice(FIRST_NAMES)
        if kind < 0.55:
            yield {
                "body": f"Your Acme code is {rng.randint(0, 999_999):06d}. It expires in 10 min."
            }
        elif kind < 0.75:
            order = f"A{rng.randint(10_000, 99_999)}"
            yield {
                "body": f"Hi {name}, your order #{order} has shipped and should arrive on "
                f"{rng.choice(('Monday', 'Tuesday', 'Thursday'))}. Track it at "
                f"https://acme.example/t/{order} or reply HELP for help. Thanks for shopping "
                "with Acme!",  # two parts
            }
        elif kind < 0.85:
            yield {
                "body": f"Olá {name}, sua consulta está confirmada para amanhã às "
                f"{rng.randint(8, 18)}h. Responda SIM para confirmar.",  # UCS-2
            }
        else:
            yield {
                "body": f"Acme: {name}, your invoice for {rng.randint(10, 500)}.00 USD is "
                "ready: https://acme.example/billing",
                "track_links": True,  # a tracked short link per recipient
            }


def request_pool(size: int, seed: int) -> list[bytes]:
    """JSON bodies to cycle through, each with a recipient written as a person would."""
    rng = random.Random(seed)
    numbers = [valid_number(rng)[0] for _ in range(min(size, NUMBERS))]
    made = bodies(rng)
    return [
        json.dumps({"to": numbers[i % len(numbers)], **next(made)}, ensure_ascii=False).encode()
        for i in range(size)
    ]


class Load:
    """Keep-alive connections that post messages back to back and time every answer."""

    def __init__(self, port: int, api_key: str, pool: list[bytes]) -> None:
        self.port = port
        self.head = (
            f"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Authorization: Bearer {api_key}\r\nContent-Type: application/json\r\n"
        ).encode()
        self.pool = pool
        self.next_body = 0
        self.run_tag = uuid.uuid4().hex[:8]
        self.sent = 0
        self.stopping = False
        # (finished at, latency, status); status 0 for a broken connection
        self.answers: list[tuple[float, float, int]] = []
        self.error_samples: list[str] = []

    def request(self) -> bytes:
        body = self.pool[self.next_body % len(self.pool)]
        self.next_body += 1
        self.sent += 1
        key = f"bench-{self.run_tag}-{self.sent}"
        return b"%sIdempotency-Key: %s\r\nContent-Length: %d\r\n\r\n%s" % (
            self.head,
            key.encode(),
            len(body),
            body,
        )

    async def client(self) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        clock = time.perf_counter
        try:
            while not self.stopping:
                started = clock()
                writer.write(self.request())
                try:
                    status, body = await read_response(reader)
                except (asyncio.IncompleteReadError, ConnectionError, ValueError) as error:
                    self.answers.append((clock(), clock() - started, 0))
                    self._sample(f"connection: {error!r}")
                    writer.close()
                    reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
                    continue
                finished = clock()
                self.answers.append((finished, finished - started, status))
                if status != 202:
                    self._sample(f"{status}: {body[:200].decode(errors='replace')}")
        finally:
            writer.close()

    def _sample(self, error: str) -> None:
        if len(self.error_samples) < 5:
            self.error_samples.append(error)


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = None
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
            break
    if length is None:
        raise ValueError(f"no Content-Length in {head[:200]!r}")
    return status, await reader.readexactly(length)


async def drive(
    port: int, server_pid: int, api_key: str, args: argparse.Namespace
) -> dict[str, Any]:
    """Warm up, then measure `seconds`; answers in flight at the end still count as sent."""
    load = Load(port, api_key, request_pool(args.pool, args.seed))
    clients = [asyncio.ensure_future(load.client()) for _ in range(args.clients)]
    await asyncio.sleep(args.warmup)
    start, cpu, server_cpu = time.perf_counter(), cpu_seconds(), process_cpu(server_pid)
    await asyncio.sleep(args.seconds)
    end, cpu, server_cpu = (
        time.perf_counter(),
        cpu_seconds() - cpu,
        process_cpu(server_pid) - server_cpu,
    )
    load.stopping = True
    await asyncio.gather(*clients, return_exceptions=True)
    window = [a for a in load.answers if start <= a[0] < end]
    latencies = sorted(latency for _, latency, status in window if status == 202)
    accepted = len(latencies)
    elapsed = end - start
    return {
        "accepted_per_s": round(accepted / elapsed),
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 1),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
        "max_ms": round(latencies[-1] * 1000, 1) if latencies else None,
        "errors": sum(1 for _, _, status in window if status != 202),
        "accepted_in_window": accepted,
        "accepted_total": sum(1 for _, _, status in load.answers if status == 202),
        "errors_total": sum(1 for _, _, status in load.answers if status != 202),
        "error_samples": load.error_samples,
        # Percent of one core over the measured seconds (the PostgreSQL server not included).
        "client_cpu_percent": round(100 * cpu / elapsed),
        "server_cpu_percent": round(100 * server_cpu / elapsed),
    }


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(fraction * len(values)))]


async def prepare(url: str) -> tuple[str, str]:
    """A workspace, its API key, and a default sender the dispatcher need not slow down for."""
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as session:
            created = await create_workspace(
                session, name="Bench", owner_email=f"bench-{uuid.uuid4().hex[:6]}@example.com"
            )
            await session.execute(
                update(Sender)
                .where(Sender.workspace_id == created.workspace.id)
                .values(rate_limit_mps=100_000.0)
            )
            await session.commit()
            return created.workspace.id, created.api_key
    finally:
        await engine.dispose()


async def stored_messages(url: str, workspace_id: str) -> dict[str, int]:
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as session:
            rows = await session.execute(
                select(Message.status, func.count())
                .where(Message.workspace_id == workspace_id, Message.direction == "outbound")
                .group_by(Message.status)
            )
            return dict(rows.all())  # type: ignore[arg-type]
    finally:
        await engine.dispose()


@contextlib.contextmanager
def server_process(url: str, workers: bool, folder: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`recado serve` on a free port; yields the process with its port as `.port`."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "RECADO_DATABASE_URL": url,
        "RECADO_HOST": "127.0.0.1",
        "RECADO_PORT": str(port),
        "RECADO_RUN_WORKERS": "true" if workers else "false",
        "RECADO_DATA_DIR": str(folder),
    }
    log = (folder / f"server-{port}.log").open("wb")
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "recado"), "serve"],
        env=env,
        cwd=folder,  # no stray .env file is read
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    process.port = port  # type: ignore[attr-defined]
    try:
        wait_until_ready(process, port, folder / f"server-{port}.log")
        yield process
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def wait_until_ready(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
            if s.recv(64).startswith(b"HTTP/1.1 200"):
                return
        time.sleep(0.2)
    raise RuntimeError(f"the server was not ready within {READY_SECONDS:g} s")


def one_run(url: str, workers: bool, folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    upgrade(url)
    workspace_id, api_key = asyncio.run(prepare(url))
    with server_process(url, workers, folder) as server:
        port: int = server.port  # type: ignore[attr-defined]
        result = run_client(drive(port, server.pid, api_key, args))
    statuses = asyncio.run(stored_messages(url, workspace_id))
    stored = sum(statuses.values())
    dispatched = stored - statuses.get("queued", 0) - statuses.get("sending", 0)
    return {
        "workers": workers,
        **result,
        "stored": stored,
        "stored_matches_accepted": stored == result["accepted_total"],
        "dispatched_by_end": dispatched,
    }


def run_client(work: Any) -> Any:
    if client_loop() == "asyncio":
        return asyncio.run(work)
    import uvloop  # noqa: PLC0415

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(work)


def client_loop() -> str:
    return "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"


@contextlib.contextmanager
def scratch_database(database_url: str | None, folder: Path, label: str) -> Iterator[str]:
    """A fresh SQLite file, or a PostgreSQL database beside the given one, dropped after."""
    if not database_url:
        yield f"sqlite+aiosqlite:///{folder / f'{label}.db'}"
        return
    admin_url = database_url.replace("postgresql+psycopg://", "postgresql://", 1)
    name = f"recado_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"{database_url.rpartition('/')[0]}/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


def process_cpu(pid: int) -> float:
    """User and system CPU seconds of another process, with its threads (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="measured seconds")
    parser.add_argument("--clients", type=int, default=32, help="concurrent connections")
    parser.add_argument("--database-url", help="postgresql+psycopg://host:port/db (else SQLite)")
    parser.add_argument(
        "--workers",
        choices=("both", "on", "off"),
        default="both",
        help="run the dispatcher in the server (on), not (off), or measure both",
    )
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before measuring")
    parser.add_argument("--pool", type=int, default=50_000, help="distinct request bodies")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    modes = {"both": (True, False), "on": (True,), "off": (False,)}[args.workers]
    load_before = round(os.getloadavg()[0], 1)
    runs = []
    with tempfile.TemporaryDirectory(prefix="recado-bench-") as folder:
        for workers in modes:
            label = "workers" if workers else "no-workers"
            with scratch_database(args.database_url, Path(folder), label) as url:
                runs.append(one_run(url, workers, Path(folder), args))
            print(json.dumps(runs[-1]), file=sys.stderr)
    first, *others = runs
    print(
        json.dumps(
            {
                "database": "postgresql" if args.database_url else "sqlite",
                "clients": args.clients,
                "seconds": args.seconds,
                **first,
                **({"without_workers": others[0]} if others else {}),
                "client": f"HTTP/1.1 keep-alive on asyncio streams, {client_loop()}",
                "load_average_before": load_before,
                "load_average_after": round(os.getloadavg()[0], 1),
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
