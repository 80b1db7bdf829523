"""Discount code pools: single-use codes uploaded by the shop, one drawn per campaign recipient.

A code is free while its contact_id is empty. `draw` claims free codes in one UPDATE ...
RETURNING (atomic on both databases: SQLite has a single writer, PostgreSQL skips rows that
another drawing transaction holds, FOR UPDATE SKIP LOCKED), then writes who got which. It
runs inside the caller's transaction (the campaign fan-out's chunk): if the chunk rolls
back, its codes are free again.

Codes are compared without regard to case when an upload is deduplicated (shops usually
accept SAVE10 and save10 alike), and are stored as uploaded.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from recado.db.tables import DiscountCode, DiscountPool, utcnow
from recado.domain.roles import Permission
from recado.errors import Conflict, NotFound, ValidationFailed
from recado.ids import new_id
from recado.services.actor import Actor
from recado.services.contacts import check_cursor, looks_like_id, single_line

MAX_CODE_LENGTH = 64
MAX_CODES_PER_UPLOAD = 1_000_000
MAX_REJECTED_LISTED = 1000
BATCH = 1000
_BAD_CODE = re.compile(r"[\s\x00-\x1f\x7f]")
_HEADER_NAMES = {"code", "codes", "coupon", "coupon_code", "discount_code", "discount code"}


@dataclass(frozen=True)
class PoolSummary:
    id: str
    name: str
    created_at: datetime
    total: int
    remaining: int


@dataclass(frozen=True)
class RejectedCode:
    line: int
    code: str
    reason: str


@dataclass
class UploadReport:
    """What an upload did: every non-blank line counts once, as added, duplicate or rejected."""

    added: int = 0
    duplicates: int = 0
    rejected: int = 0
    rejected_codes: list[RejectedCode] = field(default_factory=list)
    remaining: int = 0


# --- pools ---------------------------------------------------------------------------------


async def create_pool(session: AsyncSession, actor: Actor, name: str) -> PoolSummary:
    actor.require(Permission.MANAGE_CAMPAIGNS)
    clean = single_line((name or "").strip(), "name")
    if not clean:
        raise ValidationFailed("Give the pool a name, such as 'Black Friday 20%'.", field="name")
    pool = DiscountPool(id=new_id("dp"), workspace_id=actor.workspace_id, name=clean)
    try:
        async with session.begin_nested():
            session.add(pool)
    except IntegrityError:
        raise Conflict(f"A discount pool named '{clean}' exists already.", field="name") from None
    await session.commit()
    return PoolSummary(pool.id, pool.name, pool.created_at, 0, 0)


async def get_pool(session: AsyncSession, actor: Actor, pool_id: str) -> PoolSummary:
    actor.require(Permission.READ)
    pool = await _pool(session, actor.workspace_id, pool_id)
    counts = await _counts(session, actor.workspace_id, [pool.id])
    total, left = counts.get(pool.id, (0, 0))
    return PoolSummary(pool.id, pool.name, pool.created_at, total, left)


async def list_pools(
    session: AsyncSession, actor: Actor, *, limit: int = 50, cursor: str | None = None
) -> tuple[list[PoolSummary], str | None]:
    """The workspace's pools, newest first, each with its total and remaining codes."""
    actor.require(Permission.READ)
    query = select(DiscountPool).where(DiscountPool.workspace_id == actor.workspace_id)
    if cursor:
        query = query.where(DiscountPool.id < check_cursor(cursor))
    pools = list(await session.scalars(query.order_by(DiscountPool.id.desc()).limit(limit + 1)))
    next_cursor = pools[limit - 1].id if len(pools) > limit else None
    pools = pools[:limit]
    counts = await _counts(session, actor.workspace_id, [p.id for p in pools])
    return [
        PoolSummary(p.id, p.name, p.created_at, *counts.get(p.id, (0, 0))) for p in pools
    ], next_cursor


# --- uploads -------------------------------------------------------------------------------


def codes_from_csv(data: bytes | str) -> list[str]:
    """The codes of a CSV file: the column named code (or coupon, discount_code), else the
    first column; a first line naming such a column is the header, not a code."""
    return read_csv_codes(data)[0]


def read_csv_codes(data: bytes | str) -> tuple[list[str], int]:
    """The codes of a CSV file and the line number of the first one (2 after a header)."""
    text = data.decode("utf-8-sig", errors="strict") if isinstance(data, bytes) else data
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        return [], 1
    header = [cell.strip().lower() for cell in rows[0]]
    column = next((i for i, name in enumerate(header) if name in _HEADER_NAMES), None)
    if column is None:
        return [row[0] if row else "" for row in rows], 1
    return [row[column] if len(row) > column else "" for row in rows[1:]], 2


async def add_codes(
    session: AsyncSession,
    actor: Actor,
    pool_id: str,
    codes: Iterable[str],
    *,
    first_line: int = 1,
) -> UploadReport:
    """Add codes to a pool. Blank lines are skipped; a code already in the pool, or earlier
    in the same upload, is a duplicate; a code that no shop could accept is rejected (with
    its line, counted from `first_line`)."""
    actor.require(Permission.MANAGE_CAMPAIGNS)
    pool = await _pool(session, actor.workspace_id, pool_id)
    report = UploadReport()
    fresh: dict[str, str] = {}  # upper-cased -> as uploaded
    for line, raw in enumerate(codes, start=first_line):
        if line - first_line >= MAX_CODES_PER_UPLOAD:
            raise ValidationFailed(
                f"An upload holds at most {MAX_CODES_PER_UPLOAD:,} codes; split the file.",
                field="codes",
            )
        code = (raw or "").strip()
        if not code:
            continue
        reason = _problem(code)
        if reason:
            report.rejected += 1
            if len(report.rejected_codes) < MAX_REJECTED_LISTED:
                report.rejected_codes.append(RejectedCode(line, code[:80], reason))
        elif code.upper() in fresh:
            report.duplicates += 1
        else:
            fresh[code.upper()] = code
    keys = list(fresh)
    for start in range(0, len(keys), BATCH):
        chunk = keys[start : start + BATCH]
        existing = set(
            await session.scalars(
                select(func.upper(DiscountCode.code)).where(
                    DiscountCode.pool_id == pool.id,
                    func.upper(DiscountCode.code).in_(chunk),
                )
            )
        )
        rows = [
            {"workspace_id": pool.workspace_id, "pool_id": pool.id, "code": fresh[key]}
            for key in chunk
            if key not in existing
        ]
        added = await _insert_new(session, rows) if rows else 0
        report.added += added
        report.duplicates += len(chunk) - added
    await session.commit()
    report.remaining = await remaining(session, actor.workspace_id, pool.id)
    return report


def _problem(code: str) -> str | None:
    if len(code) > MAX_CODE_LENGTH:
        return f"longer than {MAX_CODE_LENGTH} characters"
    if _BAD_CODE.search(code):
        return "contains a space or a control character"
    return None


async def _insert_new(session: AsyncSession, rows: list[dict[str, str]]) -> int:
    dialect = session.get_bind().dialect.name
    builder = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        builder(DiscountCode)
        .on_conflict_do_nothing(index_elements=["pool_id", "code"])
        .returning(DiscountCode.id)
    )
    return len(list((await session.execute(statement, rows)).scalars()))


# --- drawing -------------------------------------------------------------------------------


async def draw(
    session: AsyncSession,
    workspace_id: str,
    pool_id: str,
    campaign_id: str,
    assignments: Sequence[tuple[str, str]],
) -> dict[str, str]:
    """Give one free code of the pool to each (contact_id, message_id); {contact_id: code}.

    Runs in the caller's transaction and does not commit. A contact that this campaign
    already gave a code (a re-run) gets the same code back. When the pool runs short, the
    first contacts in `assignments` get the codes left and the others are absent."""
    wanted: dict[str, str] = {}
    for contact_id, message_id in assignments:
        wanted.setdefault(contact_id, message_id)
    if not wanted:
        return {}
    given: dict[str, str] = {}
    contact_ids = list(wanted)
    for start in range(0, len(contact_ids), BATCH):
        rows = await session.execute(
            select(DiscountCode.contact_id, DiscountCode.code).where(
                DiscountCode.workspace_id == workspace_id,
                DiscountCode.pool_id == pool_id,
                DiscountCode.campaign_id == campaign_id,
                DiscountCode.contact_id.in_(contact_ids[start : start + BATCH]),
            )
        )
        given.update({contact: code for contact, code in rows if contact is not None})
    needed = [c for c in contact_ids if c not in given]
    now = utcnow()
    for start in range(0, len(needed), BATCH):
        chunk = needed[start : start + BATCH]
        claimed = await _claim(session, workspace_id, pool_id, campaign_id, len(chunk), now)
        pairs = list(zip(chunk, claimed, strict=False))
        if pairs:
            await session.execute(
                update(DiscountCode),
                [
                    {"id": code_id, "contact_id": contact, "message_id": wanted[contact]}
                    for contact, (code_id, _) in pairs
                ],
            )
        given.update({contact: code for contact, (_, code) in pairs})
        if len(claimed) < len(chunk):
            break  # the pool is empty
    return given


async def _claim(
    session: AsyncSession, workspace_id: str, pool_id: str, campaign_id: str, n: int, now: datetime
) -> list[tuple[int, str]]:
    """Up to n free codes, oldest first, taken for the campaign in one statement."""
    free = (
        select(DiscountCode.id)
        .where(
            DiscountCode.workspace_id == workspace_id,
            DiscountCode.pool_id == pool_id,
            DiscountCode.contact_id.is_(None),
            DiscountCode.campaign_id.is_(None),
        )
        .order_by(DiscountCode.id)
        .limit(n)
    )
    if session.get_bind().dialect.name == "postgresql":
        # A CTE runs once; an IN (subquery) may be re-run per row and, skipping the rows this
        # very statement just updated, take the whole pool.
        picked = free.with_for_update(skip_locked=True).cte("picked")
        chosen: Any = DiscountCode.id == picked.c.id
    else:
        chosen = DiscountCode.id.in_(free.scalar_subquery())
    rows = await session.execute(
        update(DiscountCode)
        .where(chosen, DiscountCode.campaign_id.is_(None))
        .values(campaign_id=campaign_id, assigned_at=now)
        .returning(DiscountCode.id, DiscountCode.code)
        .execution_options(synchronize_session=False)
    )
    return sorted((int(code_id), code) for code_id, code in rows)


async def release(
    session: AsyncSession,
    workspace_id: str,
    pool_id: str,
    campaign_id: str,
    contact_ids: Sequence[str],
) -> int:
    """Give back the codes this campaign drew for contacts it did not text after all (a
    render that failed, a text too long); returns how many. Does not commit."""
    freed = 0
    for start in range(0, len(contact_ids), BATCH):
        result = await session.execute(
            update(DiscountCode)
            .where(
                DiscountCode.workspace_id == workspace_id,
                DiscountCode.pool_id == pool_id,
                DiscountCode.campaign_id == campaign_id,
                DiscountCode.contact_id.in_(contact_ids[start : start + BATCH]),
            )
            .values(campaign_id=None, contact_id=None, message_id=None, assigned_at=None)
            .execution_options(synchronize_session=False)
        )
        freed += int(getattr(result, "rowcount", 0) or 0)
    return freed


async def remaining(session: AsyncSession, workspace_id: str, pool_id: str) -> int:
    """Free codes left in the pool (0 for a pool of another workspace, or none)."""
    count = await session.scalar(
        select(func.count()).where(
            DiscountCode.workspace_id == workspace_id,
            DiscountCode.pool_id == pool_id,
            DiscountCode.contact_id.is_(None),
            DiscountCode.campaign_id.is_(None),
        )
    )
    return int(count or 0)


# --- helpers -------------------------------------------------------------------------------


async def _pool(session: AsyncSession, workspace_id: str, pool_id: str) -> DiscountPool:
    pool = None
    if looks_like_id(pool_id):
        pool = await session.scalar(
            select(DiscountPool).where(
                DiscountPool.workspace_id == workspace_id, DiscountPool.id == pool_id
            )
        )
    if pool is None:
        raise NotFound(f"No discount pool with id {pool_id[:40]} in this workspace.")
    return pool


async def _counts(
    session: AsyncSession, workspace_id: str, pool_ids: list[str]
) -> dict[str, tuple[int, int]]:
    if not pool_ids:
        return {}
    rows = await session.execute(
        select(
            DiscountCode.pool_id,
            func.count(),
            func.count() - func.count(DiscountCode.campaign_id),
        )
        .where(DiscountCode.workspace_id == workspace_id, DiscountCode.pool_id.in_(pool_ids))
        .group_by(DiscountCode.pool_id)
    )
    return {pool_id: (int(total), int(left)) for pool_id, total, left in rows}
