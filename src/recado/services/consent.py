"""Consent, opt-outs and the suppression list: who may get marketing texts, and who nothing.

The rules, in one place:
- A contact may get marketing texts while it has consent in force (`consented_at`) and its
  number is not on the suppression list. Transactional texts need no consent, but a
  suppressed number gets nothing except compliance replies (the STOP confirmation, HELP).
- Consent records are append-only; granting or revoking adds a row and an audit entry.
- An opt-out (STOP) suppresses the number, revokes consent and takes the contact off its
  lists, all in the caller's transaction: the one that stores the reply.
- Only the person can lift an opt-out (START, a double opt-in YES, a signup form); an
  import or an API call that claims consent for an opted-out number is refused.

Every function works in the caller's session and leaves the commit to it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from recado.db.tables import (
    AuditEntry,
    Consent,
    Contact,
    ContactList,
    ListMember,
    Suppression,
    Workspace,
    utcnow,
)
from recado.errors import NotFound, RecipientOptedOut, ValidationFailed

SOURCES = frozenset({"signup_form", "keyword", "import", "api", "double_opt_in", "ui"})
MAX_CONSENT_TEXT = 2000


class SuppressionReason(StrEnum):
    OPT_OUT = "opt_out"
    ERASED = "erased"


@dataclass(frozen=True)
class ConsentClaim:
    """What a caller declares when it records someone's opt-in."""

    source: str
    consent_text: str | None = None
    list_id: str | None = None
    ip: str | None = None
    user_agent: str | None = None

    def checked(self) -> ConsentClaim:
        if self.source not in SOURCES:
            choices = ", ".join(sorted(SOURCES))
            raise ValidationFailed(
                f"'{self.source}' is not a consent source: use one of {choices}.",
                field="consent.source",
            )
        if self.consent_text is not None and len(self.consent_text) > MAX_CONSENT_TEXT:
            raise ValidationFailed(
                f"The consent text has more than {MAX_CONSENT_TEXT} characters.",
                field="consent.consent_text",
            )
        return self


def phone_hash(key: str, e164: str) -> str:
    """A keyed hash of the number: matches a re-imported number, reveals nothing without the key."""
    return hmac.new(key.encode(), e164.encode(), hashlib.sha256).hexdigest()


async def hashing_key(session: AsyncSession, workspace_id: str) -> str:
    """The workspace's suppression key, made on first use and never changed afterwards."""
    workspace = await session.get(Workspace, workspace_id)
    if workspace is None:
        raise NotFound(f"No workspace {workspace_id}.")
    key = (workspace.settings or {}).get("suppression_key")
    if key:
        return str(key)
    key = "sup_" + secrets.token_urlsafe(32)
    workspace.settings = {**(workspace.settings or {}), "suppression_key": key}
    await session.flush()
    return key


async def suppression_of(session: AsyncSession, workspace_id: str, e164: str) -> str | None:
    """Why this number is suppressed (`opt_out`, `erased`), or None when it is not."""
    key = await hashing_key(session, workspace_id)
    return await session.scalar(
        select(Suppression.reason).where(
            Suppression.workspace_id == workspace_id,
            Suppression.phone_hash == phone_hash(key, e164),
        )
    )


async def require_not_suppressed(session: AsyncSession, workspace_id: str, e164: str) -> None:
    reason = await suppression_of(session, workspace_id, e164)
    if reason is not None:
        raise RecipientOptedOut(suppressed_message(e164, reason), field="to")


def suppressed_message(e164: str, reason: str) -> str:
    if reason == SuppressionReason.ERASED:
        return (
            f"{e164} belongs to a contact whose data was erased; it gets no texts unless the "
            "person subscribes again themselves."
        )
    return (
        f"{e164} opted out (replied STOP or equivalent) and gets no texts until it replies START."
    )


async def grant(
    session: AsyncSession,
    contact: Contact,
    claim: ConsentClaim,
    *,
    by: str,
    now: datetime | None = None,
    by_the_person: bool = False,
) -> Consent:
    """Record an opt-in for the program or one list, and put it in force on the contact.

    `by_the_person` is for the person's own act as Recado saw it (their START, their YES to
    a double opt-in, their signup form): only that lifts an opt-out or puts them back on a
    list they left. A caller's claim, whatever source it names, never does.
    """
    claim = claim.checked()
    now = now or utcnow()
    key = await hashing_key(session, contact.workspace_id)
    digest = phone_hash(key, contact.phone)
    suppressed = await session.get(Suppression, (contact.workspace_id, digest))
    if suppressed is not None:
        if not by_the_person:
            raise RecipientOptedOut(suppressed_message(contact.phone, suppressed.reason))
        await session.delete(suppressed)
        contact.opted_out_at = None
    if claim.list_id is not None:
        await _require_list(session, contact.workspace_id, claim.list_id)
    record = Consent(
        workspace_id=contact.workspace_id,
        contact_id=contact.id,
        phone_hash=digest,
        list_id=claim.list_id,
        action="granted",
        source=claim.source,
        consent_text=claim.consent_text,
        ip=claim.ip,
        user_agent=claim.user_agent,
        recorded_by=by,
        created_at=now,
    )
    session.add(record)
    if contact.consented_at is None:
        contact.consented_at = now
    if claim.list_id is not None:
        await _subscribe(session, contact, claim.list_id, now, personal=by_the_person)
    audit(
        session,
        contact.workspace_id,
        by,
        "consent.granted",
        contact.id,
        {"source": claim.source, "list_id": claim.list_id},
        now,
    )
    await session.flush()
    return record


async def opt_out(
    session: AsyncSession,
    contact: Contact,
    *,
    source: str,
    by: str,
    detail: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> bool:
    """Suppress the number, revoke consent, take it off every list. False if already out."""
    now = now or utcnow()
    key = await hashing_key(session, contact.workspace_id)
    digest = phone_hash(key, contact.phone)
    if await session.get(Suppression, (contact.workspace_id, digest)) is not None:
        return False
    session.add(
        Suppression(
            workspace_id=contact.workspace_id,
            phone_hash=digest,
            reason=SuppressionReason.OPT_OUT.value,
            created_at=now,
        )
    )
    session.add(
        Consent(
            workspace_id=contact.workspace_id,
            contact_id=contact.id,
            phone_hash=digest,
            action="revoked",
            source=source,
            recorded_by=by,
            created_at=now,
        )
    )
    contact.opted_out_at = now
    contact.consented_at = None
    # "opted_out", not "unsubscribed": START puts back exactly the lists STOP took away.
    await session.execute(
        update(ListMember)
        .where(ListMember.contact_id == contact.id, ListMember.status == "subscribed")
        .values(status="opted_out", updated_at=now)
        .execution_options(synchronize_session=False)
    )
    audit(session, contact.workspace_id, by, "contact.opted_out", contact.id, detail or {}, now)
    await session.flush()
    return True


async def opt_in(
    session: AsyncSession, contact: Contact, *, source: str, by: str, now: datetime | None = None
) -> bool:
    """START: lift the person's own opt-out and restore the lists it took. False if not out."""
    now = now or utcnow()
    key = await hashing_key(session, contact.workspace_id)
    suppressed = await session.get(
        Suppression, (contact.workspace_id, phone_hash(key, contact.phone))
    )
    if suppressed is None or suppressed.reason != SuppressionReason.OPT_OUT:
        return False
    await grant(
        session,
        contact,
        ConsentClaim(source=source, consent_text="Replied START to resubscribe."),
        by=by,
        now=now,
        by_the_person=True,
    )
    await session.execute(
        update(ListMember)
        .where(ListMember.contact_id == contact.id, ListMember.status == "opted_out")
        .values(status="subscribed", updated_at=now)
        .execution_options(synchronize_session=False)
    )
    audit(session, contact.workspace_id, by, "contact.opted_in", contact.id, {}, now)
    await session.flush()
    return True


async def suppress_erased(
    session: AsyncSession, workspace_id: str, e164: str, now: datetime
) -> str:
    """Keep an erased contact's number on the suppression list; returns its hash."""
    key = await hashing_key(session, workspace_id)
    digest = phone_hash(key, e164)
    existing = await session.get(Suppression, (workspace_id, digest))
    if existing is None:
        session.add(
            Suppression(
                workspace_id=workspace_id,
                phone_hash=digest,
                reason=SuppressionReason.ERASED.value,
                created_at=now,
            )
        )
    else:
        existing.reason = SuppressionReason.ERASED.value
    return digest


async def history(session: AsyncSession, contact: Contact) -> list[Consent]:
    rows = await session.scalars(
        select(Consent)
        .where(Consent.workspace_id == contact.workspace_id, Consent.contact_id == contact.id)
        .order_by(Consent.id)
    )
    return list(rows)


def audit(
    session: AsyncSession,
    workspace_id: str,
    actor: str,
    action: str,
    contact_id: str | None,
    detail: dict[str, Any],
    now: datetime | None = None,
) -> None:
    session.add(
        AuditEntry(
            workspace_id=workspace_id,
            actor=actor,
            action=action,
            contact_id=contact_id,
            detail=detail,
            created_at=now or utcnow(),
        )
    )


async def locked_contact(session: AsyncSession, workspace_id: str, contact_id: str) -> Contact:
    """The contact, row-locked on PostgreSQL: opt-outs and the send path take turns on it."""
    query = select(Contact).where(Contact.workspace_id == workspace_id, Contact.id == contact_id)
    if _postgresql(session):
        query = query.with_for_update()
    contact = await session.scalar(query.execution_options(populate_existing=True))
    if contact is None:
        raise NotFound(f"No contact with id {contact_id} in this workspace.")
    return contact


async def _require_list(session: AsyncSession, workspace_id: str, list_id: str) -> None:
    found = await session.scalar(
        select(ContactList.id).where(
            ContactList.workspace_id == workspace_id, ContactList.id == list_id
        )
    )
    if found is None:
        raise NotFound(f"No list with id {list_id} in this workspace.", field="consent.list_id")


async def _subscribe(
    session: AsyncSession, contact: Contact, list_id: str, now: datetime, *, personal: bool
) -> None:
    """Make the contact a subscribed member. Someone who left the list is put back only by
    their own act (a form, a keyword, a YES), never by an import or an API call."""
    member = await session.get(ListMember, (list_id, contact.id))
    if member is None:
        session.add(
            ListMember(
                list_id=list_id,
                contact_id=contact.id,
                workspace_id=contact.workspace_id,
                status="subscribed",
                created_at=now,
                updated_at=now,
            )
        )
    elif member.status != "subscribed" and (personal or member.status == "pending"):
        member.status = "subscribed"
        member.updated_at = now


def _postgresql(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"
