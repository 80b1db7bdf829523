"""Time every page of the web UI with 100,000 contacts and 1,000,000 messages in the database.

A scratch database is made and migrated; 100,000 contacts with consent are loaded into one
list (the driver's bulk path), then ten campaigns to all of them are fanned out by the
product's own fan-out (`services.campaign_fanout`): 1,000,000 message rows with their
events and tracked links. The messages are then spread over the last 30 days and given
what a month of sending leaves behind (95% delivered, 3% undelivered, 2% failed; 5% of
the links clicked; 1% of the contacts replied), and their report snapshots are counted as
the platform's refresher task would have. None of that is timed.

Then a signed-in browser (httpx on the app, in-process: the server's time, no network)
asks for each page `--rounds` times; the median and the slowest are printed per page.
Goal (issue 7): every page under 200 ms.

    .venv/bin/python bench/web_pages.py                     # SQLite
    .venv/bin/python bench/web_pages.py --database postgresql
    .venv/bin/python bench/web_pages.py --contacts 10000 --campaigns 2   # a quick look

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy import func, select, text

sys.path.insert(0, str(Path(__file__).parent))
from fanout import (  # noqa: E402
    POSTGRES_URL,
    _libpq,
    contact_rows,
    load_contacts,
    workspace_with_list,
)

from recado.api.app import create_app  # noqa: E402
from recado.db.migrate import upgrade  # noqa: E402
from recado.db.tables import Contact, Message  # noqa: E402
from recado.ids import new_id  # noqa: E402
from recado.platform import Platform  # noqa: E402
from recado.services import campaign_fanout, campaigns, report_snapshots  # noqa: E402
from recado.services.actor import system_actor  # noqa: E402
from recado.settings import Settings  # noqa: E402

GOAL_MS = 200
BODY = "Acme: Hi {{ first_name | default('there') }}, week {{ brand }} deals https://acme.com/w"

# After the fan-outs: a month of sending. Message ids grow with time, so `rank` (the row's
# place in id order, 0..1) spreads them over the 30 days in order.
SPREAD_SQL = {
    "sqlite": """
        WITH ranked AS (
            SELECT id AS rid, (ROW_NUMBER() OVER (ORDER BY id)) * 1.0 / :total AS r,
                   abs(random()) % 100 AS dice FROM messages)
        UPDATE messages SET
            created_at = strftime('%Y-%m-%d %H:%M:%f', :start, '+' || (r * 30 * 86400) || ' seconds'),
            sent_at = strftime('%Y-%m-%d %H:%M:%f', :start, '+' || (r * 30 * 86400 + 5) || ' seconds'),
            delivered_at = CASE WHEN dice < 95 THEN
                strftime('%Y-%m-%d %H:%M:%f', :start, '+' || (r * 30 * 86400 + 9) || ' seconds') END,
            status = CASE WHEN dice < 95 THEN 'delivered' WHEN dice < 98 THEN 'undelivered'
                          ELSE 'failed' END,
            error_code = CASE WHEN dice >= 98 THEN 'invalid_destination' END,
            connector = 'simulator', carrier_message_id = 'sim-' || rid
        FROM ranked WHERE ranked.rid = messages.id
    """,
    "postgresql": """
        WITH ranked AS (
            SELECT id AS rid, (ROW_NUMBER() OVER (ORDER BY id))::float / :total AS r,
                   floor(random() * 100) AS dice FROM messages)
        UPDATE messages SET
            created_at = CAST(:start AS timestamptz) + r * interval '30 days',
            sent_at = CAST(:start AS timestamptz) + r * interval '30 days' + interval '5 s',
            delivered_at = CASE WHEN dice < 95 THEN
                CAST(:start AS timestamptz) + r * interval '30 days' + interval '9 s' END,
            status = CASE WHEN dice < 95 THEN 'delivered' WHEN dice < 98 THEN 'undelivered'
                          ELSE 'failed' END,
            error_code = CASE WHEN dice >= 98 THEN 'invalid_destination' END,
            connector = 'simulator', carrier_message_id = 'sim-' || rid
        FROM ranked WHERE ranked.rid = messages.id
    """,
}
CLICKS_SQL = """
    INSERT INTO clicks (workspace_id, link_code, message_id, contact_id, campaign_id, at)
    SELECT l.workspace_id, l.code, l.message_id, l.contact_id, l.campaign_id, m.delivered_at
    FROM links l JOIN messages m ON m.id = l.message_id
    WHERE m.status = 'delivered' AND substr(l.code, 2, 1) IN ('a', 'b', 'c')
"""
REPLIES_SQL = """
    INSERT INTO messages (id, workspace_id, contact_id, direction, sender, recipient, body,
        media_urls, category, status, idempotency_key, encoding, segments, attempts,
        created_at, updated_at)
    SELECT 'msg_in' || substr(m.id, 5), m.workspace_id, m.contact_id, 'inbound', m.recipient,
        m.sender, 'Thanks! What time do you open?', '[]', 'transactional', 'received',
        'inbound:' || m.id, 'GSM7', 1, 0, m.delivered_at, m.delivered_at
    FROM messages m WHERE m.direction = 'outbound' AND m.status = 'delivered'
        AND m.contact_id LIKE '%7' AND m.campaign_id = :campaign_id
"""


async def load(url: str, contacts: int, campaign_count: int) -> dict[str, Any]:
    """The scratch data, and what the browser needs to find it."""
    platform = Platform(Settings(database_url=url, run_workers=False))
    sessions = platform.sessions
    try:
        made, list_id = await workspace_with_list(sessions)
        workspace_id = made.workspace.id
        actor = system_actor(workspace_id)
        # Real ids: the contact page checks an id's form before it looks it up.
        rows = [(new_id("cnt"), *row[1:]) for row in contact_rows(workspace_id, contacts, 11)]
        load_contacts(url, workspace_id, list_id, rows)
        del rows
        campaign_ids = []
        for number in range(campaign_count):
            async with sessions() as session:
                campaign = await campaigns.create_campaign(
                    session,
                    actor,
                    campaigns.CampaignInput(
                        name=f"Week {number + 1} deals",
                        body=BODY,
                        audience={"lists": [list_id]},
                    ),
                )
                campaign_id = campaign.id
                await campaigns.launch(session, actor, campaign_id, base_url="https://rc.do")
                await campaign_fanout.fan_out(session, campaign_id, base_url="https://rc.do")
                campaign_ids.append(campaign_id)
            print(f"  campaign {number + 1} of {campaign_count} fanned out", flush=True)
        dialect = "sqlite" if url.startswith("sqlite") else "postgresql"
        async with sessions() as session:
            total = await session.scalar(select(func.count()).select_from(Message))
            start = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(time.time() - 30 * 86400))
            await session.execute(text(SPREAD_SQL[dialect]), {"total": total, "start": start})
            await session.execute(
                text("UPDATE campaigns SET status = 'completed', completed_at = launched_at")
            )
            await session.execute(text(CLICKS_SQL))
            await session.execute(text(REPLIES_SQL), {"campaign_id": campaign_ids[-1]})
            await session.commit()
            if dialect == "sqlite":
                await session.execute(text("ANALYZE"))
            counts = {
                name: await session.scalar(text(f"SELECT count(*) FROM {name}"))
                for name in ("contacts", "messages", "message_events", "links", "clicks")
            }
            a_contact = await session.scalar(
                select(Contact.id).where(Contact.workspace_id == workspace_id).limit(1)
            )
            a_message = await session.scalar(
                select(Message.id).where(Message.status == "delivered").limit(1)
            )
            # What the platform's refresher task does while campaigns run: their report
            # snapshots, which the campaign pages read.
            await report_snapshots.refresh_due(session, limit=len(campaign_ids))
        if dialect == "postgresql":
            with psycopg.connect(_libpq(url), autocommit=True) as db:
                db.execute("VACUUM ANALYZE")
        return {
            "email": made.owner_email,
            "password": made.owner_password,
            "list_id": list_id,
            "campaign_id": campaign_ids[-1],
            "contact_id": a_contact,
            "message_id": a_message,
            "counts": counts,
        }
    finally:
        await platform.close()


def pages(data: dict[str, Any]) -> dict[str, str]:
    """Every page a marketer opens, by name."""
    campaign = data["campaign_id"]
    return {
        "dashboard": "/app/dashboard",
        "dashboard chart data": "/app/dashboard/activity.json",
        "contacts": "/app/contacts",
        "contacts search": "/app/contacts?q=Maria",
        "contacts by list": f"/app/contacts?list_id={data['list_id']}",
        "contact": f"/app/contacts/{data['contact_id']}",
        "import": "/app/contacts/import",
        "lists": "/app/lists",
        "segments": "/app/segments",
        "new segment": "/app/segments/new",
        "campaigns": "/app/campaigns",
        "new campaign": "/app/campaigns/new",
        "campaign results": f"/app/campaigns/{campaign}",
        "campaign figures": f"/app/campaigns/{campaign}/figures",
        "messages": "/app/messages",
        "messages failed": "/app/messages?status=failed",
        "messages inbound": "/app/messages?direction=inbound",
        "message": f"/app/messages/{data['message_id']}",
        "templates": "/app/templates",
        "settings": "/app/settings",
        "settings carriers": "/app/settings/carriers",
        "settings api keys": "/app/settings/api-keys",
        "settings users": "/app/settings/users",
        "developers": "/app/developers",
    }


async def measure(url: str, data: dict[str, Any], rounds: int) -> dict[str, list[float]]:
    platform = Platform(Settings(database_url=url, run_workers=False))
    app = create_app(platform, start_workers=False)
    transport = httpx.ASGITransport(app=app)
    timings: dict[str, list[float]] = {}
    async with httpx.AsyncClient(transport=transport, base_url="http://recado.test") as client:
        page = await client.get("/app/sign-in")
        token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        signed = await client.post(
            "/app/sign-in",
            data={"csrf_token": token, "email": data["email"], "password": data["password"]},
        )
        assert signed.status_code == 303, signed.text
        for name, path in pages(data).items():
            await client.get(path)  # warm: templates compiled, caches filled
            times = []
            for _ in range(rounds):
                started = time.perf_counter()
                response = await client.get(path)
                times.append((time.perf_counter() - started) * 1000)
                if response.status_code != 200:
                    raise SystemExit(f"{path} answered {response.status_code}: {response.text}")
            timings[name] = times
    await platform.close()
    return timings


def report(dialect: str, timings: dict[str, list[float]], result: dict[str, Any]) -> None:
    print(f"{dialect}: page, median ms, slowest ms")
    slowest_median = 0.0
    over = []
    for name, times in timings.items():
        median = statistics.median(times)
        slowest_median = max(slowest_median, median)
        flag = "" if median < GOAL_MS else "  <-- over the goal"
        if median >= GOAL_MS:
            over.append(name)
        print(f"  {name:22s} {median:7.1f} {max(times):7.1f}{flag}")
    result[f"{dialect}_slowest_page_median_ms"] = round(slowest_median, 1)
    result[f"{dialect}_pages_over_{GOAL_MS}_ms"] = len(over)
    result[f"{dialect}_pages"] = len(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--campaigns", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument(
        "--postgres-url", default=os.environ.get("BENCH_POSTGRES_URL", POSTGRES_URL)
    )
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} (other programs on the machine)")
    result: dict[str, Any] = {"contacts": args.contacts}
    with tempfile.TemporaryDirectory() as scratch:
        admin = None
        if args.database == "sqlite":
            url = f"sqlite+aiosqlite:///{Path(scratch) / 'pages.db'}"
        else:
            admin = psycopg.connect(_libpq(args.postgres_url), autocommit=True)
            name = f"recado_bench_{uuid.uuid4().hex[:8]}"
            admin.execute(f'CREATE DATABASE "{name}"')
            url = f"{args.postgres_url.rpartition('/')[0]}/{name}"
        try:
            upgrade(url)
            started = time.perf_counter()
            data = asyncio.run(load(url, args.contacts, args.campaigns))
            print(f"loaded {data['counts']} in {time.perf_counter() - started:.0f} s")
            result["messages"] = data["counts"]["messages"]
            timings = asyncio.run(measure(url, data, args.rounds))
        finally:
            if admin is not None:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                admin.close()
    report(args.database, timings, result)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
