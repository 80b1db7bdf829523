"""What people do with consent by hand (API, UI): record an opt-in, opt someone out, look up
a number's suppression, read the audit log."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from recado.db.pages import page_by_id
from recado.db.tables import AuditEntry, Consent, Contact, Workspace
from recado.domain.phone import parse_phone
from recado.domain.roles import Permission
from recado.errors import ValidationFailed
from recado.services import consent
from recado.services.actor import Actor
from recado.services.consent import ConsentClaim


@dataclass(frozen=True)
class ConsentState:
    contact: Contact
    suppressed: bool
    history: list[Consent]


async def consent_state(session: AsyncSession, actor: Actor, contact_id: str) -> ConsentState:
    actor.require(Permission.READ)
    contact = await consent.locked_contact(session, actor.workspace_id, contact_id)
    return await _state(session, contact)


async def record_consent(
    session: AsyncSession, actor: Actor, contact_id: str, claim: ConsentClaim
) -> ConsentState:
    actor.require(Permission.MANAGE_AUDIENCE)
    contact = await consent.locked_contact(session, actor.workspace_id, contact_id)
    await consent.grant(session, contact, claim, by=actor.label)
    await session.commit()
    return await _state(session, contact)


async def opt_out(session: AsyncSession, actor: Actor, contact_id: str) -> ConsentState:
    actor.require(Permission.SEND)  # an agent who hears "stop texting me" on the phone may
    contact = await consent.locked_contact(session, actor.workspace_id, contact_id)
    await consent.opt_out(
        session, contact, source="ui", by=actor.label, detail={"how": "recorded by hand"}
    )
    await session.commit()
    return await _state(session, contact)


async def suppression(session: AsyncSession, actor: Actor, phone: str) -> tuple[str, str | None]:
    actor.require(Permission.READ)
    workspace = await session.get(Workspace, actor.workspace_id)
    assert workspace is not None
    e164 = parse_phone(phone, workspace.default_country).e164
    return e164, await consent.suppression_of(session, actor.workspace_id, e164)


async def audit_log(
    session: AsyncSession,
    actor: Actor,
    *,
    contact_id: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[AuditEntry], str | None]:
    actor.require(Permission.MANAGE_AUDIENCE)
    query = select(AuditEntry).where(AuditEntry.workspace_id == actor.workspace_id)
    if contact_id:
        query = query.where(AuditEntry.contact_id == contact_id)
    after: int | None = None
    if cursor:
        if not cursor.isdigit():
            raise ValidationFailed(
                "cursor is the next_cursor of the previous page.", field="cursor"
            )
        after = int(cursor)
    rows, next_id = await page_by_id(
        session,
        query,
        AuditEntry.id,
        limit=limit,
        cursor=after,  # type: ignore[arg-type]
    )
    return rows, str(next_id) if next_id is not None else None


async def _state(session: AsyncSession, contact: Contact) -> ConsentState:
    reason = await consent.suppression_of(session, contact.workspace_id, contact.phone)
    return ConsentState(contact, reason is not None, await consent.history(session, contact))
