"""What connectors report back: delivery reports update messages, inbound texts are stored."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from recado.carriers.base import DeliveryReport, InboundSMS
from recado.db.tables import Message, utcnow
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
                message = await session.scalar(
                    select(Message).where(
                        Message.connector == report.connector,
                        Message.carrier_message_id == report.carrier_message_id,
                    )
                )
                if message is None:
                    continue
                now = report.at or utcnow()
                extra = {"delivered_at": now} if status is MessageStatus.DELIVERED else {}
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
