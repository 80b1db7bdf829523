"""Time segment counts (the live counter while a marketer edits) over N contacts on PostgreSQL.

A scratch database is made and migrated, then N contacts are loaded in bulk with SQL
(`INSERT ... SELECT generate_series`, not timed): attributes (city, seats, plan, renewal),
tags (10% vip, 30% newsletter), two lists (50% and 20% subscribed), consent (85% granted,
3% opted out) and clicks by 5% of the contacts over the last 90 days, then VACUUM ANALYZE. Then
`services.segments.count` is timed for a few realistic definitions, 5 runs each (median).

    .venv/bin/python bench/segment_count.py                     # 1,000,000 contacts
    .venv/bin/python bench/segment_count.py --contacts 20000

PostgreSQL is the machine's server (--postgres-url, or BENCH_POSTGRES_URL); a scratch
database is created beside the given one and dropped at the end. The last line printed is
one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
import uuid
from typing import Any

import psycopg

from recado.db.engine import make_engine, make_sessionmaker
from recado.db.migrate import upgrade
from recado.db.tables import utcnow
from recado.domain.segments import parse_definition
from recado.services import segments
from recado.services.actor import system_actor
from recado.services.lists import create_list
from recado.services.workspaces import create_workspace

POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
RUNS = 5

LOAD = """
INSERT INTO contacts (id, workspace_id, phone, first_name, timezone_explicit, attributes,
                      consented_at, opted_out_at, created_at, updated_at)
SELECT 'ct_' || lpad(i::text, 26, '0'), %(ws)s, '+1' || (2000000000 + i)::text,
       (ARRAY['Ana','João','Maria','Emily','Lucas','Olivia'])[1 + i %% 6], false,
       json_build_object(
           'city', (ARRAY['São Paulo','Lisboa','New York','Rio de Janeiro','Porto'])[1 + i %% 5],
           'seats', i %% 50,
           'plan', (ARRAY['gold','silver','bronze'])[1 + i %% 3],
           'renewal', to_char(DATE '2026-01-01' + (i %% 365), 'YYYY-MM-DD')),
       CASE WHEN i %% 100 < 85 THEN now() - interval '200 days' END,
       CASE WHEN i %% 100 >= 97 THEN now() - interval '10 days' END,
       now() - (i %% 400) * interval '1 day', now()
FROM generate_series(1, %(n)s) AS i;

INSERT INTO contact_tags (contact_id, tag, workspace_id)
SELECT 'ct_' || lpad(i::text, 26, '0'), 'vip', %(ws)s
FROM generate_series(1, %(n)s) AS i WHERE i %% 10 = 0;
INSERT INTO contact_tags (contact_id, tag, workspace_id)
SELECT 'ct_' || lpad(i::text, 26, '0'), 'newsletter', %(ws)s
FROM generate_series(1, %(n)s) AS i WHERE i %% 10 IN (1, 2, 3);

INSERT INTO list_members (list_id, contact_id, workspace_id, status, created_at, updated_at)
SELECT %(everyone)s, 'ct_' || lpad(i::text, 26, '0'), %(ws)s,
       CASE WHEN i %% 20 = 0 THEN 'unsubscribed' ELSE 'subscribed' END, now(), now()
FROM generate_series(1, %(n)s) AS i WHERE i %% 2 = 0;
INSERT INTO list_members (list_id, contact_id, workspace_id, status, created_at, updated_at)
SELECT %(sale)s, 'ct_' || lpad(i::text, 26, '0'), %(ws)s, 'subscribed', now(), now()
FROM generate_series(1, %(n)s) AS i WHERE i %% 5 = 1;

INSERT INTO links (code, workspace_id, url, contact_id, created_at)
SELECT 'b' || i::text, %(ws)s, 'https://acme.com/sale', 'ct_' || lpad(i::text, 26, '0'), now()
FROM generate_series(1, %(n)s) AS i WHERE i %% 20 = 7;
INSERT INTO clicks (workspace_id, link_code, contact_id, at)
SELECT %(ws)s, 'b' || i::text, 'ct_' || lpad(i::text, 26, '0'), now() - (i %% 90) * interval '1 day'
FROM generate_series(1, %(n)s) AS i WHERE i %% 20 = 7
"""


def definitions(everyone: str, sale: str) -> dict[str, dict[str, Any]]:
    def tag(value: str) -> dict[str, Any]:
        return {"field": "tag", "op": "has", "value": value}

    opted_out = {"field": "consent", "op": "is", "value": "opted_out"}
    return {
        "list_and_tag": {
            "conditions": [{"field": "list", "op": "in", "value": everyone}, tag("vip")]
        },
        "attributes": {
            "conditions": [
                {"field": "attribute", "name": "city", "op": "equals", "value": "Lisboa"},
                {"field": "attribute", "name": "seats", "op": "gt", "value": 20},
                {"field": "attribute", "name": "renewal", "op": "before", "value": "2026-07-01"},
            ]
        },
        "clicked_30_days_with_consent": {
            "conditions": [
                {"field": "engagement", "op": "clicked_within_days", "value": 30},
                {"field": "consent", "op": "is", "value": "granted"},
            ]
        },
        "any_of_lists_or_tag_minus_exclusions": {
            "match": "any",
            "conditions": [
                {"field": "list", "op": "in", "value": sale},
                {
                    "match": "all",
                    "conditions": [
                        tag("newsletter"),
                        {"field": "created", "op": "within_days", "value": 90},
                    ],
                },
            ],
            "exclude": [opted_out, tag("vip")],
        },
        "everyone_minus_opted_out": {"conditions": [], "exclude": [opted_out]},
    }


async def run(url: str, count: int) -> dict[str, Any]:
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    try:
        async with sessions() as session:
            made = await create_workspace(session, name="Bench", owner_email="o@bench.test")
            workspace_id = made.workspace.id
            actor = system_actor(workspace_id)
            everyone = (await create_list(session, actor, name="Everyone")).contact_list.id
            sale = (await create_list(session, actor, name="Sale")).contact_list.id
        started = time.perf_counter()
        with psycopg.connect(_libpq(url), autocommit=True) as db:
            params = {"ws": workspace_id, "n": count, "everyone": everyone, "sale": sale}
            for statement in filter(str.strip, LOAD.split(";")):
                db.execute(statement, params)  # type: ignore[call-overload]
            db.execute("VACUUM ANALYZE")  # as a table in steady use: visibility map, statistics
        print(f"loaded {count:,} contacts in {time.perf_counter() - started:.1f} s (not timed)")
        results: dict[str, Any] = {}
        for name, raw in definitions(everyone, sale).items():
            definition = parse_definition(raw)
            timings, found = [], 0
            for _ in range(RUNS):
                async with sessions() as session:
                    started = time.perf_counter()
                    found = await segments.count(session, actor, definition, utcnow())
                    timings.append((time.perf_counter() - started) * 1000)
            median = statistics.median(timings)
            print(f"{name}: {found:,} contacts, median {median:.0f} ms of {RUNS} runs")
            results[f"count_ms_median_{name}"] = round(median)
            results[f"matches_{name}"] = found
        return results
    finally:
        await engine.dispose()


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument(
        "--postgres-url", default=os.environ.get("BENCH_POSTGRES_URL", POSTGRES_URL)
    )
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} (other programs on the machine)")
    admin = psycopg.connect(_libpq(args.postgres_url), autocommit=True)
    name = f"recado_bench_{uuid.uuid4().hex[:8]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        url = f"{args.postgres_url.rpartition('/')[0]}/{name}"
        upgrade(url)
        measured = asyncio.run(run(url, args.contacts))
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
    load = round(os.getloadavg()[0], 1)  # the machine is shared: read the times with it
    print(json.dumps({"contacts": args.contacts, **measured, "load_average_after": load}))


if __name__ == "__main__":
    main()
