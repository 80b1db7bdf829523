"""SQLite statements in one trip to aiosqlite's thread: what SQLAlchemy reads back is intact."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from recado.db.engine import make_engine
from recado.db.sqlite_driver import OneTripDBAPI


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'one-trip.db'}")
    async with engine.begin() as connection:
        await connection.execute(
            text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT UNIQUE NOT NULL)")
        )
    yield engine
    await engine.dispose()


async def test_the_engine_uses_one_trip_per_statement(engine: AsyncEngine):
    assert isinstance(engine.dialect.dbapi, OneTripDBAPI)


async def test_rows_counts_and_ids_come_back(engine: AsyncEngine):
    async with engine.begin() as connection:
        inserted = await connection.execute(text("INSERT INTO notes (body) VALUES ('a')"))
        assert inserted.lastrowid == 1
        many = await connection.execute(
            text("INSERT INTO notes (body) VALUES (:body)"), [{"body": "b"}, {"body": "c"}]
        )
        assert many.rowcount == 2
        changed = await connection.execute(text("UPDATE notes SET body = body || '!'"))
        assert changed.rowcount == 3
        rows = await connection.execute(text("SELECT id, body FROM notes ORDER BY id"))
        assert list(rows.keys()) == ["id", "body"]
        assert rows.all() == [(1, "a!"), (2, "b!"), (3, "c!")]
        returned = await connection.execute(
            text("INSERT INTO notes (body) VALUES ('d') RETURNING id, body")
        )
        assert returned.one() == (4, "d")
        assert (await connection.execute(text("SELECT id FROM notes WHERE 0"))).all() == []


async def test_a_broken_constraint_is_the_usual_integrity_error_and_rolls_back(
    engine: AsyncEngine,
):
    with pytest.raises(IntegrityError):
        async with engine.begin() as connection:
            await connection.execute(text("INSERT INTO notes (body) VALUES ('x')"))
            await connection.execute(text("INSERT INTO notes (body) VALUES ('x')"))
    async with engine.connect() as connection:
        assert (await connection.execute(text("SELECT count(*) FROM notes"))).scalar() == 0


async def test_streamed_results_still_stream(engine: AsyncEngine):
    async with engine.begin() as connection:
        await connection.execute(
            text("INSERT INTO notes (body) VALUES (:body)"),
            [{"body": f"n{i}"} for i in range(250)],
        )
    async with engine.connect() as connection:
        stream = await connection.stream(text("SELECT body FROM notes ORDER BY id"))
        seen = [row.body async for row in stream]
    assert len(seen) == 250 and seen[0] == "n0" and seen[-1] == "n249"


async def test_writers_of_one_process_take_turns_instead_of_meeting_the_busy_handler(
    tmp_path: Path,
):
    """With SQLite's busy timeout at zero, a second writer would fail at once with
    "database is locked"; it waits for the first writer's commit instead, and both land."""
    engine = create_async_engine(
        f"sqlite+aiosqlite:///{tmp_path / 'turns.db'}",
        module=OneTripDBAPI(),
        connect_args={"timeout": 0},
    )
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE notes (body TEXT)"))
    order: list[str] = []
    first_wrote = asyncio.Event()

    async def first() -> None:
        async with engine.connect() as connection:
            await connection.execute(text("INSERT INTO notes VALUES ('first')"))
            first_wrote.set()
            await asyncio.sleep(0.2)  # the second writer arrives meanwhile
            order.append("first commits")
            await connection.commit()

    async def second() -> None:
        await first_wrote.wait()
        async with engine.connect() as connection:
            await connection.execute(text("INSERT INTO notes VALUES ('second')"))
            order.append("second wrote")
            await connection.commit()

    await asyncio.gather(first(), second())
    async with engine.connect() as connection:
        rows = (await connection.execute(text("SELECT body FROM notes"))).scalars().all()
    await engine.dispose()
    assert order == ["first commits", "second wrote"]
    assert rows == ["first", "second"]


async def test_ending_a_transaction_that_is_not_open_makes_no_trip(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
):
    """A read opens no transaction in SQLite, so its commit and the pool's rollback on
    return cost nothing; a write's commit and a rollback of an open write still happen."""
    trips: list[str] = []
    original = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        trips.append(getattr(fn, "__name__", "?"))
        return await original(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    async with engine.connect() as connection:
        await connection.execute(text("SELECT count(*) FROM notes"))
        await connection.commit()
    assert trips == ["run"]  # the statement only

    trips.clear()
    async with engine.connect() as connection:
        await connection.execute(text("INSERT INTO notes (body) VALUES ('kept')"))
        await connection.commit()
    assert trips == ["run", "commit"]  # and no rollback when the pool takes it back

    trips.clear()
    async with engine.connect() as connection:
        await connection.execute(text("INSERT INTO notes (body) VALUES ('undone')"))
        await connection.execute(text("SELECT count(*) FROM notes"))  # still open after it
        await connection.rollback()
    assert trips == ["run", "run", "rollback"]
    async with engine.connect() as connection:
        bodies = (await connection.execute(text("SELECT body FROM notes"))).scalars().all()
    assert bodies == ["kept"]


async def test_a_streamed_read_inside_a_write_is_still_rolled_back(engine: AsyncEngine):
    async with engine.connect() as connection:
        await connection.execute(text("INSERT INTO notes (body) VALUES ('undone')"))
        stream = await connection.stream(text("SELECT body FROM notes"))
        assert [row.body async for row in stream] == ["undone"]
        await connection.rollback()
    async with engine.connect() as connection:
        assert (await connection.execute(text("SELECT count(*) FROM notes"))).scalar() == 0
