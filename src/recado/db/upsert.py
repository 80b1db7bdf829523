"""INSERT ... ON CONFLICT for the database a session is bound to (SQLite or PostgreSQL)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


def insert_for(session: AsyncSession, target: Any) -> Any:
    """An insert of `target` (a mapped class or a table) that knows `on_conflict_do_nothing`:
    both dialects spell it the same, but only their own insert constructs offer it."""
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(target)
