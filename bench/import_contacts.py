"""Time a CSV import of N realistic contacts into a fresh database, then two re-imports.

The first re-import is the same file again (every contact exists and nothing changes); the
second is a file with the same numbers and a new value in every row (every contact updated).

    .venv/bin/python bench/import_contacts.py                      # 100,000 rows into SQLite
    .venv/bin/python bench/import_contacts.py --rows 20000
    .venv/bin/python bench/import_contacts.py --database-url postgresql+psycopg://127.0.0.1:5432/test

With --database-url a scratch database is created beside the given one and dropped at the end.
The last line printed is one JSON object with the measured numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import random
import resource
import tempfile
import time
import unicodedata
import uuid
from pathlib import Path

import phonenumbers
import psycopg

from recado.db.engine import make_engine, make_sessionmaker
from recado.db.migrate import upgrade
from recado.services.actor import system_actor
from recado.services.imports import import_contacts
from recado.services.workspaces import create_workspace

US_AREAS = (212, 213, 305, 312, 404, 415, 512, 617, 702, 206, 303, 602, 713, 818, 917)
BR_AREAS = (11, 21, 31, 41, 51, 61, 71, 81, 85, 19, 27, 48)
FIRST = ("Ana", "João", "Maria", "José", "Emily", "Michael", "Sofia", "Lucas", "Olivia", "Noah")
LAST = ("Silva", "Souza", "Oliveira", "Smith", "Johnson", "Brown", "Pereira", "García", "Lee")
TAGS = ("vip", "newsletter", "promo", "store:sp", "store:ny", "black-friday")
PLANS = ("gold", "silver", "bronze", "")


def valid_number(rng: random.Random) -> tuple[str, str, str]:
    """A valid mobile-capable number as people write it, its country and its E.164 form."""
    while True:
        if rng.random() < 0.7:
            area, exchange, line = rng.choice(US_AREAS), rng.randint(200, 999), rng.randint(0, 9999)
            if exchange == 555:
                continue
            number = phonenumbers.PhoneNumber(
                country_code=1, national_number=int(f"{area}{exchange}{line:04d}")
            )
            if not phonenumbers.is_valid_number(number):
                continue
            digits = f"{area}{exchange}{line:04d}"
            written = rng.choice(
                (
                    f"({digits[:3]}) {digits[3:6]}-{digits[6:]}",
                    f"{digits[:3]}-{digits[3:6]}-{digits[6:]}",
                    f"+1 {digits[:3]} {digits[3:6]} {digits[6:]}",
                    digits,
                )
            )
            return written, "US", f"+1{digits}"
        area, rest = rng.choice(BR_AREAS), f"9{rng.randint(6, 9)}{rng.randint(0, 9_999_999):07d}"
        number = phonenumbers.PhoneNumber(country_code=55, national_number=int(f"{area}{rest}"))
        mobile = phonenumbers.number_type(number) == phonenumbers.PhoneNumberType.MOBILE
        if not (mobile and phonenumbers.is_valid_number(number)):
            continue
        written = rng.choice(
            (f"+55 {area} {rest[:5]}-{rest[5:]}", f"+55{area}{rest}", f"+55 ({area}) {rest}")
        )
        return written, "BR", f"+55{area}{rest}"


def write_csv(path: Path, rows: int, seed: int, *, plan: str | None = None) -> None:
    """`plan` replaces the Plan column of every row (the same numbers come out for one seed)."""
    rng = random.Random(seed)
    seen: set[str] = set()
    with path.open("w", newline="", encoding="utf-8") as file:
        out = csv.writer(file)
        out.writerow(["Phone", "First Name", "Last Name", "Email", "Language", "Tags", "Plan"])
        while len(seen) < rows:
            written, country, e164 = valid_number(rng)
            if e164 in seen:
                continue
            seen.add(e164)
            first, last = rng.choice(FIRST), rng.choice(LAST)
            ascii_name = unicodedata.normalize("NFKD", f"{first}.{last}").encode("ascii", "ignore")
            email = f"{ascii_name.decode().lower()}{len(seen)}@example.com"
            tags = ";".join(rng.sample(TAGS, rng.randint(0, 2)))
            language = "en" if country == "US" else "pt-BR"
            chosen = rng.choice(PLANS)
            out.writerow([written, first, last, email, language, tags, plan or chosen])


async def run_imports(url: str, csv_path: Path, changed_path: Path) -> dict[str, float | int]:
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    try:
        async with sessions() as session:
            workspace = await create_workspace(
                session, name="Bench", owner_email=f"bench-{uuid.uuid4().hex[:6]}@example.com"
            )
            await session.commit()
        actor = system_actor(workspace.workspace.id)
        timings = []
        for path in (csv_path, csv_path, changed_path):
            async with sessions() as session:
                started, cpu = time.perf_counter(), cpu_seconds()
                report = await import_contacts(session, actor, path)
                timings.append((report, time.perf_counter() - started, cpu_seconds() - cpu))
    finally:
        await engine.dispose()
    (first, seconds, cpu), (again, again_seconds, _), (changed, update_seconds, _) = timings
    return {
        "rows": first.rows,
        "seconds": round(seconds, 2),
        "rows_per_s": round(first.rows / seconds),
        # This process and its workers (not the PostgreSQL server): on a shared machine, the
        # wall time also depends on what else runs.
        "cpu_seconds": round(cpu, 1),
        "created": first.created,
        "rejected": first.rejected,
        "reimport_seconds": round(again_seconds, 2),
        "reimport_rows_per_s": round(again.rows / again_seconds),
        "unchanged": again.unchanged,
        "update_seconds": round(update_seconds, 2),
        "update_rows_per_s": round(changed.rows / update_seconds),
        "updated": changed.updated,
    }


def cpu_seconds() -> float:
    own, workers = (resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + workers.ru_utime + workers.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--database-url", help="postgresql+psycopg://host:port/db (else SQLite)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="recado-bench-") as folder:
        csv_path, changed_path = Path(folder) / "contacts.csv", Path(folder) / "changed.csv"
        started = time.perf_counter()
        write_csv(csv_path, args.rows, args.seed)
        write_csv(changed_path, args.rows, args.seed, plan="platinum")
        print(f"generated 2 x {args.rows} rows in {time.perf_counter() - started:.1f} s")
        if args.database_url:
            admin_url = args.database_url.replace("postgresql+psycopg://", "postgresql://", 1)
            name = f"recado_bench_{uuid.uuid4().hex[:10]}"
            with psycopg.connect(admin_url, autocommit=True) as admin:
                admin.execute(f'CREATE DATABASE "{name}"')
                try:
                    url = f"{args.database_url.rpartition('/')[0]}/{name}"
                    upgrade(url)
                    result = asyncio.run(run_imports(url, csv_path, changed_path))
                finally:
                    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            database = "postgresql"
        else:
            url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
            upgrade(url)
            result = asyncio.run(run_imports(url, csv_path, changed_path))
            database = "sqlite"
    load = round(os.getloadavg()[0], 1)
    print(json.dumps({**result, "database": database, "load_average_after": load}))


if __name__ == "__main__":
    main()
