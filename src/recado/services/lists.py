"""Lists of contacts: create, rename, delete, and the members with their subscription status.

A contact belongs to a list at most once; its status on that list says whether the list's
campaigns may reach it. Deleting a list removes its member rows, never the contacts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from recado.db.pages import page_by_id
from recado.db.tables import Contact, ContactList, ListMember, Workspace, utcnow
from recado.domain.contact_fields import clean_text
from recado.domain.phone import parse_phone
from recado.domain.roles import Permission
from recado.errors import (
    Conflict,
    InvalidPhoneNumber,
    NotFound,
    RecipientOptedOut,
    ValidationFailed,
)
from recado.ids import new_id
from recado.services import consent
from recado.services.actor import Actor
from recado.services.consent import ConsentClaim
from recado.services.contacts import UNSET, Unset, check_cursor, looks_like_id, single_line
from recado.services.contacts_lookup import ensure_contact

MAX_MEMBERS_PER_REQUEST = 1000
MAX_DESCRIPTION = 2000


class MemberStatus(StrEnum):
    SUBSCRIBED = "subscribed"
    UNSUBSCRIBED = "unsubscribed"
    PENDING = "pending"  # waiting for a confirmation (double opt-in)
    OPTED_OUT = "opted_out"  # taken off by the person's STOP; their START puts it back


@dataclass(frozen=True)
class ListDetails:
    contact_list: ContactList
    counts: dict[str, int]  # members by status, and "total"


@dataclass(frozen=True)
class Member:
    membership: ListMember
    contact: Contact


@dataclass(frozen=True)
class Rejected:
    value: str
    reason: str


@dataclass
class MembersAdded:
    added: int = 0
    already_present: int = 0
    rejected: list[Rejected] = field(default_factory=list)


# --- lists -----------------------------------------------------------------------------------


async def create_list(
    session: AsyncSession, actor: Actor, *, name: str, description: str | None = None
) -> ListDetails:
    actor.require(Permission.MANAGE_AUDIENCE)
    contact_list = ContactList(
        id=new_id("lst"),
        workspace_id=actor.workspace_id,
        name=_name(name),
        description=_description(description),
        created_at=utcnow(),
    )
    await _check_name_free(session, actor, contact_list.name)
    session.add(contact_list)
    await _commit(session, contact_list.name)
    return ListDetails(contact_list, _counts({}))


async def get_list(session: AsyncSession, actor: Actor, list_id: str) -> ListDetails:
    actor.require(Permission.READ)
    contact_list = await _get(session, actor, list_id)
    return await _details(session, contact_list)


async def list_lists(
    session: AsyncSession, actor: Actor, *, limit: int = 50, cursor: str | None = None
) -> tuple[list[ListDetails], str | None]:
    """Newest first; `cursor` is the id of the last list of the previous page."""
    actor.require(Permission.READ)
    query = select(ContactList).where(ContactList.workspace_id == actor.workspace_id)
    rows, next_cursor = await page_by_id(
        session, query, ContactList.id, limit=limit, cursor=cursor and check_cursor(cursor)
    )
    counts = await _member_counts(session, actor.workspace_id, [r.id for r in rows])
    return [ListDetails(r, c) for r, c in zip(rows, counts, strict=True)], next_cursor


async def update_list(
    session: AsyncSession,
    actor: Actor,
    list_id: str,
    *,
    name: str | Unset = UNSET,
    description: str | None | Unset = UNSET,
) -> ListDetails:
    """Rename a list or change its description; a field left UNSET stays as it is."""
    actor.require(Permission.MANAGE_AUDIENCE)
    contact_list = await _get(session, actor, list_id)
    new_name = contact_list.name if name is UNSET else _name(name)
    new_description = (
        contact_list.description if description is UNSET else _description(description)
    )
    if new_name != contact_list.name:
        await _check_name_free(session, actor, new_name)
    contact_list.name = new_name
    contact_list.description = new_description
    await _commit(session, new_name)
    return await _details(session, contact_list)


async def delete_list(session: AsyncSession, actor: Actor, list_id: str) -> None:
    """Delete the list and its member rows; the contacts stay."""
    actor.require(Permission.MANAGE_AUDIENCE)
    contact_list = await _get(session, actor, list_id)
    await session.execute(
        delete(ContactList).where(
            ContactList.workspace_id == actor.workspace_id, ContactList.id == contact_list.id
        )
    )
    await session.commit()


# --- members ---------------------------------------------------------------------------------


async def add_members(
    session: AsyncSession,
    actor: Actor,
    list_id: str,
    *,
    contact_ids: Sequence[str] = (),
    phones: Sequence[str] = (),
    status: MemberStatus = MemberStatus.SUBSCRIBED,
    claim: ConsentClaim | None = None,
) -> MembersAdded:
    """Add contacts by id, and by number (creating contacts for new numbers).

    A contact already on the list keeps its status: adding someone who unsubscribed does not
    subscribe them again. Ids and numbers that cannot be used are reported, not fatal.
    With `claim`, each contact's opt-in to this list is recorded (and a number that opted
    out is refused); without it, members get no marketing until their consent is recorded.
    """
    actor.require(Permission.MANAGE_AUDIENCE)
    if not contact_ids and not phones:
        raise ValidationFailed("Send contact_ids, phones or both.", field="contact_ids")
    if len(contact_ids) + len(phones) > MAX_MEMBERS_PER_REQUEST:
        raise ValidationFailed(
            f"At most {MAX_MEMBERS_PER_REQUEST} contacts per request; "
            "split the rest, or import a CSV file.",
            field="contact_ids",
        )
    try:
        return await _add_members(session, actor, list_id, contact_ids, phones, status, claim)
    except IntegrityError:
        # A concurrent request added some of the same contacts first: count again.
        await session.rollback()
        return await _add_members(session, actor, list_id, contact_ids, phones, status, claim)


async def _add_members(
    session: AsyncSession,
    actor: Actor,
    list_id: str,
    contact_ids: Sequence[str],
    phones: Sequence[str],
    status: MemberStatus,
    claim: ConsentClaim | None,
) -> MembersAdded:
    if status == MemberStatus.OPTED_OUT:
        raise ValidationFailed(_OPTED_OUT_IS_THEIRS, field="status")
    contact_list = await _get(session, actor, list_id)
    result = MembersAdded()
    wanted: list[str] = []  # in request order; a contact named twice counts once as present

    usable = [i for i in contact_ids if looks_like_id(i)]
    known = set(
        await session.scalars(
            select(Contact.id).where(
                Contact.workspace_id == actor.workspace_id, Contact.id.in_(usable)
            )
        )
    )
    for contact_id in contact_ids:
        if contact_id in known:
            wanted.append(contact_id)
        else:
            result.rejected.append(
                Rejected(contact_id[:100], "No contact with this id in this workspace.")
            )

    workspace = await session.get(Workspace, actor.workspace_id)
    assert workspace is not None
    for raw in phones:
        try:
            number = parse_phone(raw, workspace.default_country)
        except InvalidPhoneNumber as exc:
            result.rejected.append(Rejected(raw[:100], exc.message))
            continue
        wanted.append((await ensure_contact(session, actor.workspace_id, number)).id)

    present = set(
        await session.scalars(
            select(ListMember.contact_id).where(
                ListMember.workspace_id == actor.workspace_id,
                ListMember.list_id == contact_list.id,
                ListMember.contact_id.in_(set(wanted)),
            )
        )
    )
    now = utcnow()
    if claim is not None:  # grant() adds the missing members as it records their consent
        wanted = await _record_consent(session, actor, contact_list.id, wanted, claim, result)
    for contact_id in wanted:
        if contact_id in present:
            result.already_present += 1
            continue
        present.add(contact_id)
        if claim is None:
            session.add(
                ListMember(
                    list_id=contact_list.id,
                    contact_id=contact_id,
                    workspace_id=actor.workspace_id,
                    status=status.value,
                    created_at=now,
                    updated_at=now,
                )
            )
        result.added += 1
    await session.commit()
    return result


async def remove_member(session: AsyncSession, actor: Actor, list_id: str, contact_id: str) -> None:
    """Take a contact off the list; the contact itself stays."""
    actor.require(Permission.MANAGE_AUDIENCE)
    member = await _get_member(session, actor, list_id, contact_id)
    await session.delete(member.membership)
    await session.commit()


async def set_member_status(
    session: AsyncSession, actor: Actor, list_id: str, contact_id: str, status: str
) -> Member:
    actor.require(Permission.MANAGE_AUDIENCE)
    new_status = parse_status(status)
    if new_status == MemberStatus.OPTED_OUT:
        raise ValidationFailed(_OPTED_OUT_IS_THEIRS, field="status")
    member = await _get_member(session, actor, list_id, contact_id)
    if new_status == MemberStatus.SUBSCRIBED:
        # Only the person lifts their own opt-out; nobody resubscribes them from outside.
        await consent.require_not_suppressed(session, actor.workspace_id, member.contact.phone)
    if member.membership.status != new_status.value:
        member.membership.status = new_status.value
        member.membership.updated_at = utcnow()
        await session.commit()
    return member


async def list_members(
    session: AsyncSession,
    actor: Actor,
    list_id: str,
    *,
    status: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[Member], str | None]:
    """Newest contacts first; `cursor` is the contact id of the last member of the previous page."""
    actor.require(Permission.READ)
    contact_list = await _get(session, actor, list_id)
    query = (
        select(ListMember, Contact)
        .join(Contact, Contact.id == ListMember.contact_id)
        .where(ListMember.workspace_id == actor.workspace_id, ListMember.list_id == contact_list.id)
    )
    if status is not None:
        query = query.where(ListMember.status == parse_status(status).value)
    if cursor:
        query = query.where(ListMember.contact_id < check_cursor(cursor))
    rows = list(
        await session.execute(query.order_by(ListMember.contact_id.desc()).limit(limit + 1))
    )
    next_cursor = rows[limit - 1][0].contact_id if len(rows) > limit else None
    return [Member(m, c) for m, c in rows[:limit]], next_cursor


_OPTED_OUT_IS_THEIRS = (
    "opted_out is set by the person's STOP; to record an opt-out you received another way, "
    "POST /v1/contacts/{id}/opt-out."
)


async def _record_consent(
    session: AsyncSession,
    actor: Actor,
    list_id: str,
    wanted: list[str],
    claim: ConsentClaim,
    result: MembersAdded,
) -> list[str]:
    """Record each contact's opt-in to the list; suppressed numbers are rejected instead."""
    claim = ConsentClaim(
        source=claim.source,
        consent_text=claim.consent_text,
        list_id=list_id,
        ip=claim.ip,
        user_agent=claim.user_agent,
    ).checked()
    contacts = {
        c.id: c
        for c in await session.scalars(
            select(Contact).where(
                Contact.workspace_id == actor.workspace_id, Contact.id.in_(set(wanted))
            )
        )
    }
    granted: list[str] = []
    for contact_id in dict.fromkeys(wanted):
        contact = contacts[contact_id]
        try:
            await consent.grant(session, contact, claim, by=actor.label)
        except RecipientOptedOut as exc:
            result.rejected.append(Rejected(contact.phone, exc.message))
            continue
        granted.append(contact_id)
    return granted


def parse_status(value: str) -> MemberStatus:
    try:
        return MemberStatus(value)
    except ValueError:
        choices = ", ".join(s.value for s in MemberStatus)
        raise ValidationFailed(
            f"'{value[:40]}' is not a member status: use one of {choices}.", field="status"
        ) from None


# --- helpers ---------------------------------------------------------------------------------


async def _get(session: AsyncSession, actor: Actor, list_id: str) -> ContactList:
    contact_list = None
    if looks_like_id(list_id):
        contact_list = await session.scalar(
            select(ContactList).where(
                ContactList.workspace_id == actor.workspace_id, ContactList.id == list_id
            )
        )
    if contact_list is None:
        raise NotFound(f"No list with id {list_id[:40]} in this workspace.")
    return contact_list


async def _get_member(session: AsyncSession, actor: Actor, list_id: str, contact_id: str) -> Member:
    contact_list = await _get(session, actor, list_id)
    row = None
    if looks_like_id(contact_id):
        row = (
            await session.execute(
                select(ListMember, Contact)
                .join(Contact, Contact.id == ListMember.contact_id)
                .where(
                    ListMember.workspace_id == actor.workspace_id,
                    ListMember.list_id == contact_list.id,
                    ListMember.contact_id == contact_id,
                )
            )
        ).first()
    if row is None:
        raise NotFound(f"The contact {contact_id[:40]} is not a member of this list.")
    return Member(row[0], row[1])


async def _details(session: AsyncSession, contact_list: ContactList) -> ListDetails:
    counts = await _member_counts(session, contact_list.workspace_id, [contact_list.id])
    return ListDetails(contact_list, counts[0])


async def _member_counts(
    session: AsyncSession, workspace_id: str, list_ids: list[str]
) -> list[dict[str, int]]:
    """Members by status for each list, in the order of `list_ids`, in one query."""
    found: dict[str, dict[str, int]] = {i: {} for i in list_ids}
    if list_ids:
        rows = await session.execute(
            select(ListMember.list_id, ListMember.status, func.count())
            .where(ListMember.workspace_id == workspace_id, ListMember.list_id.in_(list_ids))
            .group_by(ListMember.list_id, ListMember.status)
        )
        for list_id, status, count in rows:
            found[list_id][status] = count
    return [_counts(found[i]) for i in list_ids]


def _counts(by_status: dict[str, int]) -> dict[str, int]:
    counts = {s.value: by_status.get(s.value, 0) for s in MemberStatus}
    return {**counts, "total": sum(by_status.values())}


def _name(name: str) -> str:
    text = clean_text(single_line(name, "name", None), "name")
    if text is None:
        raise ValidationFailed("A list needs a name.", field="name")
    return text


def _description(description: str | None) -> str | None:
    if description is not None and "\x00" in description:
        raise ValidationFailed("description contains a NUL character.", field="description")
    return clean_text(description, "description", MAX_DESCRIPTION)


async def _check_name_free(session: AsyncSession, actor: Actor, name: str) -> None:
    existing = await session.scalar(
        select(ContactList.id).where(
            ContactList.workspace_id == actor.workspace_id, ContactList.name == name
        )
    )
    if existing is not None:
        raise _duplicate(name, existing)


async def _commit(session: AsyncSession, name: str) -> None:
    """Commit; a unique violation here is a concurrent list with the same name."""
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise Conflict(f"A list named '{name}' already exists.", field="name") from None


def _duplicate(name: str, list_id: str) -> Conflict:
    return Conflict(
        f"A list named '{name}' already exists ({list_id}); choose another name.", field="name"
    )
