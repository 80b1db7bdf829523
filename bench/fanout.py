"""Time a campaign's fan-out: N recipients become message rows, on SQLite and PostgreSQL.

For each database: a scratch database is made and migrated, N contacts with consent (and a
few hundred without, who are skipped) are loaded into one list with the driver's bulk path
(not timed), then a campaign with a personalized template and a link is launched and its
fan-out timed: audience query, compliance filter, render, tracked link per recipient (its
code on the message row), message rows with their events, skips
(`services.campaign_fanout.fan_out`).

    .venv/bin/python bench/fanout.py                        # 1,000,000 recipients
    .venv/bin/python bench/fanout.py --recipients 20000
    .venv/bin/python bench/fanout.py --database sqlite      # one database only

PostgreSQL is the machine's server (--postgres-url); a scratch database is created beside
the given one and dropped at the end. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sqlite3
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import func, select

from recado.db.engine import make_engine, make_sessionmaker
from recado.db.migrate import upgrade
from recado.db.tables import CampaignSkip, Link, Message, MessageEvent
from recado.services import campaign_fanout, campaigns
from recado.services.actor import system_actor
from recado.services.lists import create_list
from recado.services.workspaces import NewWorkspace, create_workspace

TEMPLATE = (
    "Acme: Hi {{ first_name | default('there') }}, 20% off this weekend at "
    "https://acme.com/sale?utm=sms"
)
FIRST = ("Ana", "João", "Maria", "José", "Emily", "Michael", "Sofia", "Lucas", "Olivia", "")
POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
NO_CONSENT_EVERY = 997  # one contact in ~1000 has no consent: skipped, with the reason
STAMP = "2026-12-01 12:00:00.000000"


def contact_rows(workspace_id: str, count: int, seed: int) -> list[tuple[Any, ...]]:
    rng = random.Random(seed)
    rows = []
    for i in range(count):
        consented = None if i % NO_CONSENT_EVERY == 5 else STAMP
        rows.append(
            (
                f"cnt_bench{i:017d}",
                workspace_id,
                f"+1{rng.choice((212, 305, 415, 617))}{2000000 + i:07d}",
                rng.choice(FIRST) or None,
                rng.choice(("en", "es", "pt-BR")),
                consented,
            )
        )
    return rows


def load_sqlite(path: str, workspace_id: str, list_id: str, rows: list[tuple[Any, ...]]) -> None:
    with sqlite3.connect(path) as db:
        db.executemany(
            "INSERT INTO contacts (id, workspace_id, phone, first_name, language, consented_at,"
            " timezone_explicit, attributes, created_at, updated_at)"
            f" VALUES (?, ?, ?, ?, ?, ?, 0, '{{}}', '{STAMP}', '{STAMP}')",
            rows,
        )
        db.executemany(
            "INSERT INTO list_members (list_id, contact_id, workspace_id, status, created_at,"
            f" updated_at) VALUES (?, ?, ?, 'subscribed', '{STAMP}', '{STAMP}')",
            ((list_id, row[0], workspace_id) for row in rows),
        )


def load_postgres(url: str, workspace_id: str, list_id: str, rows: list[tuple[Any, ...]]) -> None:
    with psycopg.connect(_libpq(url)) as db, db.cursor() as cursor:
        with cursor.copy(
            "COPY contacts (id, workspace_id, phone, first_name, language, consented_at,"
            " timezone_explicit, attributes, created_at, updated_at) FROM STDIN"
        ) as copy:
            for row in rows:
                copy.write_row((*row, False, "{}", STAMP + "+00", STAMP + "+00"))
        with cursor.copy(
            "COPY list_members (list_id, contact_id, workspace_id, status, created_at,"
            " updated_at) FROM STDIN"
        ) as copy:
            for row in rows:
                copy.write_row((list_id, row[0], workspace_id, "subscribed", STAMP, STAMP))
        cursor.execute("ANALYZE")


async def workspace_with_list(sessions: Any) -> tuple[NewWorkspace, str]:
    """A workspace for the bench and its one list, "Everyone"."""
    async with sessions() as session:
        made = await create_workspace(session, name="Bench", owner_email="o@bench.test")
        actor = system_actor(made.workspace.id)
        the_list = await create_list(session, actor, name="Everyone")
        return made, the_list.contact_list.id


def load_contacts(url: str, workspace_id: str, list_id: str, rows: list[tuple[Any, ...]]) -> None:
    """The contacts, subscribed to the list, with the driver's bulk path."""
    if url.startswith("sqlite"):
        load_sqlite(url.split("///", 1)[1], workspace_id, list_id, rows)
    else:
        load_postgres(url, workspace_id, list_id, rows)


async def run(url: str, count: int, seed: int) -> dict[str, Any]:
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    try:
        made, list_id = await workspace_with_list(sessions)
        workspace_id = made.workspace.id
        actor = system_actor(workspace_id)
        rows = contact_rows(workspace_id, count, seed)
        started = time.perf_counter()
        load_contacts(url, workspace_id, list_id, rows)
        loaded = time.perf_counter() - started
        del rows
        async with sessions() as session:
            campaign = await campaigns.create_campaign(
                session,
                actor,
                campaigns.CampaignInput(
                    name="Weekend sale", body=TEMPLATE, audience={"lists": [list_id]}
                ),
            )
            campaign_id = campaign.id
            await campaigns.launch(session, actor, campaign_id, base_url="https://rc.do")
        started, cpu = time.perf_counter(), time.process_time()
        async with sessions() as session:
            outcome = await campaign_fanout.fan_out(session, campaign_id, base_url="https://rc.do")
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
        async with sessions() as session:
            stored = {
                name: await session.scalar(
                    select(func.count()).select_from(table).where(column == campaign_id)
                )
                for name, table, column in (
                    ("messages", Message, Message.campaign_id),
                    ("links", Link, Link.campaign_id),
                    ("skips", CampaignSkip, CampaignSkip.campaign_id),
                )
            }
            stored["events"] = await session.scalar(select(func.count()).select_from(MessageEvent))
            stored["tracked_links"] = stored.pop("links") + await session.scalar(
                select(func.count()).where(
                    Message.campaign_id == campaign_id, Message.link_code.is_not(None)
                )
            )
            duplicates = await session.scalar(
                select(func.count()).select_from(
                    select(Message.contact_id)
                    .where(Message.campaign_id == campaign_id)
                    .group_by(Message.contact_id)
                    .having(func.count() > 1)
                    .subquery()
                )
            )
        return {
            "loaded_seconds": loaded,
            "seconds": seconds,
            "cpu_seconds": cpu_seconds,
            "written": outcome.messages,
            "skipped": outcome.skipped,
            "finished": outcome.finished,
            "stored": stored,
            "duplicates": duplicates,
        }
    finally:
        await engine.dispose()


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--database", choices=("both", "sqlite", "postgresql"), default="both")
    parser.add_argument(
        "--postgres-url", default=os.environ.get("BENCH_POSTGRES_URL", POSTGRES_URL)
    )
    args = parser.parse_args()
    result: dict[str, Any] = {"recipients": args.recipients}
    print(f"load average {os.getloadavg()[0]:.2f} (other programs on the machine)")
    if args.database in ("both", "sqlite"):
        with tempfile.TemporaryDirectory() as scratch:
            url = f"sqlite+aiosqlite:///{Path(scratch) / 'fanout.db'}"
            upgrade(url)
            measured = asyncio.run(run(url, args.recipients, args.seed))
        report("sqlite", measured, args.recipients, result)
    if args.database in ("both", "postgresql"):
        admin = psycopg.connect(_libpq(args.postgres_url), autocommit=True)
        name = f"recado_bench_{uuid.uuid4().hex[:8]}"
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            url = f"{args.postgres_url.rpartition('/')[0]}/{name}"
            upgrade(url)
            measured = asyncio.run(run(url, args.recipients, args.seed))
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.close()
        report("postgresql", measured, args.recipients, result)
    print(json.dumps(result))


def report(name: str, measured: dict[str, Any], count: int, result: dict[str, Any]) -> None:
    rate = count / measured["seconds"]
    print(
        f"{name}: {count:,} recipients in {measured['seconds']:.1f} s "
        f"({rate:,.0f} recipients/s, process CPU {measured['cpu_seconds']:.1f} s; "
        f"contacts loaded in {measured['loaded_seconds']:.1f} s, not counted)"
    )
    print(
        f"{name}: {measured['written']:,} messages, {measured['skipped']:,} skipped, "
        f"stored {measured['stored']}, duplicates {measured['duplicates']}"
    )
    result[f"{name}_recipients_per_s"] = round(rate)
    result[f"{name}_seconds"] = round(measured["seconds"], 2)
    result[f"{name}_messages"] = measured["written"]
    result[f"{name}_skipped"] = measured["skipped"]
    result[f"{name}_duplicates"] = measured["duplicates"]
    result[f"{name}_finished"] = measured["finished"]


if __name__ == "__main__":
    main()
