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
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from recado.carriers.base import Connector, OutboundSMS, SubmitError
from recado.db.tables import (
    Message,
    MessageEvent,
    MessagePart,
    Route,
    Sender,
    utcnow,
)
from recado.delivery import gate
from recado.delivery.status import transition
from recado.domain.message_status import MessageStatus
from recado.domain.rate_limit import RateLimiter
from recado.domain.routing import RouteRule, candidates

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 5
BACKOFF_BASE_SECONDS = 5.0
# A submit never takes this long, so a message `sending` for longer lost its dispatcher.
SUBMIT_LEASE = timedelta(seconds=60)
# How long a claimed batch stays reserved for one dispatcher; it stops short of the end.
CLAIM_LEASE = timedelta(seconds=120)
DEFAULT_RATE_MPS = 10.0
# Senders' rates and routes are read again after this long: edits apply within seconds.
CONFIG_TTL_SECONDS = 2.0
THROTTLE_PAUSE = timedelta(seconds=1)


class Dispatcher:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        connector: Connector,
        *,
        batch_size: int = 200,
        idle_seconds: float = 0.2,
        clock: Callable[[], datetime] = utcnow,
        monotonic: Callable[[], float] = time.monotonic,
        sender_rates: dict[str, float] | None = None,
        connectors: Mapping[str, Connector] | None = None,
        submit_lease: timedelta = SUBMIT_LEASE,
        claim_lease: timedelta = CLAIM_LEASE,
    ) -> None:
        self.sessions = sessions
        self.monotonic = monotonic
        self.submit_lease = submit_lease
        self.claim_lease = claim_lease
        # Parts per second per sender address; refreshed from the senders table each round.
        self.sender_rates: dict[str, float] = dict(sender_rates or {})
        self.limiters: dict[str, RateLimiter] = {}
        self.connector = connector  # the default: used by workspaces without routes
        # Every connector by name, shared with the platform so new connections appear here.
        self.connectors: Mapping[str, Connector] = connectors or {connector.name: connector}
        self.routes: dict[str, list[RouteRule]] = {}  # per workspace, refreshed each round
        self.bound: dict[tuple[str, str], str] = {}  # (workspace, sender) -> its connection
        self._config_fresh_until = 0.0
        self.batch_size = batch_size
        self.idle_seconds = idle_seconds
        self.clock = clock
        self.wakeup = asyncio.Event()

    def config_changed(self) -> None:
        """Routes, senders or connections were edited: read them again on the next round."""
        self._config_fresh_until = 0.0

    def notify(self) -> None:
        """Called when a message was accepted, so it goes out without waiting for the poll."""
        self.wakeup.set()

    async def run_forever(self) -> None:
        next_recovery = self.clock()
        while True:
            if self.clock() >= next_recovery:
                await self.recover()
                next_recovery = self.clock() + self.submit_lease / 2
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
                        Message.updated_at < now - self.submit_lease,
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
            if self.monotonic() >= self._config_fresh_until:
                await self._load_sender_rates(session)
                await self._load_routes(session)
                self._config_fresh_until = self.monotonic() + CONFIG_TTL_SECONDS
            await self._release_due_schedules(session, now)
            batch = await self._claim(session, now)
            deadline = now + self.claim_lease * 7 / 8  # stop short of the lease's end
            for index, message in enumerate(batch):
                if self.clock() >= deadline:  # a slow sender: let the lease not run out
                    await self._release(session, batch[index:])
                    return index
                await self._submit(session, message)
        return len(batch)

    async def _load_sender_rates(self, session: AsyncSession) -> None:
        rows = await session.execute(select(Sender.address, Sender.rate_limit_mps))
        for address, rate in rows:
            if self.sender_rates.get(address) != rate:
                self.sender_rates[address] = rate
                self.limiters.pop(address, None)  # rebuilt with the new rate on next use

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
        """Lease a batch of due messages to this dispatcher in one statement.

        One UPDATE ... RETURNING is atomic on both databases, so two dispatchers never lease
        the same row: SQLite serializes writers, PostgreSQL skips rows locked by another.
        Leased messages stay `queued`: if this process dies, the lease runs out and another
        dispatcher sends them. Only the message about to be submitted is marked `sending`.
        """
        due = (
            select(Message.id)
            .where(Message.status == MessageStatus.QUEUED.value)
            .where((Message.send_at.is_(None)) | (Message.send_at <= now))
            .where((Message.lease_until.is_(None)) | (Message.lease_until < now))
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
                lease_until=now + self.claim_lease, attempts=Message.attempts + 1, updated_at=now
            )
            .returning(Message)
            .execution_options(synchronize_session=False)
        )
        batch = sorted(claimed, key=lambda m: m.id)
        await session.commit()
        return batch

    async def _release(self, session: AsyncSession, messages: list[Message]) -> None:
        """Give back leased messages this round will not reach (their attempt not spent)."""
        if not messages:
            return
        await session.execute(
            update(Message)
            .where(
                Message.id.in_([m.id for m in messages]),
                Message.status == MessageStatus.QUEUED.value,
            )
            .values(lease_until=None, attempts=Message.attempts - 1)
            .execution_options(synchronize_session=False)
        )
        await session.commit()

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
        connector = self.route(message)
        if connector is None:
            await self._refused(
                session,
                message,
                SubmitError(
                    "no_route",
                    f"no connected carrier route for {message.recipient}",
                    temporary=True,
                ),
            )
            await session.commit()
            return
        marked = await transition(
            session,
            message,
            MessageStatus.SENDING,
            at=self.clock(),
            detail=f"attempt {message.attempts} via {connector.name}",
            lease_until=None,
        )
        if not marked:  # canceled a moment ago
            await session.commit()
            return
        await session.commit()  # durable before the carrier call: a crash now means unknown
        await self.pace(message)  # right before the call, so the limiter sees the real times
        try:
            result = await connector.submit(sms)
        except SubmitError as error:
            if error.outcome_unknown:
                message.connector = connector.name  # where to reconcile it
                await session.execute(
                    update(Message).where(Message.id == message.id).values(connector=connector.name)
                )
            await self._refused(session, message, error)
        else:
            sent_at = self.clock()
            await transition(
                session,
                message,
                MessageStatus.SENT,
                at=sent_at,
                detail=f"via {connector.name}, carrier id {result.carrier_message_id}",
                carrier_message_id=result.carrier_message_id,
                connector=connector.name,
                sent_at=sent_at,
            )
            # Carriers that report on each part (SMPP, Vonage) get a row per part id.
            session.add_all(
                MessagePart(
                    message_id=message.id,
                    part_no=number,
                    workspace_id=message.workspace_id,
                    connector=connector.name,
                    carrier_message_id=part_id,
                    status=MessageStatus.SENT.value,
                )
                for number, part_id in enumerate(result.part_ids, start=1)
                if len(result.part_ids) > 1
            )
        await session.commit()

    def route(self, message: Message) -> Connector | None:
        """The connector for this message, or None when no route to it is connected."""
        available = {name for name, c in self.connectors.items() if c.connected}
        names = candidates(
            message.recipient,
            self.routes.get(message.workspace_id, []),
            bound_connection=self.bound.get((message.workspace_id, message.sender or "")),
            default=self.connector.name,
            available=available,
        )
        return self.connectors[names[0]] if names else None

    async def _load_routes(self, session: AsyncSession) -> None:
        routes: dict[str, list[RouteRule]] = {}
        # Routes of disabled connections count too: their connector is absent, so their
        # texts wait (no_route) instead of falling back to the default simulator.
        rows = await session.execute(
            select(Route.workspace_id, Route.prefix, Route.connection_id, Route.priority)
        )
        for workspace_id, prefix, connection_id, priority in rows:
            routes.setdefault(workspace_id, []).append(RouteRule(prefix, connection_id, priority))
        self.routes = routes
        bound = await session.execute(
            select(Sender.workspace_id, Sender.address, Sender.connection_id).where(
                Sender.connection_id.is_not(None)
            )
        )
        self.bound = {(w, a): c for w, a, c in bound}

    async def pace(self, message: Message) -> None:
        """Wait until the sender's rate limit allows this message's parts to go."""
        limiter = self.limiters.get(message.sender or "")
        if limiter is None:
            rate = self.sender_rates.get(message.sender or "", DEFAULT_RATE_MPS)
            limiter = self.limiters[message.sender or ""] = RateLimiter(rate)
        cost = max(1, message.segments)
        while (wait := limiter.wait_time(cost, self.monotonic())) > 0:  # noqa: ASYNC110
            await asyncio.sleep(wait)
        limiter.record(cost, self.monotonic())

    async def _refused(self, session: AsyncSession, message: Message, error: SubmitError) -> None:
        now = self.clock()
        if error.outcome_unknown:
            await transition(
                session,
                message,
                MessageStatus.UNKNOWN,
                at=now,
                detail=f"{error}; the carrier may have it, so it is not resent",
                error_code=error.code,
                error_message=error.message,
            )
            return
        if error.throttled:
            # The carrier asked us to slow down: not the message's fault, no attempt spent.
            limiter = self.limiters.get(message.sender or "")
            if limiter is not None:
                limiter.slow_down(self.monotonic())
            retry_at = now + THROTTLE_PAUSE
            await _back_to(
                session, message, MessageStatus.QUEUED, now, f"{error}; slowed", retry_at
            )
            await session.execute(
                update(Message)
                .where(Message.id == message.id)
                .values(attempts=Message.attempts - 1)
                .execution_options(synchronize_session=False)
            )
            return
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
    """Due again at `retry_at`: from `sending` by a transition, or a leased message given back."""
    detail = f"{reason}; next try at {retry_at.isoformat()}"
    if message.status != MessageStatus.QUEUED.value:
        await transition(session, message, status, at=now, detail=detail, send_at=retry_at)
        return
    await session.execute(
        update(Message)
        .where(Message.id == message.id, Message.status == MessageStatus.QUEUED.value)
        .values(send_at=retry_at, lease_until=None, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    message.send_at = retry_at
    session.add(
        MessageEvent(
            message_id=message.id,
            workspace_id=message.workspace_id,
            status=MessageStatus.QUEUED.value,
            detail=detail,
            created_at=now,
        )
    )
