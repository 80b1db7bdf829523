"""The template library: ready-made texts by use case and language, and the workspace's own."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from recado.domain.template_library import LANGUAGES, find_library_templates, library_use_cases
from recado.services import campaigns, templates
from recado.web.rendering import PREFIX, WebRoute, redirect, render
from recado.web.session import CurrentUser, DbSession, web_session

router = APIRouter(prefix=f"{PREFIX}/templates", route_class=WebRoute)


@router.get("")
async def library_page(
    request: Request, session: DbSession, me: CurrentUser, use_case: str = "", language: str = ""
) -> Response:
    use_cases = library_use_cases()
    chosen_use_case = use_case if use_case in use_cases else ""
    chosen_language = language if language in LANGUAGES else ""
    found = find_library_templates(
        use_case=chosen_use_case or None, language=chosen_language or None
    )
    own, _ = await templates.list_templates(session, me.actor, limit=100)
    return render(
        request,
        "templates.html",
        library=found,
        use_cases=use_cases,
        languages=LANGUAGES,
        use_case=chosen_use_case,
        language=chosen_language,
        own=own,
        can_manage=me.may("manage_campaigns"),
    )


@router.post("/use")
async def use_in_campaign(request: Request, session: DbSession, me: CurrentUser) -> Response:
    """Copy a template into a new draft campaign, then choose its audience in the builder."""
    form = await request.form()
    text = {key: str(value).strip() for key, value in form.items() if isinstance(value, str)}
    draft = await campaigns.draft_from_template(
        session,
        me.actor,
        library_id=text.get("library_id") or None,
        language=text.get("language") or "en",
        template_id=text.get("template_id") or None,
    )
    web_session(request).notify(f"Draft “{draft.name}” made from the template: choose who gets it.")
    return redirect(f"{PREFIX}/campaigns/{draft.id}/audience")
