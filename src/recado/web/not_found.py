"""A readable page for an address under /app that does not exist (the API answers JSON)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from recado.web.rendering import PREFIX, WebRoute, render
from recado.web.session import CurrentUser

router = APIRouter(route_class=WebRoute)


@router.get(PREFIX + "/{path:path}")
async def not_found(request: Request, me: CurrentUser, path: str) -> Response:
    return render(
        request,
        "error.html",
        404,
        title="Not found",
        message="There is no page at this address; choose one from the menu.",
    )
