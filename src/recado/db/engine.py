"""One engine per process, tuned for each database Recado runs on."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.ext.asyncio import AsyncSession as AsyncSession
from sqlalchemy.pool import NullPool

from recado.db.sqlite_driver import OneTripDBAPI

POOL_SIZE = 20
POOL_OVERFLOW = 20


def make_engine(url: str, *, null_pool: bool = False) -> AsyncEngine:
    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        # A long busy timeout lets the API and the dispatcher take turns at the single writer.
        kwargs["connect_args"] = {"timeout": 30}
        kwargs["module"] = OneTripDBAPI()  # a statement is one hand-off to aiosqlite's thread
    if null_pool:
        kwargs["poolclass"] = NullPool
    else:
        # Connections are kept, not made per burst: SQLAlchemy's default (5, and 10 more that
        # are closed when given back) made the API open a connection (a thread and a schema
        # read on SQLite, a server process on PostgreSQL) for most requests under load.
        kwargs["pool_size"] = POOL_SIZE
        kwargs["max_overflow"] = POOL_OVERFLOW
    engine = create_async_engine(url, **kwargs)
    if url.startswith("sqlite"):
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
