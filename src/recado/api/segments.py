"""/v1/segments: saved audience filters, their live count, and the contacts they select."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, ConfigDict, Field

from recado.api.contacts import ContactOut
from recado.api.deps import CurrentActor, Session
from recado.api.pages import Cursor, Limit, Page
from recado.db.tables import Segment, utcnow
from recado.domain.segments import parse_definition
from recado.services import segments
from recado.services.contacts import UNSET

router = APIRouter(prefix="/v1/segments", tags=["segments"])

_DEFINITION = (
    'Which contacts: {"match": "all" or "any", "conditions": [...], "exclude": [...]}. '
    "Conditions filter on lists, tags, attributes, creation time, engagement (clicks, "
    "replies, orders, messages), consent and other segments, and nest in groups; see "
    "docs/segments.md. A bad part is answered 422 with its path in `field`."
)


class SegmentIn(BaseModel):
    """A new segment. Names are unique in a workspace."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Up to 200 characters, unique in the workspace")
    description: str | None = Field(default=None, description="Up to 2000 characters")
    definition: dict[str, Any] = Field(description=_DEFINITION)


class SegmentPatch(BaseModel):
    """Changes to a segment; fields left out stay as they are."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, description="A new name, unique in the workspace")
    description: str | None = Field(default=None, description="Null clears it")
    definition: dict[str, Any] | None = Field(default=None, description=_DEFINITION)


class DefinitionIn(BaseModel):
    """A definition to count without saving it (the counter shown while editing)."""

    model_config = ConfigDict(extra="forbid")

    definition: dict[str, Any] = Field(description=_DEFINITION)


class SegmentOut(BaseModel):
    """A saved segment: a named filter over the workspace's contacts."""

    id: str
    name: str
    description: str | None
    definition: dict[str, Any]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, segment: Segment) -> SegmentOut:
        return cls(
            id=segment.id,
            name=segment.name,
            description=segment.description,
            definition=dict(segment.definition or {}),
            created_at=segment.created_at,
            updated_at=segment.updated_at,
        )


class CountOut(BaseModel):
    """How many contacts match now."""

    count: int


@router.post(
    "", status_code=status.HTTP_201_CREATED, response_model=SegmentOut, summary="Save a segment"
)
async def create(payload: SegmentIn, session: Session, actor: CurrentActor) -> SegmentOut:
    segment = await segments.create_segment(
        session,
        actor,
        name=payload.name,
        description=payload.description,
        definition=payload.definition,
    )
    return SegmentOut.of(segment)


@router.post(
    "/count",
    response_model=CountOut,
    summary="Count the contacts a definition selects",
    description="Nothing is saved: this is the live counter while a segment is being edited.",
)
async def count_unsaved(payload: DefinitionIn, session: Session, actor: CurrentActor) -> CountOut:
    definition = parse_definition(payload.definition)
    return CountOut(count=await segments.count(session, actor, definition, utcnow()))


@router.get(
    "",
    response_model=Page[SegmentOut],
    summary="List segments",
    description="Newest first; page with `limit` and `cursor`.",
)
async def list_segments(
    session: Session, actor: CurrentActor, limit: Limit = 50, cursor: Cursor = None
) -> Page[SegmentOut]:
    rows, next_cursor = await segments.list_segments(session, actor, limit=limit, cursor=cursor)
    return Page(data=[SegmentOut.of(s) for s in rows], next_cursor=next_cursor)


@router.get("/{segment_id}", response_model=SegmentOut, summary="Read a segment")
async def read(segment_id: str, session: Session, actor: CurrentActor) -> SegmentOut:
    return SegmentOut.of(await segments.get_segment(session, actor, segment_id))


@router.patch("/{segment_id}", response_model=SegmentOut, summary="Change a segment")
async def update(
    segment_id: str, payload: SegmentPatch, session: Session, actor: CurrentActor
) -> SegmentOut:
    sent = payload.model_dump(exclude_unset=True)
    if "name" in sent and sent["name"] is None:
        sent["name"] = ""  # a segment cannot lose its name: the service answers why
    if "definition" in sent and sent["definition"] is None:
        sent["definition"] = "null"  # nor its definition
    segment = await segments.update_segment(
        session,
        actor,
        segment_id,
        name=sent.get("name", UNSET),
        description=sent.get("description", UNSET),
        definition=sent.get("definition", UNSET),
    )
    return SegmentOut.of(segment)


@router.delete(
    "/{segment_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a segment",
    description="The contacts stay. A segment that another segment uses answers 409.",
)
async def delete(segment_id: str, session: Session, actor: CurrentActor) -> Response:
    await segments.delete_segment(session, actor, segment_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{segment_id}/count",
    response_model=CountOut,
    summary="Count a segment's contacts",
)
async def count_saved(segment_id: str, session: Session, actor: CurrentActor) -> CountOut:
    return CountOut(count=await segments.count_saved(session, actor, segment_id, utcnow()))


@router.get(
    "/{segment_id}/contacts",
    response_model=Page[ContactOut],
    summary="List a segment's contacts",
    description="The contacts that match now, newest first; page with `limit` and `cursor`.",
)
async def list_contacts(
    segment_id: str,
    session: Session,
    actor: CurrentActor,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[ContactOut]:
    rows, next_cursor = await segments.list_contacts(
        session, actor, segment_id, utcnow(), limit=limit, cursor=cursor
    )
    return Page(data=[ContactOut.of(d) for d in rows], next_cursor=next_cursor)
