"""What connectors report back: delivery reports update messages, inbound texts are stored."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from recado.carriers.base import DeliveryReport, InboundSMS
from recado.db.tables import Message, MessagePart, utcnow
from recado.delivery.status import transition
from recado.domain.message_status import MessageStatus
from recado.services import inbound

log = logging.getLogger(__name__)
_REPORT_STATUS = {
    "delivered": MessageStatus.DELIVERED,
    "undelivered": MessageStatus.UNDELIVERED,
    "failed": MessageStatus.FAILED,
}
# A report can overtake the commit that stores the carrier id; look again a few times.
_LOOKUP_RETRIES = (0.05, 0.2, 0.5, 1.0, 2.0)


class CarrierEventHandler:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        on_inbound: Callable[[], None] | None = None,
    ) -> None:
        self.sessions = sessions
        self.on_inbound = on_inbound

    async def delivery_report(self, report: DeliveryReport) -> None:
        status = _REPORT_STATUS.get(report.status)
        if status is None:
            log.warning("ignored delivery report with unknown status %r", report.status)
            return
        for pause in (0.0, *_LOOKUP_RETRIES):
            await asyncio.sleep(pause)
            async with self.sessions() as session:
                message, status = await _resolve(session, report, status)
                if message is None:
                    continue
                if status is None:
                    await session.commit()  # a part report that settles nothing yet
                    return
                now = report.at or utcnow()
                extra: dict[str, object] = (
                    {"delivered_at": now} if status is MessageStatus.DELIVERED else {}
                )
                if report.error_code:
                    extra |= {
                        "error_code": report.error_code,
                        "error_message": report.error_message,
                    }
                detail = f"delivery report: {report.status}"
                if report.error_code:
                    detail += f" ({report.error_code}: {report.error_message})"
                await transition(session, message, status, at=now, detail=detail, **extra)
                await session.commit()
                return
        log.warning("delivery report for unknown message %s", report.carrier_message_id)

    async def inbound(self, sms: InboundSMS) -> None:
        async with self.sessions() as session:
            await inbound.receive(session, sms)
        if self.on_inbound:
            self.on_inbound()


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
