"""Segments: the list, and a form that builds a definition (match all or any, rows of
field/operator/value, exclusions) with a live count of the contacts it selects.

The form writes the JSON of docs/segments.md and hands it to services.segments, which checks
it; nested groups are kept when a segment is shown but can only be edited through the API.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData

from recado.db.tables import ContactList, utcnow
from recado.domain import segments as definitions
from recado.domain.roles import Permission, allows
from recado.errors import ValidationFailed
from recado.services import segments
from recado.services.actor import Actor
from recado.web.rendering import PREFIX, WebRoute, redirect, render
from recado.web.session import CurrentUser, DbSession, web_session

router = APIRouter(prefix=f"{PREFIX}/segments", route_class=WebRoute)

PAGE_SIZE = 50
BLANK_ROWS = 3
LIST_CHOICES = 200
# "field:op" -> what the row reads as; the value each needs is checked by the service.
CONDITIONS = {
    "list:in": "is subscribed to the list",
    "tag:has": "has the tag",
    "attribute:equals": "attribute … equals",
    "attribute:not_equals": "attribute … does not equal",
    "attribute:contains": "attribute … contains",
    "attribute:gt": "attribute … is more than",
    "attribute:lt": "attribute … is less than",
    "attribute:before": "attribute … is a day before",
    "attribute:after": "attribute … is a day after",
    "attribute:exists": "attribute … is set",
    "created:within_days": "was added in the last N days",
    "created:before": "was added before the day",
    "created:after": "was added after the day",
    "engagement:clicked_within_days": "clicked in the last N days",
    "engagement:never_clicked": "never clicked",
    "engagement:replied_within_days": "replied in the last N days",
    "engagement:converted_within_days": "ordered in the last N days",
    "engagement:not_messaged_days": "was not texted in the last N days",
    "consent:is": "consent is (granted, none, opted_out)",
    "segment:in": "is in the segment",
}
NUMBERS = {"gt", "lt", "within_days", "clicked_within_days", "replied_within_days"}
NUMBERS |= {"converted_within_days", "not_messaged_days"}
NO_VALUE = {"attribute:exists", "engagement:never_clicked"}


@router.get("")
async def segment_list(
    request: Request, session: DbSession, me: CurrentUser, cursor: str = ""
) -> Response:
    rows, next_cursor = await segments.list_segments(
        session, me.actor, limit=PAGE_SIZE, cursor=cursor or None
    )
    return render(
        request,
        "segments/list.html",
        rows=rows,
        next_cursor=next_cursor,
        paged=bool(cursor),
        query={},
        can_manage=me.may("manage_audience"),
    )


@router.get("/new")
async def new_segment(request: Request, session: DbSession, me: CurrentUser) -> Response:
    me.actor.require(Permission.MANAGE_AUDIENCE)
    return await _form(request, session, me.actor, None, {"match": "all", "conditions": []})


@router.post("/count")
async def live_count(request: Request, session: DbSession, me: CurrentUser) -> Response:
    """How many contacts the form's definition selects now (nothing saved)."""
    definition = _definition(await request.form(), await _lists(session, me.actor))
    parsed = definitions.parse_definition(definition)
    found = await segments.count(session, me.actor, parsed, utcnow())
    return render(request, "segments/_count.html", count=found)


@router.get("/{segment_id}/count")
async def saved_count(
    request: Request, session: DbSession, me: CurrentUser, segment_id: str
) -> Response:
    found = await segments.count_saved(session, me.actor, segment_id, utcnow())
    return render(request, "segments/_count.html", count=found)


@router.get("/{segment_id}")
async def segment_page(
    request: Request, session: DbSession, me: CurrentUser, segment_id: str
) -> Response:
    segment = await segments.get_segment(session, me.actor, segment_id)
    return await _form(request, session, me.actor, segment, segment.definition)


@router.post("")
async def create(request: Request, session: DbSession, me: CurrentUser) -> Response:
    form = await request.form()
    created = await segments.create_segment(
        session,
        me.actor,
        name=_text(form, "name"),
        description=_text(form, "description") or None,
        definition=_definition(form, await _lists(session, me.actor)),
    )
    web_session(request).notify(f"Segment “{created.name}” saved.")
    return redirect(f"{PREFIX}/segments/{created.id}")


@router.post("/{segment_id}")
async def update(
    request: Request, session: DbSession, me: CurrentUser, segment_id: str
) -> Response:
    form = await request.form()
    current = await segments.get_segment(session, me.actor, segment_id)
    if _has_groups(current.definition):
        raise ValidationFailed(
            "This segment has nested groups, which this form cannot show; change it with "
            "PATCH /v1/segments/{id}.",
            field="definition",
        )
    saved = await segments.update_segment(
        session,
        me.actor,
        segment_id,
        name=_text(form, "name"),
        description=_text(form, "description") or None,
        definition=_definition(form, await _lists(session, me.actor)),
    )
    web_session(request).notify(f"Segment “{saved.name}” saved.")
    return redirect(f"{PREFIX}/segments/{saved.id}")


async def _form(
    request: Request,
    session: AsyncSession,
    actor: Actor,
    segment: Any,
    definition: dict[str, Any],
) -> Response:
    by_name = await _lists(session, actor)
    by_id = {list_id: name for name, list_id in by_name.items()}
    return render(
        request,
        "segments/edit.html",
        segment=segment,
        match=definition.get("match", "all"),
        conditions=_rows(definition.get("conditions") or [], by_id),
        exclude=_rows(definition.get("exclude") or [], by_id),
        grouped=_has_groups(definition),
        kinds=CONDITIONS,
        lists=sorted(by_name),
        can_manage=allows(actor.role, Permission.MANAGE_AUDIENCE),
    )


async def _lists(session: AsyncSession, actor: Actor) -> dict[str, str]:
    """The workspace's list ids by name: the form names lists, the definition holds ids."""
    rows = await session.execute(
        select(ContactList.name, ContactList.id)
        .where(ContactList.workspace_id == actor.workspace_id)
        .order_by(ContactList.name)
        .limit(LIST_CHOICES)
    )
    return {name: list_id for name, list_id in rows}


def _rows(raw: list[Any], list_names: dict[str, str]) -> list[tuple[str, str, str]]:
    """(field:op, attribute name, value) per condition, then blank rows to add more."""
    rows = []
    for c in raw:
        if not isinstance(c, dict) or "field" not in c:
            continue
        value = _shown(c.get("value"))
        if c.get("field") == "list":
            value = list_names.get(value, value)
        rows.append((f"{c.get('field')}:{c.get('op')}", str(c.get("name") or ""), value))
    return rows + [("", "", "")] * BLANK_ROWS


def _shown(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _has_groups(definition: Any) -> bool:
    if not isinstance(definition, dict):
        return False
    items = [*(definition.get("conditions") or []), *(definition.get("exclude") or [])]
    return any(isinstance(c, dict) and "conditions" in c for c in items)


def _definition(form: FormData, lists: dict[str, str]) -> dict[str, Any]:
    """The definition JSON from the form's rows; blank rows are left out, lists named by
    their name become their ids."""
    return {
        "match": _text(form, "match") or "all",
        "conditions": _conditions(form, "cond", lists),
        "exclude": _conditions(form, "exc", lists),
    }


def _conditions(form: FormData, prefix: str, lists: dict[str, str]) -> list[dict[str, Any]]:
    kinds = [str(v) for v in form.getlist(f"{prefix}_kind")]
    names = [str(v) for v in form.getlist(f"{prefix}_name")]
    values = [str(v) for v in form.getlist(f"{prefix}_value")]
    found = []
    for index, kind in enumerate(kinds):
        if not kind:
            continue
        if kind not in CONDITIONS:
            raise ValidationFailed(f"Unknown condition {kind[:40]!r}.", field="definition")
        field, op = kind.split(":")
        condition: dict[str, Any] = {"field": field, "op": op}
        if field == "attribute":
            condition["name"] = names[index].strip() if index < len(names) else ""
        raw = values[index].strip() if index < len(values) else ""
        if field == "list":
            raw = lists.get(raw, raw)
        if kind not in NO_VALUE:
            condition["value"] = _value(raw, op)
        found.append(condition)
    return found


def _value(raw: str, op: str) -> Any:
    if op in NUMBERS:
        try:
            number = float(raw)
        except ValueError:
            return raw  # the service says what to write instead
        return int(number) if number.is_integer() else number
    return raw or None


def _text(form: FormData, key: str) -> str:
    value = form.get(key)
    return value.strip() if isinstance(value, str) else ""
