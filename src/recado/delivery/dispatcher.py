"""The dispatcher: claims due messages from the outbox and submits them to their connector.

Each claimed message is marked `sending` in the database before its carrier call. If the
process dies after that mark, nobody knows whether the carrier got it, so once the mark is
older than any submit can take, the message becomes `unknown` for reconciliation instead of
being sent a second time. Several dispatchers may run at once (a CLI `send --wait` beside the
server, workers at scale): claims are atomic and recovery only touches stale marks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from recado.carriers.base import Connector, OutboundSMS, SubmitError
from recado.db.tables import Message, MessageEvent, utcnow
from recado.delivery import gate
from recado.delivery.status import transition
from recado.domain.message_status import MessageStatus
from recado.services import status_callbacks

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 5
BACKOFF_BASE_SECONDS = 5.0
# A submit never takes this long, so a message `sending` for longer lost its dispatcher.
SUBMIT_LEASE = timedelta(seconds=60)


class Dispatcher:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        connector: Connector,
        *,
        batch_size: int = 200,
        idle_seconds: float = 0.2,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.connector = connector
        self.batch_size = batch_size
        self.idle_seconds = idle_seconds
        self.clock = clock
        self.wakeup = asyncio.Event()

    def notify(self) -> None:
        """Called when a message was accepted, so it goes out without waiting for the poll."""
        self.wakeup.set()

    async def run_forever(self) -> None:
        next_recovery = self.clock()
        while True:
            if self.clock() >= next_recovery:
                await self.recover()
                next_recovery = self.clock() + SUBMIT_LEASE / 2
            try:
                sent = await self.run_once()
            except Exception:  # keep dispatching after a database hiccup; it is logged
                log.exception("dispatch round failed")
                sent = 0
            if sent == 0:
                self.wakeup.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wakeup.wait(), self.idle_seconds)

    async def recover(self) -> int:
        """Messages left `sending` by a dead dispatcher: the carrier may have them, never resend."""
        now = self.clock()
        async with self.sessions() as session:
            stuck = list(
                await session.scalars(
                    select(Message).where(
                        Message.status == MessageStatus.SENDING.value,
                        Message.updated_at < now - SUBMIT_LEASE,
                    )
                )
            )
            for message in stuck:
                await transition(
                    session,
                    message,
                    MessageStatus.UNKNOWN,
                    at=now,
                    detail="the process stopped during submit; outcome unknown, not resent",
                )
            await session.commit()
        if stuck:
            log.warning("%d messages marked unknown after an interrupted submit", len(stuck))
        return len(stuck)

    async def run_once(self) -> int:
        """Claim one batch and submit it. Returns how many messages were handled."""
        now = self.clock()
        async with self.sessions() as session:
            await self._release_due_schedules(session, now)
            batch = await self._claim(session, now)
            for message in batch:
                await self._submit(session, message)
        return len(batch)

    async def _release_due_schedules(self, session: AsyncSession, now: datetime) -> None:
        due = list(
            await session.scalars(
                select(Message)
                .where(Message.status == MessageStatus.SCHEDULED.value, Message.send_at <= now)
                .limit(self.batch_size)
            )
        )
        for message in due:
            await transition(
                session, message, MessageStatus.QUEUED, at=now, detail="send time reached"
            )
        await session.commit()

    async def _claim(self, session: AsyncSession, now: datetime) -> list[Message]:
        """Mark a batch of due messages `sending` in one statement and return them.

        One UPDATE ... RETURNING is atomic on both databases, so two dispatchers can never
        claim the same row: SQLite serializes writers, PostgreSQL skips rows locked by another.
        """
        due = (
            select(Message.id)
            .where(Message.status == MessageStatus.QUEUED.value)
            .where((Message.send_at.is_(None)) | (Message.send_at <= now))
            .order_by(Message.id)
            .limit(self.batch_size)
        )
        if session.bind.dialect.name == "postgresql":
            due = due.with_for_update(skip_locked=True)
        claimed = await session.scalars(
            update(Message)
            .where(
                Message.id.in_(due.scalar_subquery()), Message.status == MessageStatus.QUEUED.value
            )
            .values(
                status=MessageStatus.SENDING.value,
                connector=self.connector.name,
                attempts=Message.attempts + 1,
                updated_at=now,
            )
            .returning(Message)
            .execution_options(synchronize_session=False)
        )
        batch = sorted(claimed, key=lambda m: m.id)
        for message in batch:
            session.add(
                MessageEvent(
                    message_id=message.id,
                    workspace_id=message.workspace_id,
                    status=MessageStatus.SENDING.value,
                    detail=f"attempt {message.attempts} via {self.connector.name}",
                    created_at=now,
                )
            )
        await status_callbacks.enqueue(session, batch, now)
        await session.commit()  # the mark is durable before any carrier call
        return batch

    async def _submit(self, session: AsyncSession, message: Message) -> None:
        now = self.clock()
        verdict = await gate.may_send_now(session, message, now)
        if not verdict.allowed:
            if verdict.retry_at is not None:
                await _back_to(
                    session, message, MessageStatus.QUEUED, now, verdict.reason, verdict.retry_at
                )
            else:
                await transition(
                    session,
                    message,
                    MessageStatus.CANCELED,
                    at=now,
                    detail=verdict.reason,
                    error_code="blocked",
                    error_message=verdict.reason,
                )
            await session.commit()
            return
        sms = OutboundSMS(
            message_id=message.id,
            sender=message.sender,
            recipient=message.recipient,
            body=message.body,
            media_urls=tuple(message.media_urls or ()),
        )
        try:
            result = await self.connector.submit(sms)
        except SubmitError as error:
            await self._refused(session, message, error)
        else:
            await transition(
                session,
                message,
                MessageStatus.SENT,
                at=self.clock(),
                detail=f"carrier id {result.carrier_message_id}",
                carrier_message_id=result.carrier_message_id,
                sent_at=self.clock(),
            )
        await session.commit()

    async def _refused(self, session: AsyncSession, message: Message, error: SubmitError) -> None:
        now = self.clock()
        if error.temporary and message.attempts < MAX_ATTEMPTS:
            delay = BACKOFF_BASE_SECONDS * 2 ** (message.attempts - 1)
            retry_at = now + timedelta(seconds=delay)
            await _back_to(session, message, MessageStatus.QUEUED, now, f"{error}; retry", retry_at)
            return
        await transition(
            session,
            message,
            MessageStatus.FAILED,
            at=now,
            detail=str(error),
            error_code=error.code,
            error_message=error.message,
        )


async def _back_to(
    session: AsyncSession,
    message: Message,
    status: MessageStatus,
    now: datetime,
    reason: str | None,
    retry_at: datetime,
) -> None:
    await transition(
        session,
        message,
        status,
        at=now,
        detail=f"{reason} at {retry_at.isoformat()}",
        send_at=retry_at,
    )
