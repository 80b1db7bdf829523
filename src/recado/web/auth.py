"""Signing in and out of the web UI with an email and a password."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response

from recado.errors import Unauthorized
from recado.services import credentials
from recado.web.rendering import PREFIX, WebRoute, redirect, render
from recado.web.session import DbSession, web_session

router = APIRouter(route_class=WebRoute)


@router.get("/")
async def home(request: Request) -> Response:
    """The UI's front door: the dashboard when signed in, else the sign-in page."""
    signed_in = web_session(request).user_id is not None
    return redirect(f"{PREFIX}/dashboard" if signed_in else f"{PREFIX}/sign-in")


@router.get(PREFIX)
async def app_root() -> Response:
    return redirect(f"{PREFIX}/dashboard")


@router.get(f"{PREFIX}/sign-in")
async def sign_in_page(request: Request, next: str = "") -> Response:
    if web_session(request).user_id is not None:
        return redirect(_safe_next(next))
    return render(request, "sign_in.html", next=_safe_next(next), email="", error=None)


@router.post(f"{PREFIX}/sign-in")
async def sign_in(
    request: Request,
    session: DbSession,
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
) -> Response:
    try:
        actor = await credentials.authenticate_user(session, email, password)
    except Unauthorized as exc:
        return render(
            request, "sign_in.html", 401, next=_safe_next(next), email=email, error=exc.message
        )
    assert actor.user_id is not None
    web_session(request).sign_in(actor.user_id)
    return redirect(_safe_next(next))


@router.post(f"{PREFIX}/sign-out")
async def sign_out(request: Request) -> Response:
    state = web_session(request)
    state.sign_out()
    state.notify("You are signed out.")
    return redirect(f"{PREFIX}/sign-in")


def _safe_next(target: str) -> str:
    """Only a page of the UI itself: never another site (an open redirect)."""
    if target.startswith(f"{PREFIX}/") and not target.startswith("//") and "\\" not in target:
        return target
    return f"{PREFIX}/dashboard"
