"""What connectors report back: delivery reports update messages, inbound texts are stored."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from recado import metrics
from recado.carriers.base import DeliveryReport, InboundSMS
from recado.db.group_commit import GroupCommit
from recado.db.tables import MESSAGE_EVENTS, Message, MessagePart, event_row, utcnow
from recado.delivery.in_flight import InFlight
from recado.delivery.status import transition
from recado.domain.message_status import MessageStatus, sources_of
from recado.services import inbound, status_callbacks, unmatched_reports
from recado.services.status_callbacks import MessageColumns

log = logging.getLogger(__name__)
_REPORT_STATUS = {
    "delivered": MessageStatus.DELIVERED,
    "undelivered": MessageStatus.UNDELIVERED,
    "failed": MessageStatus.FAILED,
}
# A report can overtake the commit that stores the carrier id; look again a few times.
_LOOKUP_RETRIES = (0.05, 0.2, 0.5, 1.0, 2.0)
REPORT_BATCH = 500


class CarrierEventHandler:
    """Applies delivery reports in batches: reports that arrive together share one
    transaction, so a carrier reporting thousands a second is not held to one commit each.
    Each caller still waits until its own report is stored (an SMPP receipt is only
    acknowledged once it is durable)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        on_inbound: Callable[[], None] | None = None,
        in_flight: InFlight | None = None,
    ) -> None:
        self.sessions = sessions
        self.on_inbound = on_inbound
        # The dispatcher's submits not yet recorded: a report about one waits for its commit.
        self.in_flight = in_flight if in_flight is not None else InFlight()
        self._batches = GroupCommit(self._store, limit=REPORT_BATCH, name="delivery-reports")

    async def delivery_report(self, report: DeliveryReport) -> None:
        status = _REPORT_STATUS.get(report.status)
        if status is None:
            log.warning("ignored delivery report with unknown status %r", report.status)
            return
        for pause in (0.0, *_LOOKUP_RETRIES):
            await asyncio.sleep(pause)
            await self.in_flight.settled(report.connector, report.carrier_message_id)
            # True once stored; False while its message is not known (yet).
            if await self._batches.submit(_Pending(report, status)):
                return
        metrics.DELIVERY_REPORTS_UNMATCHED.inc()
        log.warning("delivery report for unknown message %s", report.carrier_message_id)
        async with self.sessions() as session:  # kept, for the connection's page in the API
            await unmatched_reports.keep(session, report)
            await session.commit()

    async def inbound(self, sms: InboundSMS) -> None:
        async with self.sessions() as session:
            await inbound.receive(session, sms)
        if self.on_inbound:
            self.on_inbound()

    async def _store(self, batch: list[_Pending]) -> list[bool]:
        async with self.sessions() as session:
            found = await _apply_all(session, batch)
            await session.commit()
        return found


async def _apply_all(session: AsyncSession, batch: list[_Pending]) -> list[bool]:
    """Record a batch of reports: their messages and parts are looked up together."""
    by_connector: dict[str, set[str]] = defaultdict(set)
    for pending in batch:
        by_connector[pending.report.connector].add(pending.report.carrier_message_id)
    parts: set[tuple[str, str]] = set()
    messages: dict[tuple[str, str], MessageColumns] = {}
    for connector, ids in by_connector.items():
        rows = await session.execute(
            select(MessagePart.carrier_message_id).where(
                MessagePart.connector == connector, MessagePart.carrier_message_id.in_(ids)
            )
        )
        parts.update((connector, carrier_id) for (carrier_id,) in rows)
        for row in await session.execute(
            _REPORTED.where(Message.connector == connector, Message.carrier_message_id.in_(ids))
        ):
            message = MessageColumns(*row)
            messages[(connector, message.carrier_message_id or "")] = message
    found = []
    whole: dict[tuple[MessageStatus, str | None, str | None], list[_Whole]] = defaultdict(list)
    for pending in batch:
        report = pending.report
        key = (report.connector, report.carrier_message_id)
        if key in parts:  # a part of a long text: settled part by part
            found.append(await _apply(session, report, pending.status))
        elif key in messages:
            outcome = (pending.status, report.error_code, report.error_message)
            whole[outcome].append(_Whole(messages[key], report))
            found.append(True)
        else:
            found.append(False)
    for (status, code, reason), items in whole.items():
        await _settle_many(session, status, code, reason, items)
    return found


# A whole message's report reads only what settling it and its callback need.
_REPORTED = select(*(getattr(Message, column.name) for column in fields(MessageColumns)))


@dataclass(frozen=True)
class _Whole:
    message: MessageColumns
    report: DeliveryReport


async def _settle_many(
    session: AsyncSession,
    status: MessageStatus,
    code: str | None,
    reason: str | None,
    items: list[_Whole],
) -> None:
    """Reports with the same outcome in one guarded UPDATE (the state machine decides which
    messages may take it), their events in one INSERT, and their callbacks."""
    now = utcnow()
    values: dict[str, Any] = {"status": status.value, "updated_at": now}
    if status is MessageStatus.DELIVERED:
        values["delivered_at"] = now
    if code:
        values |= {"error_code": code, "error_message": reason}
    moved = set(
        await session.scalars(
            update(Message)
            .where(
                Message.id.in_([item.message.id for item in items]),
                Message.status.in_([s.value for s in sources_of(status)]),
            )
            .values(**values)
            .returning(Message.id)
            .execution_options(synchronize_session=False)
        )
    )
    detail = f"delivery report: {status.value}" + (f" ({code}: {reason})" if code else "")
    changed = []
    events = []
    for item in items:
        message = item.message
        if message.id not in moved:
            continue
        at = item.report.at or now
        message.status = status.value  # as the UPDATE wrote it, for the callback
        if code:
            message.error_code, message.error_message = code, reason
        changed.append(message)
        events.append(event_row(message.id, message.workspace_id, status.value, detail, at))
    if events:
        await session.execute(insert(MESSAGE_EVENTS), events)
        await status_callbacks.enqueue(session, changed, now)
        metrics.MESSAGE_STATUS_CHANGES.labels(status.value).inc(len(events))


@dataclass(frozen=True)
class _Pending:
    report: DeliveryReport
    status: MessageStatus


async def _apply(session: AsyncSession, report: DeliveryReport, status: MessageStatus) -> bool:
    """Record one report in the session; False when its message is not found."""
    message, new_status = await _resolve(session, report, status)
    if message is None:
        return False
    if new_status is not None:  # None: a part report that settles nothing yet
        await _settle(session, message, report, new_status)
    return True


async def _settle(
    session: AsyncSession, message: Message, report: DeliveryReport, new_status: MessageStatus
) -> None:
    now = report.at or utcnow()
    extra: dict[str, Any] = {"delivered_at": now} if new_status is MessageStatus.DELIVERED else {}
    if report.error_code:
        extra |= {"error_code": report.error_code, "error_message": report.error_message}
    detail = f"delivery report: {report.status}"
    if report.error_code:
        detail += f" ({report.error_code}: {report.error_message})"
    await transition(session, message, new_status, at=now, detail=detail, **extra)


async def _resolve(
    session: AsyncSession, report: DeliveryReport, status: MessageStatus
) -> tuple[Message | None, MessageStatus | None]:
    """The message a report is about, and the status it now has.

    A long text sent as parts has one carrier id per part. Each part's report is stored on
    its part; the message is delivered when every part is, and undelivered or failed as soon
    as one part is.
    """
    part = await session.scalar(
        select(MessagePart).where(
            MessagePart.connector == report.connector,
            MessagePart.carrier_message_id == report.carrier_message_id,
        )
    )
    if part is None:
        message = await session.scalar(
            select(Message).where(
                Message.connector == report.connector,
                Message.carrier_message_id == report.carrier_message_id,
            )
        )
        return message, status
    part.status = status.value
    await session.flush()
    message = await session.get(Message, part.message_id)
    if status is not MessageStatus.DELIVERED:
        return message, status
    pending = await session.scalar(
        select(func.count())
        .select_from(MessagePart)
        .where(
            MessagePart.message_id == part.message_id,
            MessagePart.status != MessageStatus.DELIVERED.value,
        )
    )
    return message, (MessageStatus.DELIVERED if pending == 0 else None)
