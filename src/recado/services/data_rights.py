"""A person's data rights (GDPR, LGPD): a copy of everything held about them, and erasure.

Erasure removes the person, not the evidence: the contact row, its tags, lists and links go;
its messages stay for the workspace's counts but lose their text and number; its consent
records stay without personal data; and a keyed hash of the number stays on the
suppression list, so the number is never texted again by mistake, even if re-imported.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from recado.db.tables import (
    AuditEntry,
    Click,
    Consent,
    Contact,
    Link,
    Message,
    MessageEvent,
    OptInRequest,
    utcnow,
)
from recado.domain.roles import Permission
from recado.errors import NotFound
from recado.services import consent
from recado.services.actor import Actor
from recado.services.contacts import contact_details

ERASED = "[erased]"


async def export_contact(session: AsyncSession, actor: Actor, contact_id: str) -> dict[str, Any]:
    """Everything Recado holds about one contact, as JSON-ready values. Audited."""
    actor.require(Permission.MANAGE_AUDIENCE)
    contact = await _contact(session, actor, contact_id)
    details = (await contact_details(session, actor.workspace_id, [contact]))[0]
    messages = list(
        await session.scalars(
            select(Message)
            .where(Message.workspace_id == actor.workspace_id, Message.contact_id == contact.id)
            .order_by(Message.id)
        )
    )
    events: dict[str, list[dict[str, Any]]] = {m.id: [] for m in messages}
    if messages:
        for event in await session.scalars(
            select(MessageEvent)
            .where(
                MessageEvent.workspace_id == actor.workspace_id,
                MessageEvent.message_id.in_([m.id for m in messages]),
            )
            .order_by(MessageEvent.id)
        ):
            events[event.message_id].append(
                {"status": event.status, "detail": event.detail, "at": _iso(event.created_at)}
            )
    clicks = await session.scalars(
        select(Click)
        .where(Click.workspace_id == actor.workspace_id, Click.contact_id == contact.id)
        .order_by(Click.id)
    )
    audit_rows = await session.scalars(
        select(AuditEntry)
        .where(AuditEntry.workspace_id == actor.workspace_id, AuditEntry.contact_id == contact.id)
        .order_by(AuditEntry.id)
    )
    now = utcnow()
    result = {
        "exported_at": _iso(now),
        "contact": {
            "id": contact.id,
            "phone": contact.phone,
            "first_name": contact.first_name,
            "last_name": contact.last_name,
            "email": contact.email,
            "language": contact.language,
            "timezone": contact.timezone,
            "region": contact.region,
            "external_id": contact.external_id,
            "attributes": contact.attributes or {},
            "tags": details.tags,
            "consented_at": _iso(contact.consented_at),
            "opted_out_at": _iso(contact.opted_out_at),
            "created_at": _iso(contact.created_at),
            "updated_at": _iso(contact.updated_at),
        },
        "lists": [
            {"id": m.list_id, "name": m.list_name, "status": m.status, "added_at": _iso(m.added_at)}
            for m in details.lists
        ],
        "consents": [consent_json(c) for c in await consent.history(session, contact)],
        "messages": [
            {
                "id": m.id,
                "direction": m.direction,
                "from": m.sender,
                "to": m.recipient,
                "body": m.body,
                "category": m.category,
                "status": m.status,
                "created_at": _iso(m.created_at),
                "events": events[m.id],
            }
            for m in messages
        ],
        "clicks": [
            {"link": c.link_code, "message_id": c.message_id, "at": _iso(c.at)} for c in clicks
        ],
        "audit_log": [
            {"actor": a.actor, "action": a.action, "detail": a.detail, "at": _iso(a.created_at)}
            for a in audit_rows
        ],
    }
    consent.audit(session, actor.workspace_id, actor.label, "contact.exported", contact.id, {}, now)
    await session.commit()
    return result


async def erase_contact(session: AsyncSession, actor: Actor, contact_id: str) -> None:
    """Remove the person's data, keep their number suppressed (as a keyed hash). Audited."""
    actor.require(Permission.MANAGE_AUDIENCE)
    # Locked first, as the dispatcher does, so the two never wait on each other in a circle.
    contact = await consent.locked_contact(session, actor.workspace_id, contact_id)
    now = utcnow()
    workspace_id = actor.workspace_id
    await consent.suppress_erased(session, workspace_id, contact.phone, now)
    messages = select(Message.id).where(
        Message.workspace_id == workspace_id, Message.contact_id == contact.id
    )
    # Texts still waiting to go are canceled first: an erased person gets nothing more.
    await session.execute(
        update(Message)
        .where(
            Message.workspace_id == workspace_id,
            Message.contact_id == contact.id,
            Message.status.in_(("accepted", "scheduled", "queued")),
        )
        .values(status="canceled", error_code="erased", error_message="the contact was erased")
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(MessageEvent)
        .where(MessageEvent.workspace_id == workspace_id, MessageEvent.message_id.in_(messages))
        .values(detail=None)
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(Message)
        .where(Message.workspace_id == workspace_id, Message.contact_id == contact.id)
        .values(body=ERASED, recipient=ERASED, media_urls=[], status_callback=None)
        .execution_options(synchronize_session=False)
    )
    # Inbound texts carry the number as their sender.
    await session.execute(
        update(Message)
        .where(
            Message.workspace_id == workspace_id,
            Message.contact_id == contact.id,
            Message.direction == "inbound",
        )
        .values(sender=ERASED)
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(Consent)
        .where(Consent.workspace_id == workspace_id, Consent.contact_id == contact.id)
        .values(ip=None, user_agent=None)
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(Click)
        .where(Click.workspace_id == workspace_id, Click.contact_id == contact.id)
        .values(user_agent=None)
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(Link)
        .where(Link.workspace_id == workspace_id, Link.contact_id == contact.id)
        .values(contact_id=None)
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        delete(OptInRequest).where(
            OptInRequest.workspace_id == workspace_id, OptInRequest.contact_id == contact.id
        )
    )
    await session.execute(
        update(AuditEntry)
        .where(AuditEntry.workspace_id == workspace_id, AuditEntry.contact_id == contact.id)
        .values(detail={})
        .execution_options(synchronize_session=False)
    )
    consent.audit(session, workspace_id, actor.label, "contact.erased", contact.id, {}, now)
    await session.execute(
        delete(Contact).where(Contact.workspace_id == workspace_id, Contact.id == contact.id)
    )
    await session.commit()


def consent_json(record: Consent) -> dict[str, Any]:
    return {
        "id": record.id,
        "action": record.action,
        "list_id": record.list_id,
        "source": record.source,
        "consent_text": record.consent_text,
        "ip": record.ip,
        "user_agent": record.user_agent,
        "recorded_by": record.recorded_by,
        "at": _iso(record.created_at),
    }


async def _contact(session: AsyncSession, actor: Actor, contact_id: str) -> Contact:
    contact = await session.scalar(
        select(Contact).where(Contact.workspace_id == actor.workspace_id, Contact.id == contact_id)
    )
    if contact is None:
        raise NotFound(f"No contact with id {contact_id} in this workspace.")
    return contact


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
