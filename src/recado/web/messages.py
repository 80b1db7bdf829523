"""The messages log with its filters, and one message with its event timeline and clicks."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from recado.domain.message_status import FINAL, MessageStatus
from recado.services import links, messaging
from recado.services.contacts import check_cursor
from recado.web.rendering import PREFIX, WebRoute, render
from recado.web.session import CurrentUser, DbSession

router = APIRouter(prefix=f"{PREFIX}/messages", route_class=WebRoute)

PAGE_SIZE = 50


@router.get("")
async def message_log(
    request: Request,
    session: DbSession,
    me: CurrentUser,
    status: str = "",
    direction: str = "",
    contact_id: str = "",
    cursor: str = "",
) -> Response:
    filters = messaging.MessageFilter(
        status=status or None, direction=direction or None, contact_id=contact_id or None
    )
    rows, next_cursor = await messaging.list_messages(
        session, me.actor, filters, limit=PAGE_SIZE, cursor=cursor and check_cursor(cursor)
    )
    query = {"status": status, "direction": direction, "contact_id": contact_id}
    return render(
        request,
        "messages.html",
        rows=rows,
        statuses=[s.value for s in MessageStatus],
        status=status,
        direction=direction,
        contact_id=contact_id,
        next_cursor=next_cursor,
        paged=bool(cursor),
        query={k: v for k, v in query.items() if v},
    )


@router.get("/{message_id}")
async def message_page(
    request: Request, session: DbSession, me: CurrentUser, message_id: str
) -> Response:
    message = await messaging.get_message(session, me.actor, message_id)
    events = await messaging.message_events(session, me.actor, message_id)
    clicks, _ = await links.message_clicks(session, me.actor, message_id, limit=100)
    return render(
        request,
        "message.html",
        message=message,
        events=events,
        clicks=clicks,
        final=MessageStatus(message.status) in FINAL,
    )
