"""What every send reads and hardly ever changes, kept in memory for a couple of seconds.

Each API send read the workspace's row, its senders, its rate card and the API key again:
five of its statements, about 2 ms of the server's CPU per text. They are kept here per
database for CACHE_SECONDS. A change made by this process is seen at once: a session that
commits a write to one of their tables empties the cache. A change made by another process
(the CLI, a second server) is seen within CACHE_SECONDS, as the dispatcher sees its routes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import event, select
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from recado.db.tables import Sender, Workspace
from recado.domain.pricing import RateCard
from recado.domain.workspace_settings import WorkspaceSettings, read_settings
from recado.errors import NotFound
from recado.services import consent, pricing

CACHE_SECONDS = 2.0
MAX_ENTRIES = 10_000
# The tables whose rows are cached here; a committed write to any of them empties the cache.
WATCHED = frozenset({"workspaces", "senders", "rate_card_entries", "api_keys"})
_CHANGED = "recado_config_changed"  # the session.info flag of a transaction that wrote them


@dataclass(frozen=True)
class SenderInfo:
    address: str
    kind: str


@dataclass(frozen=True)
class SendConfig:
    """A workspace as a send needs it."""

    workspace_id: str
    name: str
    default_country: str
    settings: WorkspaceSettings
    suppression_key: str  # hashes numbers in the suppression list; never changes
    senders: tuple[SenderInfo, ...]  # the default first
    rate_card: RateCard

    def sender(self, address: str) -> SenderInfo | None:
        return next((s for s in self.senders if s.address == address), None)

    @property
    def default_sender(self) -> SenderInfo | None:
        return self.senders[0] if self.senders else None


_caches: WeakKeyDictionary[Engine, dict[tuple[str, str], tuple[float, Any]]] = WeakKeyDictionary()


def get(bind: Engine, kind: str, key: str) -> Any | None:
    """The value kept for (`kind`, `key`) in the database of `bind` (`session.get_bind()`,
    or an async engine's `sync_engine`), if still fresh."""
    hit = _caches.get(bind, {}).get((kind, key))
    return hit[1] if hit is not None and hit[0] > time.monotonic() else None


def put(bind: Engine, kind: str, key: str, value: Any) -> None:
    cache = _caches.setdefault(bind, {})
    if len(cache) >= MAX_ENTRIES:  # stale entries are never read again: start afresh
        cache.clear()
    cache[(kind, key)] = (time.monotonic() + CACHE_SECONDS, value)


async def send_config(session: AsyncSession, workspace_id: str) -> SendConfig:
    config: SendConfig | None = get(session.get_bind(), "send", workspace_id)
    if config is None:
        config = await _load(session, workspace_id)
        put(session.get_bind(), "send", workspace_id, config)
    return config


async def _load(session: AsyncSession, workspace_id: str) -> SendConfig:
    workspace = await session.get(Workspace, workspace_id)
    if workspace is None:
        raise NotFound(f"No workspace {workspace_id}.")
    senders = await session.scalars(
        select(Sender)
        .where(Sender.workspace_id == workspace_id)
        .order_by(Sender.is_default.desc(), Sender.id)
    )
    return SendConfig(
        workspace_id=workspace_id,
        name=workspace.name,
        default_country=workspace.default_country,
        settings=read_settings(workspace.settings),
        suppression_key=await consent.hashing_key(session, workspace_id),  # made if missing
        senders=tuple(SenderInfo(s.address, s.kind) for s in senders),
        rate_card=await pricing.rate_card(session, workspace_id),
    )


# A write to a watched table, by the unit of work or by a DML statement, marks the session;
# its commit empties every cache of this process (a change is rare, a reload is cheap).


@event.listens_for(Session, "after_flush")
def _flushed(session: Session, _context: UOWTransaction) -> None:
    for obj in (*session.new, *session.dirty, *session.deleted):
        table = getattr(obj, "__tablename__", None)
        if table in WATCHED:
            session.info[_CHANGED] = True
            return


@event.listens_for(Session, "do_orm_execute")
def _executed(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        table = getattr(state.statement, "table", None)
        if getattr(table, "name", None) in WATCHED:
            state.session.info[_CHANGED] = True


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    if session.info.pop(_CHANGED, False):
        for cache in list(_caches.values()):
            cache.clear()


@event.listens_for(Session, "after_soft_rollback")
def _rolled_back(session: Session, _previous: Any) -> None:
    session.info.pop(_CHANGED, None)
