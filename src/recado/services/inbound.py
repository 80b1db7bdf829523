"""Inbound texts: store every one as a `received` message on its contact.

Classification (opt-out keywords, workspace keywords, surveys, the inbox) plugs in after the
message is stored, so nothing a person sent is ever lost to a bug in a later stage.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from recado.carriers.base import InboundSMS
from recado.db.tables import Message, MessageEvent, Sender, Workspace, utcnow
from recado.domain.encoding import analyze
from recado.domain.message_status import MessageStatus
from recado.domain.phone import parse_phone
from recado.errors import InvalidPhoneNumber
from recado.ids import new_id
from recado.services.contacts_lookup import ensure_contact


async def receive(session: AsyncSession, sms: InboundSMS) -> Message | None:
    """Store the text on the workspace that owns the number it was sent to."""
    workspace_id = await session.scalar(
        select(Sender.workspace_id).where(Sender.address == sms.recipient).limit(1)
    )
    if workspace_id is None:
        return None
    workspace = await session.get(Workspace, workspace_id)
    assert workspace is not None
    try:
        phone = parse_phone(sms.sender, workspace.default_country)
    except InvalidPhoneNumber:
        phone = None
    contact = await ensure_contact(session, workspace_id, phone) if phone else None
    now = utcnow()
    report = analyze(sms.body)
    message = Message(
        id=new_id("msg"),
        workspace_id=workspace_id,
        contact_id=contact.id if contact else None,
        direction="inbound",
        sender=phone.e164 if phone else sms.sender,
        recipient=sms.recipient,
        body=sms.body,
        media_urls=list(sms.media_urls),
        category="transactional",
        status=MessageStatus.RECEIVED.value,
        # The carrier's id makes a redelivered webhook or deliver_sm a no-op.
        idempotency_key=f"in:{sms.connector}:{sms.carrier_message_id}",
        connector=sms.connector,
        carrier_message_id=sms.carrier_message_id,
        encoding=report.encoding,
        segments=report.segments,
        created_at=now,
        updated_at=now,
    )
    session.add(message)
    session.add(
        MessageEvent(
            message_id=message.id,
            workspace_id=workspace_id,
            status=MessageStatus.RECEIVED.value,
            detail=f"received via {sms.connector}",
            created_at=now,
        )
    )
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        return None
    return message
