"""Settings > Signup forms: the workspace's hosted forms (`/f/<slug>`), made and deleted here."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response

from recado.api.deps import get_platform
from recado.domain.roles import Permission
from recado.services import lists, signup_forms
from recado.web.rendering import PREFIX, WebRoute, redirect, refusal, render
from recado.web.session import CurrentUser, DbSession, web_session
from recado.web.settings_pages import TABS

router = APIRouter(prefix=f"{PREFIX}/settings", route_class=WebRoute)

PAGE = f"{PREFIX}/settings/forms"


def public_url(base_url: str, slug: str) -> str:
    """Where people fill the form in (the route `/f/{slug}` of the API's public pages)."""
    return f"{base_url.rstrip('/')}/f/{slug}"


@router.get("/forms")
async def forms_page(request: Request, session: DbSession, me: CurrentUser) -> Response:
    me.actor.require(Permission.MANAGE_SETTINGS)
    forms, _ = await signup_forms.list_forms(session, me.actor, limit=200)
    contact_lists, _ = await lists.list_lists(session, me.actor, limit=200)
    names = {d.contact_list.id: d.contact_list.name for d in contact_lists}
    base_url = get_platform(request).settings.base_url
    return render(
        request,
        "settings/signup_forms.html",
        tabs=TABS,
        here=PAGE,
        forms=[(f, public_url(base_url, f.slug), names.get(f.list_id, "")) for f in forms],
        lists=[(d.contact_list.id, d.contact_list.name) for d in contact_lists],
    )


@router.post("/forms")
async def create_form(
    request: Request,
    session: DbSession,
    me: CurrentUser,
    title: Annotated[str, Form()] = "",
    list_id: Annotated[str, Form()] = "",
    consent_text: Annotated[str, Form()] = "",
    welcome_message: Annotated[str, Form()] = "",
) -> Response:
    if refused := refusal(request, me.actor, Permission.MANAGE_SETTINGS):
        return refused
    form = await signup_forms.create_form(
        session,
        me.actor,
        list_id=list_id,
        title=title,
        consent_text=consent_text.strip() or None,  # empty: the standard text
        welcome_message=welcome_message.strip() or None,
    )
    web_session(request).notify(f"Signup form “{form.title}” created.")
    return redirect(PAGE)


@router.post("/forms/{form_id}/delete")
async def delete_form(
    request: Request, session: DbSession, me: CurrentUser, form_id: str
) -> Response:
    if refused := refusal(request, me.actor, Permission.MANAGE_SETTINGS):
        return refused
    await signup_forms.delete_form(session, me.actor, form_id)
    web_session(request).notify("Signup form deleted: its page no longer answers.")
    return redirect(PAGE)


@router.get("/forms/{form_id}")
async def edit_form_page(
    request: Request, session: DbSession, me: CurrentUser, form_id: str
) -> Response:
    me.actor.require(Permission.MANAGE_SETTINGS)
    form = await signup_forms.get_form(session, me.actor, form_id)
    contact_lists, _ = await lists.list_lists(session, me.actor, limit=200)
    return render(
        request,
        "settings/signup_form_edit.html",
        tabs=TABS,
        here=PAGE,
        form=form,
        public_url=public_url(get_platform(request).settings.base_url, form.slug),
        lists=[(d.contact_list.id, d.contact_list.name) for d in contact_lists],
    )


@router.post("/forms/{form_id}")
async def update_form(
    request: Request,
    session: DbSession,
    me: CurrentUser,
    form_id: str,
    title: Annotated[str, Form()] = "",
    list_id: Annotated[str, Form()] = "",
    consent_text: Annotated[str, Form()] = "",
    welcome_message: Annotated[str, Form()] = "",
) -> Response:
    if refused := refusal(request, me.actor, Permission.MANAGE_SETTINGS):
        return refused
    form = await signup_forms.update_form(
        session,
        me.actor,
        form_id,
        title=title,
        list_id=list_id,
        consent_text=consent_text,
        welcome_message=welcome_message.strip() or None,
    )
    web_session(request).notify(f"Signup form “{form.title}” saved.")
    return redirect(PAGE)
