"""Contacts: create, read, update, upsert by phone, delete, and list with filters.

One contact per number per workspace. Numbers are stored in E.164; the region, and the time
zone when the number keeps a single clock, come from the number unless someone set a zone.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from enum import Enum
from typing import Any, Final, Literal

from sqlalchemy import ColumnElement, Select, String, case, cast, delete, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from recado.db.pages import page_by_id
from recado.db.tables import Contact, ContactList, ContactTag, ListMember, Workspace, utcnow
from recado.domain.contact_fields import (
    clean_attributes,
    clean_email,
    clean_language,
    clean_tags,
    clean_text,
    clean_timezone,
)
from recado.domain.phone import PhoneNumber, parse_phone
from recado.domain.roles import Permission
from recado.errors import Conflict, InvalidPhoneNumber, NotFound, ValidationFailed
from recado.ids import new_id
from recado.services.actor import Actor


class _Unset(Enum):
    UNSET = "unset"


UNSET: Final = _Unset.UNSET
"""A field the caller did not send: PATCH leaves it as it is."""

Unset = Literal[_Unset.UNSET]

MAX_ATTRIBUTE_TEXT = 1000
MAX_SAFE_INTEGER = 2**53  # beyond this, JavaScript clients would read another number
_ID = re.compile(r"^[a-z]{1,8}_[0-9a-z]{26}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class ContactChanges:
    """Fields to set on a contact. A field left UNSET is not touched; None clears it.

    `attributes` merges into the existing ones: a key set to None is removed.
    `timezone` set to a zone pins it; set to None it goes back to the zone of the number.
    """

    phone: str | None | Unset = UNSET
    first_name: str | None | Unset = UNSET
    last_name: str | None | Unset = UNSET
    email: str | None | Unset = UNSET
    language: str | None | Unset = UNSET
    timezone: str | None | Unset = UNSET
    external_id: str | None | Unset = UNSET
    tags: list[str] | None | Unset = UNSET
    attributes: Mapping[str, Any] | Unset = UNSET


@dataclass(frozen=True)
class Membership:
    list_id: str
    list_name: str
    status: str
    added_at: datetime


@dataclass(frozen=True)
class ContactDetails:
    """A contact with what lives in other tables: its tags and its lists."""

    contact: Contact
    tags: list[str] = field(default_factory=list)
    lists: list[Membership] = field(default_factory=list)


@dataclass(frozen=True)
class ContactFilter:
    """The filters of GET /v1/contacts as the caller wrote them; `_filtered` checks each one."""

    list_id: str | None = None
    tags: tuple[str, ...] = ()  # a contact must have every tag
    attributes: tuple[str, ...] = ()  # "key:value", each must match
    created_after: str | None = None
    created_before: str | None = None
    phone: str | None = None
    external_id: str | None = None
    q: str | None = None


# --- writing ---------------------------------------------------------------------------------


async def create_contact(
    session: AsyncSession, actor: Actor, changes: ContactChanges
) -> ContactDetails:
    """Create a contact; a number the workspace already has is a Conflict naming that contact."""
    actor.require(Permission.MANAGE_AUDIENCE)
    if changes.phone is UNSET or changes.phone is None:
        raise ValidationFailed("A phone number is required.", field="phone")
    number = await _parse_phone(session, actor, changes.phone, "phone")
    existing = await _id_by_phone(session, actor.workspace_id, number.e164)
    if existing is not None:
        raise _duplicate(number.e164, existing)
    contact = await _insert(session, actor, number, changes)
    return (await contact_details(session, actor.workspace_id, [contact]))[0]


async def update_contact(
    session: AsyncSession, actor: Actor, contact_id: str, changes: ContactChanges
) -> ContactDetails:
    """Change the fields given; the others stay as they are."""
    actor.require(Permission.MANAGE_AUDIENCE)
    contact = await _get(session, actor, contact_id)
    number = None
    if changes.phone is not UNSET:
        if changes.phone is None:
            raise ValidationFailed(
                "A contact always has a phone number; send a new one or delete the contact.",
                field="phone",
            )
        number = await _parse_phone(session, actor, changes.phone, "phone")
        if number.e164 != contact.phone:
            other = await _id_by_phone(session, actor.workspace_id, number.e164)
            if other is not None:
                raise _duplicate(number.e164, other)
    tags = _apply(contact, changes, number)
    contact.updated_at = utcnow()  # also when only tags changed, which the row does not see
    if tags is not None:
        await _replace_tags(session, contact, tags)
    await _commit(session, contact)
    return (await contact_details(session, actor.workspace_id, [contact]))[0]


async def upsert_contact(
    session: AsyncSession, actor: Actor, phone: str, changes: ContactChanges
) -> tuple[ContactDetails, bool]:
    """Create the contact with this number, or update the one that has it. True when created."""
    actor.require(Permission.MANAGE_AUDIENCE)
    if changes.phone is not UNSET:
        raise ValidationFailed(
            "The number is in the path; leave phone out of the body.", field="phone"
        )
    number = await _parse_phone(session, actor, phone, "phone")
    existing = await _id_by_phone(session, actor.workspace_id, number.e164)
    if existing is None:
        try:
            contact = await _insert(session, actor, number, changes)
        except Conflict:
            # Another request created it a moment ago: update that one instead.
            existing = await _id_by_phone(session, actor.workspace_id, number.e164)
            if existing is None:
                raise
        else:
            return (await contact_details(session, actor.workspace_id, [contact]))[0], True
    return await update_contact(session, actor, existing, changes), False


async def delete_contact(session: AsyncSession, actor: Actor, contact_id: str) -> None:
    """Delete the contact; its tags and list memberships go with it, its messages stay."""
    actor.require(Permission.MANAGE_AUDIENCE)
    contact = await _get(session, actor, contact_id)
    await session.execute(
        delete(Contact).where(Contact.workspace_id == actor.workspace_id, Contact.id == contact.id)
    )
    await session.commit()


# --- reading ---------------------------------------------------------------------------------


async def get_contact(session: AsyncSession, actor: Actor, contact_id: str) -> ContactDetails:
    actor.require(Permission.READ)
    contact = await _get(session, actor, contact_id)
    return (await contact_details(session, actor.workspace_id, [contact]))[0]


async def list_contacts(
    session: AsyncSession,
    actor: Actor,
    filters: ContactFilter,
    *,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[ContactDetails], str | None]:
    """Newest first; `cursor` is the id of the last contact of the previous page."""
    actor.require(Permission.READ)
    query = await _filtered(session, actor, filters)
    rows, next_cursor = await page_by_id(
        session, query, Contact.id, limit=limit, cursor=cursor and check_cursor(cursor)
    )
    return await contact_details(session, actor.workspace_id, rows), next_cursor


async def contact_details(
    session: AsyncSession, workspace_id: str, contacts: list[Contact]
) -> list[ContactDetails]:
    """Tags and lists of many contacts in two queries, whatever their number."""
    ids = [c.id for c in contacts]
    if not ids:
        return []
    tags: dict[str, list[str]] = {i: [] for i in ids}
    tag_rows = await session.execute(
        select(ContactTag.contact_id, ContactTag.tag)
        .where(ContactTag.workspace_id == workspace_id, ContactTag.contact_id.in_(ids))
        .order_by(ContactTag.tag)
    )
    for contact_id, tag in tag_rows:
        tags[contact_id].append(tag)
    lists: dict[str, list[Membership]] = {i: [] for i in ids}
    list_rows = await session.execute(
        select(
            ListMember.contact_id,
            ContactList.id,
            ContactList.name,
            ListMember.status,
            ListMember.created_at,
        )
        .join(ContactList, ContactList.id == ListMember.list_id)
        .where(ListMember.workspace_id == workspace_id, ListMember.contact_id.in_(ids))
        .order_by(ContactList.name)
    )
    for contact_id, list_id, name, status, added_at in list_rows:
        lists[contact_id].append(Membership(list_id, name, status, added_at))
    return [ContactDetails(c, tags[c.id], lists[c.id]) for c in contacts]


# --- filters ---------------------------------------------------------------------------------


async def _filtered(session: AsyncSession, actor: Actor, filters: ContactFilter) -> Select[Contact]:
    """The contacts of the actor's workspace that pass every filter given."""
    workspace_id = actor.workspace_id
    query = select(Contact).where(Contact.workspace_id == workspace_id)
    if filters.list_id is not None:
        list_id = await _existing_list_id(session, workspace_id, filters.list_id)
        members = select(ListMember.contact_id).where(
            ListMember.workspace_id == workspace_id, ListMember.list_id == list_id
        )
        query = query.where(Contact.id.in_(members))
    for tag in filters.tags:
        cleaned = _filter_tag(tag)
        tagged = select(ContactTag.contact_id).where(
            ContactTag.workspace_id == workspace_id, ContactTag.tag == cleaned
        )
        query = query.where(Contact.id.in_(tagged))
    dialect = session.get_bind().dialect.name
    for pair in filters.attributes:
        key, value = _filter_attribute(pair)
        query = query.where(_attribute_text(dialect, key) == value)
    if filters.created_after is not None:
        query = query.where(
            Contact.created_at >= _filter_time(filters.created_after, "created_after")
        )
    if filters.created_before is not None:
        query = query.where(
            Contact.created_at < _filter_time(filters.created_before, "created_before")
        )
    if filters.phone is not None:
        number = await _parse_phone(session, actor, filters.phone, "phone")
        query = query.where(Contact.phone == number.e164)
    if filters.external_id is not None:
        query = query.where(Contact.external_id == single_line(filters.external_id, "external_id"))
    if filters.q is not None:
        query = query.where(_search(single_line(filters.q, "q")))
    return query


def _attribute_text(dialect: str, key: str) -> ColumnElement[str]:
    """A custom attribute as text, spelled alike on both databases: 'abc', '42', 'true'."""
    value = Contact.attributes[key].as_string()
    if dialect != "sqlite":
        return value  # PostgreSQL's ->> already gives that spelling
    # SQLite's json_extract gives 1 and 0 for booleans and numbers as numbers.
    kind = func.json_type(Contact.attributes, f'$."{key}"')
    return case((kind == "true", "true"), (kind == "false", "false"), else_=cast(value, String))


def _search(text: str) -> ColumnElement[bool]:
    """Case-insensitive substring of the first name, last name, full name or email."""
    full_name = func.coalesce(Contact.first_name, "") + " " + func.coalesce(Contact.last_name, "")
    return or_(
        *(
            column.icontains(text, autoescape=True)
            for column in (Contact.first_name, Contact.last_name, full_name, Contact.email)
        )
    )


def _filter_tag(tag: str) -> str:
    try:
        tags = clean_tags([single_line(tag, "tag")])
    except ValidationFailed as exc:
        raise ValidationFailed(exc.message, field="tag") from None
    if not tags:
        raise ValidationFailed("Write a tag to filter on, for example tag=vip.", field="tag")
    return tags[0]


def _filter_attribute(pair: str) -> tuple[str, str]:
    key, colon, value = single_line(pair, "attribute").partition(":")
    key = key.strip()
    if not colon or not key:
        raise ValidationFailed(
            f"'{pair[:100]}' is not an attribute filter: write attribute=name:value, "
            "for example attribute=plan:gold.",
            field="attribute",
        )
    try:
        clean_attributes({key: value})
    except ValidationFailed as exc:
        raise ValidationFailed(
            f"{exc.message} Write attribute=name:value.", field="attribute"
        ) from None
    return key, value


def _filter_time(text: str, name: str) -> datetime:
    hint = f"write {name} as an ISO 8601 time with a zone, for example 2026-03-01T00:00:00Z."
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValidationFailed(f"'{text[:100]}' is not a time: {hint}", field=name) from None
    if when.tzinfo is None:
        raise ValidationFailed(f"'{text[:100]}' has no time zone: {hint}", field=name)
    return when


def check_cursor(cursor: str) -> str:
    """A cursor is an id this API gave out; anything else is a 422, not an empty page."""
    if not _ID.match(cursor):
        raise ValidationFailed(
            "This cursor was not given out by the API: pass the next_cursor of the previous page.",
            field="cursor",
        )
    return cursor


def looks_like_id(value: str) -> bool:
    """Ids have one shape; others cannot exist, so they are answered without a query."""
    return bool(_ID.match(value))


def single_line(text: str, name: str, max_length: int | None = 200) -> str:
    """User text for one line: no control characters (PostgreSQL refuses NUL), bounded length."""
    if _CONTROL.search(text):
        raise ValidationFailed(
            f"{name} contains a line break or another control character; remove it.", field=name
        )
    if max_length is not None and len(text) > max_length:
        raise ValidationFailed(f"{name} is longer than {max_length} characters.", field=name)
    return text


# --- helpers ---------------------------------------------------------------------------------


async def _parse_phone(session: AsyncSession, actor: Actor, raw: str, name: str) -> PhoneNumber:
    workspace = await session.get(Workspace, actor.workspace_id)
    assert workspace is not None
    try:
        return parse_phone(raw, workspace.default_country)
    except InvalidPhoneNumber as exc:
        raise InvalidPhoneNumber(exc.message, field=name) from None


async def _get(session: AsyncSession, actor: Actor, contact_id: str) -> Contact:
    contact = None
    if looks_like_id(contact_id):
        contact = await session.scalar(
            select(Contact).where(
                Contact.workspace_id == actor.workspace_id, Contact.id == contact_id
            )
        )
    if contact is None:
        raise NotFound(f"No contact with id {contact_id[:40]} in this workspace.")
    return contact


async def _id_by_phone(session: AsyncSession, workspace_id: str, e164: str) -> str | None:
    return await session.scalar(
        select(Contact.id).where(Contact.workspace_id == workspace_id, Contact.phone == e164)
    )


async def _existing_list_id(session: AsyncSession, workspace_id: str, list_id: str) -> str:
    found = None
    if looks_like_id(list_id):
        found = await session.scalar(
            select(ContactList.id).where(
                ContactList.workspace_id == workspace_id, ContactList.id == list_id
            )
        )
    if found is None:
        raise NotFound(f"No list with id {list_id[:40]} in this workspace.", field="list_id")
    return found


def _duplicate(e164: str, contact_id: str) -> Conflict:
    return Conflict(
        f"The contact {contact_id} already has the number {e164}; update that contact, "
        "or use PUT /v1/contacts/by-phone/{phone} to create or update by number.",
        field="phone",
    )


async def _insert(
    session: AsyncSession, actor: Actor, number: PhoneNumber, changes: ContactChanges
) -> Contact:
    now = utcnow()
    contact = Contact(
        id=new_id("ct"),
        workspace_id=actor.workspace_id,
        phone=number.e164,
        region=number.region,
        timezone=number.timezone,
        timezone_explicit=False,
        attributes={},
        created_at=now,
        updated_at=now,
    )
    tags = _apply(contact, changes, number)
    session.add(contact)
    session.add_all(_tag_rows(contact, tags or []))
    await _commit(session, contact)
    return contact


# Each cleaner checks one field and returns what to store (the length limits are theirs).
_CLEANERS: dict[str, Callable[[str], str | None]] = {
    "first_name": lambda v: clean_text(single_line(v, "first_name", None), "first_name"),
    "last_name": lambda v: clean_text(single_line(v, "last_name", None), "last_name"),
    "email": lambda v: clean_email(single_line(v, "email", None)),
    "language": lambda v: clean_language(single_line(v, "language", None)),
    "timezone": lambda v: clean_timezone(single_line(v, "timezone", None)),
    "external_id": lambda v: clean_text(single_line(v, "external_id", None), "external_id"),
}


def _apply(
    contact: Contact, changes: ContactChanges, number: PhoneNumber | None
) -> list[str] | None:
    """Check and set the given fields on `contact`; returns the new tags, or None if unchanged.

    Every check runs before the first field is set, so a 422 leaves the contact untouched.
    """
    given = {f.name: getattr(changes, f.name) for f in fields(changes)}
    given = {name: value for name, value in given.items() if value is not UNSET}
    values = {
        name: None if given[name] is None else clean(given[name])
        for name, clean in _CLEANERS.items()
        if name in given
    }
    tags = None
    if "tags" in given:
        tags = clean_tags([single_line(t, "tags", None) for t in given["tags"] or []])
    attributes = None
    if "attributes" in given:
        attributes = _merge_attributes(contact.attributes or {}, given["attributes"])

    for name, value in values.items():
        setattr(contact, name, value)
    if "timezone" in values:
        contact.timezone_explicit = values["timezone"] is not None
    if number is not None:
        contact.phone = number.e164
        contact.region = number.region
    if not contact.timezone_explicit and (number is not None or "timezone" in values):
        # The zone follows the number unless someone chose one.
        contact.timezone = (number or _phone_of(contact)).timezone
    if attributes is not None:
        contact.attributes = attributes  # a new dict, so the JSON column sees the change
    return tags


def _phone_of(contact: Contact) -> PhoneNumber:
    """The stored number, parsed again to derive its zone (it is E.164, so any country works)."""
    try:
        return parse_phone(contact.phone, "US")
    except InvalidPhoneNumber:
        return PhoneNumber(e164=contact.phone, region=contact.region, timezone=None)


def _merge_attributes(current: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    clean_attributes(dict(changes))  # names and count of what was sent
    merged = dict(current)
    for key, value in changes.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = _attribute_value(key, value)
    return clean_attributes(merged)


def _attribute_value(key: str, value: Any) -> str | int | float | bool:
    """Custom attributes are scalars: they fill templates and filters, not documents."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and abs(value) <= MAX_SAFE_INTEGER:
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    if isinstance(value, str):
        if "\x00" in value:
            raise ValidationFailed(
                f"Attribute '{key}' contains a NUL character.", field="attributes"
            )
        if len(value) > MAX_ATTRIBUTE_TEXT:
            raise ValidationFailed(
                f"Attribute '{key}' is longer than {MAX_ATTRIBUTE_TEXT} characters.",
                field="attributes",
            )
        return value
    raise ValidationFailed(
        f"Attribute '{key}' must be text, a number (at most {MAX_SAFE_INTEGER}), true or false; "
        "set it to null to remove it.",
        field="attributes",
    )


async def _replace_tags(session: AsyncSession, contact: Contact, tags: Iterable[str]) -> None:
    await session.execute(
        delete(ContactTag).where(
            ContactTag.workspace_id == contact.workspace_id, ContactTag.contact_id == contact.id
        )
    )
    session.add_all(_tag_rows(contact, tags))


def _tag_rows(contact: Contact, tags: Iterable[str]) -> list[ContactTag]:
    return [
        ContactTag(contact_id=contact.id, tag=tag, workspace_id=contact.workspace_id)
        for tag in tags
    ]


async def _commit(session: AsyncSession, contact: Contact) -> None:
    """Commit; the only unique rule a contact can break is its number, so say whose it is."""
    e164, workspace_id = contact.phone, contact.workspace_id
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        other = await _id_by_phone(session, workspace_id, e164)
        if other is None:
            raise
        raise _duplicate(e164, other) from None
