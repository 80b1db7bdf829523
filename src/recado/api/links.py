"""Short links: /l/{code} sends the reader on and records the click; a message's clicks."""

from __future__ import annotations

from datetime import datetime
from html import escape

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from recado.api.deps import CurrentActor, Session
from recado.api.pages import Cursor, Limit, Page
from recado.domain.links import is_code
from recado.services import links

router = APIRouter(tags=["links"])

# Every click must reach us to be counted, and a short link must not be indexed.
_REDIRECT_HEADERS = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex"}

# People open these on phones, from a text: a page in their language, not a JSON error.
_NOT_FOUND_TEXTS = {
    "en": ("Link not found", "This link does not exist or is no longer available."),
    "pt": ("Link não encontrado", "Este link não existe ou não está mais disponível."),
    "es": ("Enlace no encontrado", "Este enlace no existe o ya no está disponible."),
}
_NOT_FOUND_PAGE = """<!doctype html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 0; min-height: 100vh; display: flex;
  align-items: center; justify-content: center; background: #f6f7f9; color: #222; }}
main {{ max-width: 22rem; padding: 2rem 1.5rem; text-align: center; }}
h1 {{ font-size: 1.4rem; margin: 0 0 .75rem; }}
p {{ font-size: 1.05rem; line-height: 1.5; margin: 0; color: #555; }}
</style>
</head>
<body><main><h1>{title}</h1><p>{text}</p></main></body>
</html>
"""


class ClickOut(BaseModel):
    """One click on a tracked link of a message."""

    at: datetime = Field(description="When the link was opened (UTC)")
    user_agent: str | None = Field(description="The browser or app that opened it")
    url: str = Field(description="Where the link leads")
    code: str = Field(description="The short link's code")
    contact_id: str | None = Field(description="The recipient the link was made for")


@router.get(
    "/l/{code:path}",
    include_in_schema=False,
    response_class=RedirectResponse,
    status_code=302,
)
async def follow(code: str, request: Request, session: Session) -> Response:
    """Redirect to the link's URL and record the click; a friendly page for unknown codes."""
    # The shape check keeps scanners and typos away from the database.
    target = (
        await links.record_click(session, code, request.headers.get("user-agent"))
        if is_code(code)
        else None
    )
    if target is None:
        return _not_found_page(request.headers.get("accept-language", ""))
    return RedirectResponse(target, status_code=302, headers=_REDIRECT_HEADERS)


@router.get(
    "/v1/messages/{message_id}/clicks",
    response_model=Page[ClickOut],
    summary="List the clicks on a message's links",
)
async def message_clicks(
    message_id: str,
    session: Session,
    actor: CurrentActor,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Page[ClickOut]:
    rows, next_cursor = await links.message_clicks(
        session, actor, message_id, limit=limit, cursor=cursor
    )
    return Page(
        data=[
            ClickOut(
                at=row.at,
                user_agent=row.user_agent,
                url=row.url,
                code=row.code,
                contact_id=row.contact_id,
            )
            for row in rows
        ],
        next_cursor=next_cursor,
    )


def _not_found_page(accept_language: str) -> HTMLResponse:
    lang = _language(accept_language)
    title, text = _NOT_FOUND_TEXTS[lang]
    page = _NOT_FOUND_PAGE.format(lang=lang, title=escape(title), text=escape(text))
    return HTMLResponse(page, status_code=404, headers=_REDIRECT_HEADERS)


def _language(accept_language: str) -> str:
    """The first language of the header that the page is written in; English otherwise."""
    for item in accept_language.split(","):
        primary = item.split(";")[0].strip().lower()[:2]
        if primary in _NOT_FOUND_TEXTS:
            return primary
    return "en"
