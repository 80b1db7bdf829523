"""Recording status changes: every change is guarded by the state machine and leaves an event."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import instance_state, set_committed_value

from recado import metrics
from recado.db.tables import Message, MessageEvent
from recado.domain.message_status import MessageStatus, sources_of
from recado.services import status_callbacks


async def transition(
    session: AsyncSession,
    message: Message,
    new: MessageStatus,
    *,
    at: datetime,
    detail: str | None = None,
    guard: ColumnElement[bool] | None = None,
    **values: Any,
) -> bool:
    """Move `message` to `new` if the state machine allows it from its stored status.

    The UPDATE is guarded by the allowed source statuses, so two writers racing (a late
    delivery report, a cancel) cannot move a message backwards. `guard` adds a condition that
    must hold in the same statement (the recipient is still not suppressed). Returns False if
    it lost.
    """
    allowed = sources_of(new)
    statement = update(Message).where(
        Message.id == message.id, Message.status.in_([s.value for s in allowed])
    )
    if guard is not None:
        statement = statement.where(guard)
    result = await session.execute(
        statement.values(status=new.value, updated_at=at, **values).execution_options(
            synchronize_session=False
        )
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    remember(message, status=new.value, updated_at=at, **values)
    metrics.MESSAGE_STATUS_CHANGES.labels(new.value).inc()
    session.add(
        MessageEvent(
            message_id=message.id,
            workspace_id=message.workspace_id,
            status=new.value,
            detail=detail,
            created_at=at,
        )
    )
    await status_callbacks.enqueue(session, [message], at)
    return True


def remember(message: Message, **values: Any) -> None:
    """Show on the loaded object what a guarded UPDATE already wrote, without marking it
    changed: else the flush at commit writes the row a second time, unguarded."""
    state = instance_state(message)
    if not state.modified and not state.expired_attributes:
        # Nothing pending or expired on it: the values go straight into its loaded state,
        # as set_committed_value would put them (it costs 6 µs a value; the dispatcher
        # remembers seven per text).
        state.dict.update(values)
        return
    for key, value in values.items():
        set_committed_value(message, key, value)
