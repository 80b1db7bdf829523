"""Lists: create, rename, and see how many members each has."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response

from recado.services import lists
from recado.web.rendering import PREFIX, WebRoute, redirect, render
from recado.web.session import CurrentUser, DbSession, web_session

router = APIRouter(prefix=f"{PREFIX}/lists", route_class=WebRoute)

PAGE_SIZE = 50


@router.get("")
async def list_page(
    request: Request, session: DbSession, me: CurrentUser, cursor: str = ""
) -> Response:
    rows, next_cursor = await lists.list_lists(
        session, me.actor, limit=PAGE_SIZE, cursor=cursor or None
    )
    return render(
        request,
        "lists.html",
        rows=rows,
        next_cursor=next_cursor,
        paged=bool(cursor),
        query={},
        can_manage=me.may("manage_audience"),
    )


@router.post("")
async def create(
    request: Request,
    session: DbSession,
    me: CurrentUser,
    name: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
) -> Response:
    created = await lists.create_list(
        session, me.actor, name=name, description=description.strip() or None
    )
    web_session(request).notify(f"List “{created.contact_list.name}” created.")
    return redirect(f"{PREFIX}/lists")


@router.post("/{list_id}/rename")
async def rename(
    request: Request,
    session: DbSession,
    me: CurrentUser,
    list_id: str,
    name: Annotated[str, Form()] = "",
) -> Response:
    renamed = await lists.update_list(session, me.actor, list_id, name=name)
    web_session(request).notify(f"List renamed to “{renamed.contact_list.name}”.")
    return redirect(f"{PREFIX}/lists")
