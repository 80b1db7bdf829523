"""Contacts: search and filter with keyset pages, one contact's page, and the CSV export."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from recado.db.tables import Click, ContactList
from recado.domain.roles import Permission
from recado.services import compliance_admin, contacts, exports, messaging
from recado.services.actor import Actor
from recado.web.rendering import PREFIX, WebRoute, render
from recado.web.session import CurrentUser, DbSession

router = APIRouter(prefix=f"{PREFIX}/contacts", route_class=WebRoute)

PAGE_SIZE = 50
LIST_CHOICES = 200  # lists offered in the filter; a workspace with more types the id


@router.get("")
async def contact_list(
    request: Request,
    session: DbSession,
    me: CurrentUser,
    q: str = "",
    list_id: str = "",
    tag: str = "",
    cursor: str = "",
) -> Response:
    filters = contacts.ContactFilter(
        list_id=list_id.strip() or None,
        tags=(tag.strip(),) if tag.strip() else (),
        q=q.strip() or None,
    )
    rows, next_cursor = await contacts.list_contacts(
        session, me.actor, filters, limit=PAGE_SIZE, cursor=cursor or None
    )
    choices = await list_choices(session, me.actor)
    query = {"q": q, "list_id": list_id, "tag": tag}
    return render(
        request,
        "contacts.html",
        rows=rows,
        lists=choices,
        q=q,
        list_id=list_id,
        tag=tag,
        next_cursor=next_cursor,
        paged=bool(cursor),
        query={k: v for k, v in query.items() if v},
        can_manage=me.may("manage_audience"),
    )


@router.get("/export")
async def export(session: DbSession, me: CurrentUser, list_id: str = "") -> Response:
    """The contacts (or one list's subscribed members) as a CSV file that imports back."""
    parts = await exports.contacts_csv(session, me.actor, list_id=list_id or None)
    name = f"contacts-{datetime.now(UTC):%Y%m%d-%H%M%S}.csv"
    return StreamingResponse(
        parts,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/{contact_id}")
async def contact_page(
    request: Request, session: DbSession, me: CurrentUser, contact_id: str
) -> Response:
    details = await contacts.get_contact(session, me.actor, contact_id)
    consent = await compliance_admin.consent_state(session, me.actor, contact_id)
    timeline, more = await messaging.list_messages(
        session, me.actor, messaging.MessageFilter(contact_id=contact_id), limit=PAGE_SIZE
    )
    return render(
        request,
        "contact.html",
        details=details,
        contact=details.contact,
        consent=consent,
        timeline=timeline,
        more_messages=more is not None,
        clicks=await _clicks(session, me.actor, [m.id for m in timeline]),
    )


async def list_choices(session: AsyncSession, actor: Actor) -> list[tuple[str, str]]:
    """(id, name) of the lists to offer in a menu, by name; no member counts (they cost a scan)."""
    actor.require(Permission.READ)
    rows = await session.execute(
        select(ContactList.id, ContactList.name)
        .where(ContactList.workspace_id == actor.workspace_id)
        .order_by(ContactList.name)
        .limit(LIST_CHOICES)
    )
    return [(list_id, name) for list_id, name in rows]


async def _clicks(session: AsyncSession, actor: Actor, message_ids: list[str]) -> list[Any]:
    """Clicks on the links of these messages, newest first."""
    if not message_ids:
        return []
    rows = await session.execute(
        select(Click.at, Click.url, Click.message_id)
        .where(Click.workspace_id == actor.workspace_id, Click.message_id.in_(message_ids))
        .order_by(Click.id.desc())
        .limit(200)
    )
    return list(rows)
