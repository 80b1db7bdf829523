"""/v1/lists: lists of contacts, their members and each member's subscription status."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field

from recado.api.deps import CurrentActor, Session
from recado.api.pages import Cursor, Limit, Page
from recado.services import lists
from recado.services.consent import ConsentClaim
from recado.services.contacts import UNSET
from recado.services.lists import MAX_MEMBERS_PER_REQUEST, ListDetails, Member, MemberStatus

router = APIRouter(prefix="/v1/lists", tags=["lists"])

Status = Literal["subscribed", "unsubscribed", "pending"]


class MemberConsentIn(BaseModel):
    """The opt-in behind these members: recorded for each, so they may get marketing texts."""

    model_config = ConfigDict(extra="forbid")

    source: Literal["signup_form", "keyword", "import", "api", "ui"] = Field(
        default="api", description="Where the people gave consent"
    )
    consent_text: str = Field(
        min_length=1, max_length=2000, description="The exact words the people agreed to"
    )


class ListIn(BaseModel):
    """A new list. Names are unique in a workspace."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Up to 200 characters, unique in the workspace")
    description: str | None = Field(default=None, description="Up to 2000 characters")


class ListPatch(BaseModel):
    """Rename a list or change its description; fields left out stay as they are."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, description="A new name, unique in the workspace")
    description: str | None = Field(default=None, description="Null clears it")


class MemberCounts(BaseModel):
    """How many members the list has, by subscription status."""

    subscribed: int
    unsubscribed: int
    pending: int
    opted_out: int = Field(description="Taken off by STOP; START puts them back")
    total: int


class ListOut(BaseModel):
    """A list of contacts."""

    id: str
    name: str
    description: str | None
    members: MemberCounts
    created_at: datetime

    @classmethod
    def of(cls, details: ListDetails) -> ListOut:
        c = details.contact_list
        return cls(
            id=c.id,
            name=c.name,
            description=c.description,
            members=MemberCounts(**details.counts),
            created_at=c.created_at,
        )


class MembersIn(BaseModel):
    """Contacts to add, by id and/or by number. Numbers the workspace does not have yet
    become new contacts. Contacts already on the list keep their status."""

    model_config = ConfigDict(extra="forbid")

    contact_ids: list[str] = Field(
        default_factory=list, max_length=MAX_MEMBERS_PER_REQUEST, description="Contact ids"
    )
    phones: list[str] = Field(
        default_factory=list,
        max_length=MAX_MEMBERS_PER_REQUEST,
        description="Numbers in E.164 or the workspace's national form",
    )
    status: Status = Field(default="subscribed", description="The status of the new members")
    consent: MemberConsentIn | None = Field(
        default=None,
        description="Record each member's opt-in to this list. Without it members are added, "
        "but get no marketing texts until their consent is recorded; with it, numbers that "
        "opted out are rejected (only the person can resubscribe).",
    )


class RejectedOut(BaseModel):
    """An id or number that was not added, and why."""

    value: str
    reason: str


class MembersAddedOut(BaseModel):
    """What happened to each contact sent."""

    added: int = Field(description="New members")
    already_present: int = Field(description="Already on the list (their status is unchanged)")
    rejected: list[RejectedOut] = Field(description="Ids and numbers that were not added")


class MemberStatusIn(BaseModel):
    """A member's new subscription status on this list."""

    model_config = ConfigDict(extra="forbid")

    status: Status


class MemberOut(BaseModel):
    """A contact on a list, with its subscription status there."""

    contact_id: str
    phone: str
    first_name: str | None
    last_name: str | None
    status: str = Field(description="subscribed, unsubscribed, pending or opted_out")
    added_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, member: Member) -> MemberOut:
        return cls(
            contact_id=member.contact.id,
            phone=member.contact.phone,
            first_name=member.contact.first_name,
            last_name=member.contact.last_name,
            status=member.membership.status,
            added_at=member.membership.created_at,
            updated_at=member.membership.updated_at,
        )


@router.post(
    "", status_code=status.HTTP_201_CREATED, response_model=ListOut, summary="Create a list"
)
async def create(payload: ListIn, session: Session, actor: CurrentActor) -> ListOut:
    details = await lists.create_list(
        session, actor, name=payload.name, description=payload.description
    )
    return ListOut.of(details)


@router.get(
    "",
    response_model=Page[ListOut],
    summary="List lists",
    description="Newest first; page with `limit` and `cursor`.",
)
async def list_lists(
    session: Session, actor: CurrentActor, limit: Limit = 50, cursor: Cursor = None
) -> Page[ListOut]:
    rows, next_cursor = await lists.list_lists(session, actor, limit=limit, cursor=cursor)
    return Page(data=[ListOut.of(d) for d in rows], next_cursor=next_cursor)


@router.get("/{list_id}", response_model=ListOut, summary="Read a list and its member counts")
async def read(list_id: str, session: Session, actor: CurrentActor) -> ListOut:
    return ListOut.of(await lists.get_list(session, actor, list_id))


@router.patch("/{list_id}", response_model=ListOut, summary="Rename a list")
async def update(
    list_id: str, payload: ListPatch, session: Session, actor: CurrentActor
) -> ListOut:
    sent = payload.model_dump(exclude_unset=True)
    if "name" in sent and sent["name"] is None:
        sent["name"] = ""  # a list cannot lose its name: the service answers why
    details = await lists.update_list(
        session,
        actor,
        list_id,
        name=sent.get("name", UNSET),
        description=sent.get("description", UNSET),
    )
    return ListOut.of(details)


@router.delete(
    "/{list_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a list",
    description="Removes the list and its memberships; the contacts stay.",
)
async def delete(list_id: str, session: Session, actor: CurrentActor) -> Response:
    await lists.delete_list(session, actor, list_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{list_id}/members",
    response_model=MembersAddedOut,
    summary="Add members",
    description=f"Up to {MAX_MEMBERS_PER_REQUEST} contacts per request, by id and/or number. "
    "Ids and numbers that cannot be used are reported in `rejected`; the others are added.",
)
async def add_members(
    list_id: str, payload: MembersIn, session: Session, actor: CurrentActor
) -> MembersAddedOut:
    result = await lists.add_members(
        session,
        actor,
        list_id,
        contact_ids=payload.contact_ids,
        phones=payload.phones,
        status=MemberStatus(payload.status),
        claim=ConsentClaim(source=payload.consent.source, consent_text=payload.consent.consent_text)
        if payload.consent
        else None,
    )
    return MembersAddedOut(
        added=result.added,
        already_present=result.already_present,
        rejected=[RejectedOut(value=r.value, reason=r.reason) for r in result.rejected],
    )


@router.get(
    "/{list_id}/members",
    response_model=Page[MemberOut],
    summary="List members",
    description="Newest contacts first; page with `limit` and `cursor`.",
)
async def list_members(
    list_id: str,
    session: Session,
    actor: CurrentActor,
    status_: Annotated[
        str | None,
        Query(
            alias="status",
            description="Only members with this status: subscribed, unsubscribed or pending",
        ),
    ] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[MemberOut]:
    rows, next_cursor = await lists.list_members(
        session, actor, list_id, status=status_, limit=limit, cursor=cursor
    )
    return Page(data=[MemberOut.of(m) for m in rows], next_cursor=next_cursor)


@router.patch(
    "/{list_id}/members/{contact_id}",
    response_model=MemberOut,
    summary="Change a member's subscription status",
)
async def set_member_status(
    list_id: str,
    contact_id: str,
    payload: MemberStatusIn,
    session: Session,
    actor: CurrentActor,
) -> MemberOut:
    member = await lists.set_member_status(session, actor, list_id, contact_id, payload.status)
    return MemberOut.of(member)


@router.delete(
    "/{list_id}/members/{contact_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove a member",
    description="Takes the contact off the list; the contact stays.",
)
async def remove_member(
    list_id: str, contact_id: str, session: Session, actor: CurrentActor
) -> Response:
    await lists.remove_member(session, actor, list_id, contact_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
