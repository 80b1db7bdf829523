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
import math
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, bindparam, insert, literal_column, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from recado import metrics
from recado.carriers.base import Connector, OutboundSMS, SubmitError, SubmitResult
from recado.db.tables import (
    MESSAGE_EVENTS,
    MESSAGE_PARTS,
    MESSAGES,
    Message,
    MessageEvent,
    Route,
    Sender,
    event_row,
    utcnow,
)
from recado.delivery import gate
from recado.delivery.in_flight import InFlight
from recado.delivery.status import remember, transition
from recado.domain.message_status import MessageStatus
from recado.domain.rate_limit import RateLimiter
from recado.domain.routing import RouteRule, candidates
from recado.services import status_callbacks

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
# Messages submitted together, at most: the carrier window a connector is offered. A group
# is checked, marked and recorded in one transaction each, so for a fast sender bigger groups
# cost less per text (32 -> 100: 0.58 -> 0.40 ms of CPU per text); a crash leaves at most
# two groups `unknown`.
DEFAULT_WINDOW = 100
# A group holds at most this long's worth of a sender's rate: the limiter's burst bound (a
# tenth of the rate at once), so a late group can still catch up in one burst.
GROUP_SECONDS = 0.1


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
        window: int = DEFAULT_WINDOW,
        in_flight: InFlight | None = None,
    ) -> None:
        self.window = window
        # Carrier ids submitted and not yet recorded, shared with the delivery-report handler.
        self.in_flight = in_flight if in_flight is not None else InFlight()
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
        self._config_version = 0  # bumped by config_changed, so a load in flight is redone
        self.batch_size = batch_size
        self.idle_seconds = idle_seconds
        self.clock = clock
        self.wakeup = asyncio.Event()
        self._next_recovery = clock()  # stale `sending` marks are looked for then

    def config_changed(self) -> None:
        """Routes, senders or connections were edited (and committed): read them again
        before the next claim, even if a round is reading them right now."""
        self._config_fresh_until = 0.0
        self._config_version += 1

    def notify(self) -> None:
        """Called when a message was accepted, so it goes out without waiting for the poll."""
        self.wakeup.set()

    async def run_forever(self) -> None:
        while True:
            try:
                await self._recover_if_due()
                # Batch after batch while texts are due: a steady sender never pauses between them.
                sent = await self.run_once(batches=None)
            except Exception:  # keep dispatching after a database hiccup; it is logged
                log.exception("dispatch round failed")
                sent = 0
            if sent == 0:
                self.wakeup.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wakeup.wait(), self.idle_seconds)

    async def _recover_if_due(self) -> None:
        if self.clock() >= self._next_recovery:
            await self.recover()
            self._next_recovery = self.clock() + self.submit_lease / 2

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

    async def run_once(self, *, batches: int | None = 1) -> int:
        """Claim a batch and submit it; with `batches` above 1 (None: no end) the next batch
        is claimed while the last group of the one before goes out, for as long as batches
        come back full. Returns how many messages were handled.

        A group's database work runs while the group before it is with the carrier: group
        n + 1 is checked and marked `sending` on the claim's session, and group n's outcomes
        are recorded on a second one once the carrier answered, so the submits do not wait
        for commits, and a sender paced at its limit never stalls between batches (a pause
        in the stream costs that second its texts: the one-second window cannot catch up).
        Only the group being submitted and the next one are ever `sending` unsubmitted: a
        crash leaves them `unknown`, never sent twice."""
        async with self.sessions() as session, self.sessions() as records:
            writes = asyncio.Lock()  # one write transaction of this round at a time
            recorded: asyncio.Future[None] | None = None
            upcoming: asyncio.Future[_Batch] | None = None
            done = 0
            try:
                batch = await self._next_batch(session, writes)
                while batch.messages:
                    deadline = batch.claimed_at + self.claim_lease * 7 / 8  # short of its end
                    before = recorded  # the outcomes of every batch before this one
                    ready, following = batch.first_ready, None
                    handled = 0
                    for number, group in enumerate(batch.groups):
                        last = number + 1 == len(batch.groups)
                        prepare: asyncio.Future[list[tuple[Message, Connector]]] | None = None
                        if not last and self.clock() < deadline:
                            prepare = asyncio.ensure_future(
                                self._prepare(session, batch.groups[number + 1], writes)
                            )
                        elif last and batches != 1 and len(batch.messages) == self.batch_size:
                            upcoming = asyncio.ensure_future(
                                self._next_batch(session, writes, chained=True, after=before)
                            )
                        marker = self.in_flight.group()
                        calls = await self._submit_paced(ready, marker)
                        recorded = asyncio.ensure_future(
                            self._record(records, ready, calls, recorded, writes, marker)
                        )
                        handled += len(group)
                        if prepare is None:
                            break
                        ready = await prepare
                    done += handled
                    if handled < len(batch.messages):  # a slow sender: let the lease not run out
                        await self._release(session, batch.messages[handled:])
                    if upcoming is not None:
                        following, upcoming = await upcoming, None
                    batches = None if batches is None else batches - 1
                    batch = following or _Batch.empty(self.clock())
            finally:
                for pending in (upcoming, recorded):
                    if pending is not None:
                        await pending
        return done

    async def _next_batch(
        self,
        session: AsyncSession,
        writes: asyncio.Lock,
        *,
        chained: bool = False,
        after: asyncio.Future[None] | None = None,
    ) -> _Batch:
        """Claim a batch and prepare its first group. In a chain, not before the outcomes of
        the batches before the current one (`after`) are recorded: a carrier that stops
        answering holds the chain at two batches. A chain that never ends still looks for
        other dispatchers' stale marks on time."""
        if chained:
            if after is not None:
                await after
            await self._recover_if_due()
        await self._refresh_config(session)
        now = self.clock()
        async with writes:
            await self._release_due_schedules(session, now)
            messages = await self._claim(session, now)
        groups = list(self._groups(messages))
        first = await self._prepare(session, groups[0], writes) if groups else []
        return _Batch(messages, groups, first, now)

    async def _refresh_config(self, session: AsyncSession) -> None:
        """Routes and rates at most CONFIG_TTL_SECONDS old (edits in this process: none).

        A change that lands while they are being read reads them again, so a text accepted
        after a route was added never goes by the routes from before it."""
        while self.monotonic() >= self._config_fresh_until:
            version = self._config_version
            fresh_until = self.monotonic() + CONFIG_TTL_SECONDS
            await self._load_sender_rates(session)
            await self._load_routes(session)
            if version == self._config_version:
                self._config_fresh_until = fresh_until

    async def _load_sender_rates(self, session: AsyncSession) -> None:
        rows = await session.execute(select(Sender.address, Sender.rate_limit_mps))
        for address, rate in rows:
            if self.sender_rates.get(address) != rate:
                self.sender_rates[address] = rate
                self.limiters.pop(address, None)  # rebuilt with the new rate on next use

    async def _release_due_schedules(self, session: AsyncSession, now: datetime) -> None:
        """Scheduled messages whose time came become `queued`: one guarded UPDATE ...
        RETURNING and one INSERT of their events (a local-time campaign schedules a million)."""
        due = (
            select(Message.id)
            # A literal, not a bound value: the planners then use the partial index.
            .where(Message.status == literal_column("'scheduled'"), Message.send_at <= now)
            .limit(self.batch_size)
        )
        due = _pick(session, due)
        released = list(
            await session.scalars(
                update(Message)
                .where(
                    Message.id.in_(due.scalar_subquery()),
                    Message.status == MessageStatus.SCHEDULED.value,
                )
                .values(status=MessageStatus.QUEUED.value, updated_at=now)
                .returning(Message)
                .execution_options(synchronize_session=False)
            )
        )
        if released:
            await session.execute(
                insert(MESSAGE_EVENTS),
                [
                    event_row(
                        m.id, m.workspace_id, MessageStatus.QUEUED.value, "send time reached", now
                    )
                    for m in released
                ],
            )
            await status_callbacks.enqueue(session, released, now)
            metrics.MESSAGE_STATUS_CHANGES.labels(MessageStatus.QUEUED.value).inc(len(released))
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
        due = _pick(session, due)
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

    def _groups(self, batch: list[Message]) -> Iterator[list[Message]]:
        """Consecutive messages that go to the carriers together: at most `window` of them,
        and per sender no more parts than its rate allows in `GROUP_SECONDS`, so a group is
        one short burst that the sender's limits allow as a whole."""
        group: list[Message] = []
        parts: dict[str, int] = defaultdict(int)
        for message in batch:
            sender, cost = message.sender or "", max(1, message.segments)
            cap = max(1, math.floor(self._rate(sender) * GROUP_SECONDS))
            if group and (len(group) >= self.window or parts[sender] + cost > cap):
                yield group
                group, parts = [], defaultdict(int)
            group.append(message)
            parts[sender] += cost
        if group:
            yield group

    async def _prepare(
        self, session: AsyncSession, group: list[Message], writes: asyncio.Lock
    ) -> list[tuple[Message, Connector]]:
        """Check the group and mark the ones that may go `sending`, committed (durable: a
        crash after it leaves `unknown`, never a resend); each with its connector."""
        async with writes:
            now = self.clock()
            verdicts = await gate.check(session, group, now)
            ready: list[tuple[Message, Connector]] = []
            for message in group:
                verdict = verdicts[message.id]
                connector = self.route(message) if verdict.allowed else None
                if not verdict.allowed:
                    await self._hold_back(session, message, verdict, now)
                elif connector is None:
                    error = SubmitError(
                        "no_route",
                        f"no connected carrier route for {message.recipient}",
                        temporary=True,
                    )
                    await self._refused(session, message, error)
                else:
                    ready.append((message, connector))
            marked = await self._mark_sending(session, ready, self.clock())
            await session.commit()
            late = [m for m, _ in ready if m.id not in marked]
            if late:  # canceled, or the recipient opted out, between the check and the mark
                await self._recheck(session, late)
        return [(m, c) for m, c in ready if m.id in marked]

    async def _submit_paced(
        self, sending: list[tuple[Message, Connector]], marker: asyncio.Future[None]
    ) -> list[asyncio.Future[SubmitResult | SubmitError]]:
        """Each message goes the moment its sender's limits allow it, so a group is a steady
        stream (at 100 MPS one every 10 ms), not one burst; the carrier calls overlap."""
        calls = []
        for message, connector in sending:
            began = await self._take_rate(message)
            calls.append(asyncio.ensure_future(self._call(connector, message, marker, began)))
        return calls

    async def _record(
        self,
        session: AsyncSession,
        sending: list[tuple[Message, Connector]],
        calls: list[asyncio.Future[SubmitResult | SubmitError]],
        previous: asyncio.Future[None] | None,
        writes: asyncio.Lock,
        marker: asyncio.Future[None],
    ) -> None:
        """The group's outcomes, once the carrier answered, after the group before it."""
        try:
            outcomes = await asyncio.gather(*calls)
            if previous is not None:
                await previous
            if not sending:
                return
            async with writes:
                await self._record_outcomes(session, sending, outcomes)
                await session.commit()
        finally:  # committed, or failed: either way their reports stop waiting
            self.in_flight.recorded(_accepted_ids(sending, calls), marker)

    async def _mark_sending(
        self, session: AsyncSession, ready: list[tuple[Message, Connector]], at: datetime
    ) -> set[str]:
        """Mark the group `sending` in one guarded UPDATE; the ids it marked."""
        if not ready:
            return set()
        marked = set(
            await session.scalars(
                update(Message)
                .where(
                    Message.id.in_([m.id for m, _ in ready]),
                    Message.status == MessageStatus.QUEUED.value,
                    gate.not_opted_out(),
                )
                .values(status=MessageStatus.SENDING.value, updated_at=at, lease_until=None)
                .returning(Message.id)
                .execution_options(synchronize_session=False)
            )
        )
        events = []
        for message, connector in ready:
            if message.id not in marked:
                continue
            remember(message, status=MessageStatus.SENDING.value, updated_at=at)
            events.append(
                event_row(
                    message.id,
                    message.workspace_id,
                    MessageStatus.SENDING.value,
                    f"attempt {message.attempts} via {connector.name}",
                    at,
                )
            )
        if events:
            await session.execute(insert(MESSAGE_EVENTS), events)
            await status_callbacks.enqueue(session, [m for m, _ in ready if m.id in marked], at)
            metrics.MESSAGE_STATUS_CHANGES.labels(MessageStatus.SENDING.value).inc(len(events))
        return marked

    async def _recheck(self, session: AsyncSession, messages: list[Message]) -> None:
        for message in messages:
            await session.refresh(message)
        queued = [m for m in messages if m.status == MessageStatus.QUEUED.value]
        if not queued:
            return
        now = self.clock()
        verdicts = await gate.check(session, queued, now)
        for message in queued:
            await self._hold_back(session, message, verdicts[message.id], now)
        await session.commit()

    async def _call(
        self,
        connector: Connector,
        message: Message,
        marker: asyncio.Future[None],
        began: Callable[[], None],
    ) -> SubmitResult | SubmitError:
        began()  # the carrier sees the text now, not when the limiter counted it
        sms = OutboundSMS(
            message_id=message.id,
            sender=message.sender,
            recipient=message.recipient,
            body=message.body,
            media_urls=tuple(message.media_urls or ()),
        )
        try:
            result = await connector.submit(sms)
        except SubmitError as error:
            return error
        self.in_flight.submitted(connector.name, _carrier_ids(result), marker)
        return result

    async def _record_outcomes(
        self,
        session: AsyncSession,
        sending: list[tuple[Message, Connector]],
        outcomes: list[SubmitResult | SubmitError],
    ) -> None:
        """Sent ones in a few statements; refusals one by one (they are the rare case)."""
        sent_at = self.clock()
        sent: list[tuple[Message, Connector, SubmitResult]] = []
        for (message, connector), outcome in zip(sending, outcomes, strict=True):
            if isinstance(outcome, SubmitError):
                if outcome.outcome_unknown:
                    remember(message, connector=connector.name)  # where to reconcile it
                    await session.execute(
                        update(Message)
                        .where(Message.id == message.id)
                        .values(connector=connector.name)
                    )
                await self._refused(session, message, outcome)
            else:
                sent.append((message, connector, outcome))
        if not sent:
            return
        await session.execute(
            update(MESSAGES)
            .where(
                MESSAGES.c.id == bindparam("b_id"),
                MESSAGES.c.status == MessageStatus.SENDING.value,
            )
            .values(
                status=MessageStatus.SENT.value,
                carrier_message_id=bindparam("b_carrier_id"),
                connector=bindparam("b_connector"),
                sent_at=sent_at,
                updated_at=sent_at,
            ),
            [
                {"b_id": m.id, "b_carrier_id": r.carrier_message_id, "b_connector": c.name}
                for m, c, r in sent
            ],
        )
        events: list[dict[str, object]] = []
        parts: list[dict[str, object]] = []
        for message, connector, result in sent:
            remember(
                message,
                status=MessageStatus.SENT.value,
                carrier_message_id=result.carrier_message_id,
                connector=connector.name,
                sent_at=sent_at,
                updated_at=sent_at,
            )
            detail = f"via {connector.name}, carrier id {result.carrier_message_id}"
            events.append(
                event_row(
                    message.id, message.workspace_id, MessageStatus.SENT.value, detail, sent_at
                )
            )
            # Carriers that report on each part (SMPP, Vonage) get a row per part id.
            if len(result.part_ids) > 1:
                parts.extend(
                    {
                        "message_id": message.id,
                        "part_no": number,
                        "workspace_id": message.workspace_id,
                        "connector": connector.name,
                        "carrier_message_id": part_id,
                        "status": MessageStatus.SENT.value,
                    }
                    for number, part_id in enumerate(result.part_ids, start=1)
                )
        await session.execute(insert(MESSAGE_EVENTS), events)
        metrics.MESSAGE_STATUS_CHANGES.labels(MessageStatus.SENT.value).inc(len(events))
        if parts:
            await session.execute(insert(MESSAGE_PARTS), parts)
        await status_callbacks.enqueue(session, [m for m, _, _ in sent], sent_at)

    async def _hold_back(
        self, session: AsyncSession, message: Message, verdict: gate.Verdict, now: datetime
    ) -> None:
        """Not now (quiet hours: due again later) or never (canceled with the reason)."""
        if verdict.allowed:  # the obstacle went away (a START): the next round sends it
            await _back_to(session, message, MessageStatus.QUEUED, now, "retry", now)
        elif verdict.retry_at is not None:
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
                error_code=verdict.code or "blocked",
                error_message=verdict.reason,
            )

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

    def _rate(self, sender: str) -> float:
        return self.sender_rates.get(sender, DEFAULT_RATE_MPS)

    def _limiter(self, sender: str) -> RateLimiter:
        limiter = self.limiters.get(sender)
        if limiter is None:
            limiter = self.limiters[sender] = RateLimiter(self._rate(sender))
        return limiter

    async def _take_rate(self, message: Message) -> Callable[[], None]:
        """Wait until the sender's limits allow the message's parts to go now, and count
        them at that moment. Returns what to call as the carrier call starts: the call runs
        a moment later, in its own task, and a moment longer when the loop is busy."""
        sender, cost = message.sender or "", max(1, message.segments)
        # The limiter is looked up each time: a rate edited meanwhile replaces it.
        while (wait := self._limiter(sender).wait_time(cost, self.monotonic())) > 0:  # noqa: ASYNC110
            await asyncio.sleep(wait)
        limiter = self._limiter(sender)
        send = limiter.record(cost, self.monotonic())
        return lambda: limiter.began(send, self.monotonic())

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


@dataclass
class _Batch:
    """Claimed messages in their submit groups; the first group already checked and marked."""

    messages: list[Message]
    groups: list[list[Message]]
    first_ready: list[tuple[Message, Connector]]
    claimed_at: datetime

    @staticmethod
    def empty(now: datetime) -> _Batch:
        return _Batch([], [], [], now)


def _carrier_ids(result: SubmitResult) -> tuple[str, ...]:
    """Every id a delivery report about this submit may carry."""
    return (result.carrier_message_id, *result.part_ids)


def _accepted_ids(
    sending: list[tuple[Message, Connector]],
    calls: list[asyncio.Future[SubmitResult | SubmitError]],
) -> Iterator[tuple[str, str]]:
    """(connector, carrier id) of every submit in the group that its carrier accepted."""
    for (_, connector), call in zip(sending, calls, strict=True):
        if not call.done() or call.cancelled() or call.exception() is not None:
            continue
        result = call.result()
        if isinstance(result, SubmitResult):
            for carrier_id in _carrier_ids(result):
                yield connector.name, carrier_id


def _pick(session: AsyncSession, due: Select[tuple[str]]) -> Select[tuple[str]]:
    """The ids a round takes, for an UPDATE ... WHERE id IN (...). On PostgreSQL, rows
    another dispatcher holds are skipped, and the pick is a materialized CTE, so its LIMIT
    holds: as a plain IN (subquery) PostgreSQL may plan a semi-join that re-runs it past the
    rows this statement already locked, and one round then took every queued message."""
    if session.get_bind().dialect.name != "postgresql":
        return due
    picked = due.with_for_update(skip_locked=True).cte("due").prefix_with("MATERIALIZED")
    return select(picked.c.id)


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
    remember(message, send_at=retry_at, lease_until=None, updated_at=now)
    session.add(
        MessageEvent(
            message_id=message.id,
            workspace_id=message.workspace_id,
            status=MessageStatus.QUEUED.value,
            detail=detail,
            created_at=now,
        )
    )
