"""The last question before submit: may this message go out now?

The dispatcher asks it for every message, right before the carrier call, because an opt-out
or a quiet-hours boundary may have arrived since the message was accepted. Compliance rules
plug in here; until they exist every message may go.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from recado.db.tables import Message


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: str | None = None  # why not, in words the message timeline shows
    retry_at: datetime | None = None  # set when the answer is "not yet" rather than "never"


ALLOW = Verdict(True)


async def may_send_now(session: AsyncSession, message: Message, now: datetime) -> Verdict:
    return ALLOW
