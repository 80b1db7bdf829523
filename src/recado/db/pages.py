"""Cursor pages over tables whose ids are time-ordered: the cursor is the last id shown."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

T = TypeVar("T")


async def page_by_id(
    session: AsyncSession,
    query: Select[tuple[T]],
    id_column: InstrumentedAttribute[Any],
    *,
    limit: int,
    cursor: str | None,
    newest_first: bool = True,
) -> tuple[list[T], str | None]:
    """One page of `query` and the cursor of the next page (None on the last page).

    Reads one row more than `limit` to know whether another page exists.
    """
    if cursor:
        query = query.where(id_column < cursor if newest_first else id_column > cursor)
    order = id_column.desc() if newest_first else id_column.asc()
    rows = list(await session.scalars(query.order_by(order).limit(limit + 1)))
    next_cursor = rows[limit - 1].id if len(rows) > limit else None  # type: ignore[attr-defined]
    return rows[:limit], next_cursor
