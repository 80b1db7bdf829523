"""Pages: the Jinja2 environment, the navigation, and the route class every UI router uses.

`WebRoute` wraps each UI endpoint: it loads the session cookie, refuses a form without the
session's CSRF token, turns a service error into a readable page or notice, and writes the
cookie back when it changed. Templates only show what the endpoints hand them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates

from recado.domain.roles import Permission
from recado.errors import PermissionDenied, RecadoError
from recado.services.actor import Actor
from recado.web.session import (
    CSRF_FIELD,
    CSRF_HEADER,
    CsrfRejected,
    SignedIn,
    SignInRequired,
    cookie_for,
    web_session,
)

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
PREFIX = "/app"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Scripts and styles come only from our own static files; no page may be framed.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'self'"
)

templates = Jinja2Templates(directory=HERE / "templates")

# (label, path, permission needed to see it)
NAV = (
    ("Dashboard", "/app/dashboard", "read"),
    ("Contacts", "/app/contacts", "read"),
    ("Lists", "/app/lists", "read"),
    ("Segments", "/app/segments", "read"),
    ("Campaigns", "/app/campaigns", "read"),
    ("Messages", "/app/messages", "read"),
    ("Templates", "/app/templates", "read"),
    ("Settings", "/app/settings", "manage_settings"),
    ("Developers", "/app/developers", "read"),
)


def _when(value: datetime | None) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M UTC")


def _number(value: int | float | None) -> str:
    return "" if value is None else f"{value:,}"


templates.env.filters["when"] = _when
templates.env.filters["number"] = _number
templates.env.filters["urlquote"] = lambda value: quote(str(value or ""), safe="")


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A page (or an htmx fragment) with what every page needs: user, nav, token, notices."""
    state = web_session(request)
    person: SignedIn | None = getattr(request.state, "signed_in", None)
    nav = [
        (label, path, request.url.path.startswith(path))
        for label, path, permission in NAV
        if person is not None and person.may(permission)
    ]
    return templates.TemplateResponse(
        request,
        name,
        {
            "me": person,
            "nav": nav,
            "csrf_token": state.csrf,
            "csrf_field": CSRF_FIELD,
            "notices": state.take_notices(),
            **context,
        },
        status_code=status_code,
    )


def redirect(path: str) -> RedirectResponse:
    """After a form: go and GET the page (303), so a reload does not post again."""
    return RedirectResponse(path, status_code=303)


def refusal(request: Request, actor: Actor, permission: Permission) -> Response | None:
    """The 403 refusal page when `actor` lacks `permission` (a form post that changes
    nothing says so on a page of its own, not as a notice on the form); None when allowed."""
    try:
        actor.require(permission)
    except PermissionDenied as refused:
        return render(request, "error.html", 403, title="Not allowed", message=refused.message)
    return None


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def _back(request: Request) -> str:
    """The page the form was on, if it is one of ours; else the dashboard."""
    parts = urlsplit(request.headers.get("referer", ""))
    if parts.netloc == request.url.netloc and parts.path.startswith(PREFIX):
        return parts.path + (f"?{parts.query}" if parts.query else "")
    return f"{PREFIX}/dashboard"


class WebRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def run(request: Request) -> Response:
            cookie = cookie_for(request)
            state = cookie.load(request)
            request.state.web_session = state
            try:
                if request.method not in SAFE_METHODS:
                    await _check_csrf(request)
                response = await handler(request)
            except SignInRequired:
                response = _to_sign_in(request)
            except CsrfRejected:
                response = render(
                    request,
                    "error.html",
                    403,
                    title="This form has expired",
                    message="The form was not sent from this session. Reload the page and "
                    "try again.",
                )
            except RecadoError as exc:
                response = _error_response(request, exc)
            if state.changed:
                cookie.save(state, response)
            response.headers.setdefault("Content-Security-Policy", CSP)
            response.headers.setdefault("X-Content-Type-Options", "nosniff")
            response.headers.setdefault("Referrer-Policy", "same-origin")
            if "text/html" in response.headers.get("content-type", ""):
                response.headers.setdefault("Cache-Control", "no-store")
            return response

        return run


async def _check_csrf(request: Request) -> None:
    sent = request.headers.get(CSRF_HEADER)
    if not sent:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            value = form.get(CSRF_FIELD)
            sent = value if isinstance(value, str) else None
    if not web_session(request).csrf_matches(sent):
        raise CsrfRejected()


def _to_sign_in(request: Request) -> Response:
    location = f"{PREFIX}/sign-in"
    if is_htmx(request):
        # htmx follows this header with a full page load instead of swapping in a fragment.
        return Response(status_code=204, headers={"HX-Redirect": location})
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.method == "GET" and target.startswith(PREFIX) and target != location:
        location += "?next=" + quote(target, safe="")
    return RedirectResponse(location, status_code=303)


def _error_response(request: Request, exc: RecadoError) -> Response:
    if is_htmx(request):
        return render(request, "_alert.html", 200, kind="error", message=exc.message)
    if request.method not in SAFE_METHODS and exc.status < 500:
        # A form's mistake: back to the form with the reason at the top.
        web_session(request).notify(exc.message, "error")
        return redirect(_back(request))
    titles = {403: "Not allowed", 404: "Not found"}
    return render(
        request,
        "error.html",
        exc.status,
        title=titles.get(exc.status, "That did not work"),
        message=exc.message,
    )
