"""/v1/contacts: create, read, update, upsert by phone, delete and list contacts."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field

from recado.api.deps import CurrentActor, Session
from recado.api.pages import Cursor, Limit, Page
from recado.services import contacts
from recado.services.contacts import ContactChanges, ContactDetails

router = APIRouter(prefix="/v1/contacts", tags=["contacts"])

_ATTRIBUTES = (
    "Custom attributes: names start with a letter or '_' and hold letters, digits and '_' "
    "(at most 64 characters, at most 100 attributes); values are text (up to 1000 characters), "
    "numbers or true/false."
)


class ContactFields(BaseModel):
    """Fields of a contact that a caller may set. Unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")

    first_name: str | None = Field(default=None, description="Up to 200 characters")
    last_name: str | None = Field(default=None, description="Up to 200 characters")
    email: str | None = Field(default=None, description="An email address")
    language: str | None = Field(
        default=None, description="BCP 47 language code such as en, pt-BR or es"
    )
    timezone: str | None = Field(
        default=None,
        description="IANA zone such as America/Sao_Paulo. Omit it to use the zone of the number "
        "(when the number has a single one); set it to pin a zone; set it to null to go back "
        "to the zone of the number.",
    )
    external_id: str | None = Field(
        default=None, description="Your own id for this contact (up to 200 characters)"
    )
    tags: list[str] | None = Field(
        default=None,
        description="Tags (at most 50): letters, digits, spaces, '.', ':', '/' or '-'. "
        "Replaces all the contact's tags.",
    )


class ContactIn(ContactFields):
    """A new contact. Only `phone` is required."""

    phone: str = Field(
        description="The number in E.164 (+5511912345678) or in the workspace's national form"
    )
    attributes: dict[str, Any] = Field(default_factory=dict, description=_ATTRIBUTES)


class ContactPatch(ContactFields):
    """Changes to a contact. Fields you leave out stay as they are; null clears a field.

    `attributes` merges into the contact's attributes: a key set to null is removed, the
    others are kept.
    """

    phone: str | None = Field(
        default=None,
        description="A new number; the zone follows it unless the timezone was set explicitly",
    )
    attributes: dict[str, Any] = Field(default_factory=dict, description=_ATTRIBUTES)


class ContactUpsert(ContactFields):
    """The contact's fields, for a create-or-update by number. As in PATCH, fields you leave
    out stay as they are and `attributes` merges (null removes a key)."""

    attributes: dict[str, Any] = Field(default_factory=dict, description=_ATTRIBUTES)


class ContactListOut(BaseModel):
    """A list the contact belongs to, and the contact's status on it."""

    id: str
    name: str
    status: str = Field(
        description="subscribed, unsubscribed, pending (double opt-in not yet confirmed) or "
        "opted_out (taken off by STOP; START puts it back)"
    )
    added_at: datetime


class ContactOut(BaseModel):
    """A contact: one person behind one phone number in this workspace."""

    id: str
    phone: str = Field(description="E.164")
    first_name: str | None
    last_name: str | None
    email: str | None
    language: str | None
    timezone: str | None = Field(description="IANA zone, for quiet hours and scheduling")
    timezone_explicit: bool = Field(
        description="True when someone set the zone; false when it comes from the number"
    )
    region: str | None = Field(description="ISO country of the number (read-only)")
    external_id: str | None
    tags: list[str]
    attributes: dict[str, Any]
    lists: list[ContactListOut]
    marketing_consent: bool = Field(
        description="True while an opt-in is recorded and in force (see /consents for history)"
    )
    consented_at: datetime | None
    opted_out: bool = Field(description="True after STOP (or equivalent) until START")
    opted_out_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, details: ContactDetails) -> ContactOut:
        c = details.contact
        return cls(
            id=c.id,
            phone=c.phone,
            first_name=c.first_name,
            last_name=c.last_name,
            email=c.email,
            language=c.language,
            timezone=c.timezone,
            timezone_explicit=bool(c.timezone_explicit),
            region=c.region,
            external_id=c.external_id,
            tags=details.tags,
            attributes=dict(c.attributes or {}),
            lists=[
                ContactListOut(id=m.list_id, name=m.list_name, status=m.status, added_at=m.added_at)
                for m in details.lists
            ],
            marketing_consent=c.consented_at is not None and c.opted_out_at is None,
            consented_at=c.consented_at,
            opted_out=c.opted_out_at is not None,
            opted_out_at=c.opted_out_at,
            created_at=c.created_at,
            updated_at=c.updated_at,
        )


def _changes(payload: BaseModel) -> ContactChanges:
    """Only what the caller sent: PATCH semantics come from leaving the rest UNSET."""
    return ContactChanges(**payload.model_dump(exclude_unset=True))


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ContactOut,
    summary="Create a contact",
    description="The number is normalized to E.164 with the workspace's default country. "
    "A number the workspace already has answers 409 `conflict` naming that contact; to create "
    "or update by number, use `PUT /v1/contacts/by-phone/{phone}`.",
)
async def create(payload: ContactIn, session: Session, actor: CurrentActor) -> ContactOut:
    return ContactOut.of(await contacts.create_contact(session, actor, _changes(payload)))


@router.get(
    "",
    response_model=Page[ContactOut],
    summary="List contacts",
    description="Newest first (ids are time-ordered); page with `limit` and `cursor`. "
    "All filters given must match.",
)
async def list_contacts(
    session: Session,
    actor: CurrentActor,
    list_id: Annotated[str | None, Query(description="Members of this list")] = None,
    tag: Annotated[
        list[str] | None, Query(description="Has this tag; repeat to require several")
    ] = None,
    attribute: Annotated[
        list[str] | None,
        Query(
            description="Custom attribute equals a value, written name:value (plan:gold); "
            "numbers and true/false match their text; repeat to require several"
        ),
    ] = None,
    created_after: Annotated[
        str | None, Query(description="ISO 8601 time with a zone, e.g. 2026-03-01T00:00:00Z")
    ] = None,
    created_before: Annotated[
        str | None, Query(description="ISO 8601 time with a zone, e.g. 2026-04-01T00:00:00Z")
    ] = None,
    phone: Annotated[
        str | None, Query(description="A number in any usual spelling; finds its contact")
    ] = None,
    external_id: Annotated[str | None, Query(description="Your own id for the contact")] = None,
    q: Annotated[
        str | None, Query(description="Case-insensitive search in names and email")
    ] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[ContactOut]:
    filters = contacts.ContactFilter(
        list_id=list_id,
        tags=tuple(tag or ()),
        attributes=tuple(attribute or ()),
        created_after=created_after,
        created_before=created_before,
        phone=phone,
        external_id=external_id,
        q=q,
    )
    rows, next_cursor = await contacts.list_contacts(
        session, actor, filters, limit=limit, cursor=cursor
    )
    return Page(data=[ContactOut.of(d) for d in rows], next_cursor=next_cursor)


@router.put(
    "/by-phone/{phone}",
    response_model=ContactOut,
    summary="Create or update the contact with a number",
    description="Creates the contact with this number (201) or updates the one that has it "
    "(200). The number may be in any usual spelling (URL-encode it). Fields left out stay as "
    "they are; `attributes` merges.",
    responses={201: {"description": "Created", "model": ContactOut}},
)
async def upsert(
    phone: str, payload: ContactUpsert, session: Session, actor: CurrentActor, response: Response
) -> ContactOut:
    details, created = await contacts.upsert_contact(session, actor, phone, _changes(payload))
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return ContactOut.of(details)


@router.get("/{contact_id}", response_model=ContactOut, summary="Read a contact")
async def read(contact_id: str, session: Session, actor: CurrentActor) -> ContactOut:
    return ContactOut.of(await contacts.get_contact(session, actor, contact_id))


@router.patch(
    "/{contact_id}",
    response_model=ContactOut,
    summary="Update a contact",
    description="Changes only the fields sent. `tags` replaces the tags; `attributes` merges "
    "(a key set to null is removed).",
)
async def update(
    contact_id: str, payload: ContactPatch, session: Session, actor: CurrentActor
) -> ContactOut:
    return ContactOut.of(
        await contacts.update_contact(session, actor, contact_id, _changes(payload))
    )


@router.delete(
    "/{contact_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a contact",
    description="Its tags and list memberships go with it; its messages stay, unlinked.",
)
async def delete(contact_id: str, session: Session, actor: CurrentActor) -> Response:
    await contacts.delete_contact(session, actor, contact_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
