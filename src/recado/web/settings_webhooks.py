"""Settings > Webhooks: the default status-callback URL, the signing secret, recent deliveries.

The new signing secret is shown on the answer to the rotation only (no redirect), as API keys
are: it never travels in a cookie or a URL.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response

from recado.domain.roles import Permission
from recado.services import workspace_admin
from recado.web.rendering import PREFIX, WebRoute, redirect, refusal, render
from recado.web.session import CurrentUser, DbSession, web_session
from recado.web.settings_pages import TABS

router = APIRouter(prefix=f"{PREFIX}/settings", route_class=WebRoute)

PAGE = f"{PREFIX}/settings/webhooks"


async def _page(
    request: Request, session: DbSession, me: CurrentUser, new_secret: str | None = None
) -> Response:
    _, settings = await workspace_admin.get_workspace(session, me.actor)
    deliveries = await workspace_admin.recent_webhook_deliveries(session, me.actor, limit=50)
    return render(
        request,
        "settings/webhooks.html",
        tabs=TABS,
        here=PAGE,
        webhook_url=settings.webhook_url or "",
        has_secret=bool(settings.webhook_secret),
        deliveries=deliveries,
        new_secret=new_secret,
    )


@router.get("/webhooks")
async def webhooks_page(request: Request, session: DbSession, me: CurrentUser) -> Response:
    me.actor.require(Permission.MANAGE_SETTINGS)
    return await _page(request, session, me)


@router.post("/webhooks")
async def save_webhook_url(
    request: Request,
    session: DbSession,
    me: CurrentUser,
    webhook_url: Annotated[str, Form()] = "",
) -> Response:
    if refused := refusal(request, me.actor, Permission.MANAGE_SETTINGS):
        return refused
    saved = await workspace_admin.set_webhook_url(session, me.actor, webhook_url)
    web_session(request).notify(
        "Webhook URL saved." if saved else "Webhook URL cleared: no default status callbacks."
    )
    return redirect(PAGE)


@router.post("/webhooks/rotate")
async def rotate_secret(request: Request, session: DbSession, me: CurrentUser) -> Response:
    if refused := refusal(request, me.actor, Permission.MANAGE_SETTINGS):
        return refused
    secret = await workspace_admin.rotate_webhook_secret(session, me.actor)
    return await _page(request, session, me, new_secret=secret)
