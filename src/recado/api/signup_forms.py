"""Signup forms: /v1/signup-forms to manage them, and the public pages at /f/{slug}.

The public pages need no key: anyone with the link (or a site that embeds it) may subscribe
a number, so the service rate-limits them and double opt-in asks the number itself.
"""

from __future__ import annotations

import logging
import math
from datetime import datetime
from html import escape
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request, Response, status
from fastapi.responses import HTMLResponse, JSONResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from pydantic import BaseModel, ConfigDict, Field

from recado.api.deps import CurrentActor, Session, get_platform
from recado.api.errors import error_body
from recado.api.pages import Cursor, Limit, Page
from recado.db.tables import SignupForm
from recado.domain.compliance_replies import base_language
from recado.errors import InvalidPhoneNumber, NotFound, RecadoError
from recado.services import signup_forms
from recado.services.contacts import UNSET
from recado.services.signup_forms import Outcome, PublicForm, SubmissionLimited

log = logging.getLogger(__name__)
router = APIRouter(tags=["signup forms"])

_PAGES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
# Not cached, not indexed; styles are inline and the form posts back to this page only.
_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self'; base-uri 'none'",
}

# What the page says, in the languages forms exist in (services.signup_forms.LANGUAGES).
_TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "label": "Mobile number",
        "hint": "For example",
        "submit": "Subscribe",
        "sent_title": "Check your phone",
        "sent": "We texted {phone}. Reply YES to that text within 48 hours to confirm "
        "your subscription.",
        "subscribed_title": "You're subscribed",
        "subscribed": "{phone} will get texts from {program}. Reply STOP at any time to opt out.",
        "not_found_title": "Form not found",
        "not_found": "This signup form does not exist or is no longer available.",
        "invalid_phone": "Enter a valid mobile number, for example {example}.",
        "too_many": "Too many sign-ups in a short time. Try again in {wait}.",
        "unavailable": "We could not sign you up right now. Please try again later.",
        "seconds": "{n} seconds",
        "minutes": "{n} minutes",
        "hours": "{n} hours",
    },
    "pt": {
        "label": "Número de celular",
        "hint": "Por exemplo",
        "submit": "Inscrever-se",
        "sent_title": "Confira seu celular",
        "sent": "Enviamos uma mensagem para {phone}. Responda SIM em até 48 horas para "
        "confirmar sua inscrição.",
        "subscribed_title": "Inscrição feita",
        "subscribed": "{phone} vai receber mensagens de {program}. Responda SAIR a qualquer "
        "momento para cancelar.",
        "not_found_title": "Formulário não encontrado",
        "not_found": "Este formulário de inscrição não existe ou não está mais disponível.",
        "invalid_phone": "Digite um número de celular válido, por exemplo {example}.",
        "too_many": "Muitas inscrições em pouco tempo. Tente novamente em {wait}.",
        "unavailable": "Não foi possível fazer sua inscrição agora. Tente novamente mais tarde.",
        "seconds": "{n} segundos",
        "minutes": "{n} minutos",
        "hours": "{n} horas",
    },
    "es": {
        "label": "Número de celular",
        "hint": "Por ejemplo",
        "submit": "Suscribirme",
        "sent_title": "Revisa tu teléfono",
        "sent": "Enviamos un mensaje a {phone}. Responde SI en un plazo de 48 horas para "
        "confirmar tu suscripción.",
        "subscribed_title": "Ya estás suscrito",
        "subscribed": "{phone} recibirá mensajes de {program}. Responde BAJA en cualquier "
        "momento para cancelar.",
        "not_found_title": "Formulario no encontrado",
        "not_found": "Este formulario de suscripción no existe o ya no está disponible.",
        "invalid_phone": "Escribe un número de celular válido, por ejemplo {example}.",
        "too_many": "Demasiadas suscripciones en poco tiempo. Inténtalo de nuevo en {wait}.",
        "unavailable": "No pudimos suscribirte ahora. Inténtalo de nuevo más tarde.",
        "seconds": "{n} segundos",
        "minutes": "{n} minutos",
        "hours": "{n} horas",
    },
}


# --- the JSON API ------------------------------------------------------------------------------


class SignupFormIn(BaseModel):
    """A new hosted signup form for a list."""

    model_config = ConfigDict(extra="forbid")

    list_id: str = Field(description="The list people subscribe to")
    title: str = Field(description="The page's heading, up to 200 characters")
    slug: str | None = Field(
        default=None,
        description="The page's address, /f/<slug>: 3 to 64 lowercase letters, digits and "
        "hyphens, unique across Recado; made from the title when left out",
    )
    consent_text: str | None = Field(
        default=None,
        description="The words shown next to the button, which people agree to (up to 2000 "
        "characters). Left out: a standard text in the form's language naming your program; "
        "state your message frequency in your own.",
    )
    double_opt_in: bool = Field(
        default=True,
        description="Text 'Reply YES to confirm' and subscribe only on that reply (within 48 "
        "hours). Numbers that opted out always confirm this way.",
    )
    welcome_message: str | None = Field(
        default=None, description="Texted to each new subscriber once subscribed"
    )
    language: str = Field(default="en", description="en, pt or es, optionally with a region")


class SignupFormPatch(BaseModel):
    """Change a form; fields left out stay as they are. A new slug changes the page's URL."""

    model_config = ConfigDict(extra="forbid")

    list_id: str | None = None
    title: str | None = None
    slug: str | None = None
    consent_text: str | None = None
    double_opt_in: bool | None = None
    welcome_message: str | None = Field(default=None, description="Null removes it")
    language: str | None = None


class EmbedOut(BaseModel):
    """Ways to put the form on your own site."""

    iframe: str = Field(description="An <iframe> showing the hosted page")
    html_form: str = Field(
        description="A plain HTML form that posts to the hosted page (style it as you like; "
        "keep the consent text next to the button)"
    )


class SignupFormOut(BaseModel):
    """A hosted signup form, its public URL and snippets to embed it."""

    id: str
    list_id: str
    slug: str
    title: str
    consent_text: str
    double_opt_in: bool
    welcome_message: str | None
    language: str
    url: str = Field(
        description="The public page. It also takes POSTs of `phone` (form-encoded or JSON); "
        "send `Accept: application/json` for a JSON answer."
    )
    embed: EmbedOut
    created_at: datetime

    @classmethod
    def of(cls, form: SignupForm, base_url: str) -> SignupFormOut:
        url = f"{base_url}/f/{form.slug}"
        return cls(
            id=form.id,
            list_id=form.list_id,
            slug=form.slug,
            title=form.title,
            consent_text=form.consent_text,
            double_opt_in=form.double_opt_in,
            welcome_message=form.welcome_message,
            language=form.language,
            url=url,
            embed=_embed(form, url),
            created_at=form.created_at,
        )


def _embed(form: SignupForm, url: str) -> EmbedOut:
    t = _texts(form.language)
    src, title = escape(url), escape(form.title)
    iframe = (
        f'<iframe src="{src}" title="{title}" width="100%" height="560" loading="lazy" '
        'style="border:0;max-width:480px"></iframe>'
    )
    html_form = (
        f'<form action="{src}" method="post">\n'
        f'  <label for="recado-phone">{escape(t["label"])}</label>\n'
        '  <input id="recado-phone" name="phone" type="tel" inputmode="tel" '
        'autocomplete="tel" required>\n'
        f'  <p id="recado-consent">{escape(form.consent_text)}</p>\n'
        f'  <button type="submit" aria-describedby="recado-consent">{escape(t["submit"])}'
        "</button>\n"
        "</form>"
    )
    return EmbedOut(iframe=iframe, html_form=html_form)


def _base_url(request: Request) -> str:
    return get_platform(request).settings.base_url


@router.post(
    "/v1/signup-forms",
    status_code=status.HTTP_201_CREATED,
    response_model=SignupFormOut,
    summary="Create a signup form",
)
async def create(
    payload: SignupFormIn, request: Request, session: Session, actor: CurrentActor
) -> SignupFormOut:
    form = await signup_forms.create_form(session, actor, **payload.model_dump())
    return SignupFormOut.of(form, _base_url(request))


@router.get(
    "/v1/signup-forms",
    response_model=Page[SignupFormOut],
    summary="List signup forms",
    description="Newest first; page with `limit` and `cursor`.",
)
async def list_forms(
    request: Request,
    session: Session,
    actor: CurrentActor,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[SignupFormOut]:
    rows, next_cursor = await signup_forms.list_forms(session, actor, limit=limit, cursor=cursor)
    base = _base_url(request)
    return Page(data=[SignupFormOut.of(f, base) for f in rows], next_cursor=next_cursor)


@router.get(
    "/v1/signup-forms/{form_id}", response_model=SignupFormOut, summary="Read a signup form"
)
async def read(
    form_id: str, request: Request, session: Session, actor: CurrentActor
) -> SignupFormOut:
    form = await signup_forms.get_form(session, actor, form_id)
    return SignupFormOut.of(form, _base_url(request))


@router.patch(
    "/v1/signup-forms/{form_id}", response_model=SignupFormOut, summary="Change a signup form"
)
async def update(
    form_id: str,
    payload: SignupFormPatch,
    request: Request,
    session: Session,
    actor: CurrentActor,
) -> SignupFormOut:
    sent = payload.model_dump(exclude_unset=True)
    if sent.get("double_opt_in", False) is None:
        del sent["double_opt_in"]  # null: as it is
    for required in ("list_id", "title", "slug", "consent_text", "language"):
        if required in sent and sent[required] is None:
            sent[required] = ""  # these cannot be cleared: the service answers why
    changes: dict[str, Any] = {name: sent.get(name, UNSET) for name in SignupFormPatch.model_fields}
    form = await signup_forms.update_form(session, actor, form_id, **changes)
    return SignupFormOut.of(form, _base_url(request))


@router.delete(
    "/v1/signup-forms/{form_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a signup form",
    description="Its page stops working; confirmations already asked for still count.",
)
async def delete(form_id: str, session: Session, actor: CurrentActor) -> Response:
    await signup_forms.delete_form(session, actor, form_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- the public pages --------------------------------------------------------------------------


@router.get("/f/{slug}", include_in_schema=False, response_class=HTMLResponse)
async def page(slug: str, request: Request, session: Session) -> Response:
    """The hosted form."""
    try:
        form = await signup_forms.public_form(session, slug)
    except NotFound:
        return _not_found(request, wants_json=False)
    return _form_page(form, request)


@router.post("/f/{slug}", include_in_schema=False, response_class=HTMLResponse)
async def submit(slug: str, request: Request, session: Session) -> Response:
    """A submission of the hosted form (or of an embedded copy, or JSON from a site's code)."""
    wants_json = _wants_json(request)
    try:
        form = await signup_forms.public_form(session, slug)
    except NotFound:
        return _not_found(request, wants_json=wants_json)
    phone = await _phone_field(request)
    try:
        submission = await signup_forms.submit(
            session,
            slug,
            phone,
            ip=request.client.host if request.client else None,
            user_agent=request.headers.get("user-agent"),
            link_base_url=_base_url(request),
        )
    except NotFound:  # deleted between the two reads
        return _not_found(request, wants_json=wants_json)
    except RecadoError as error:
        return _failed(form, request, phone, error, wants_json=wants_json)
    return _succeeded(form, submission, wants_json=wants_json)


def _wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


async def _phone_field(request: Request) -> str:
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            body = await request.json()
        except ValueError:
            return ""
        value = body.get("phone") if isinstance(body, dict) else None
    else:
        value = (await request.form()).get("phone")
    return value if isinstance(value, str) else ""


def _succeeded(
    form: PublicForm, submission: signup_forms.Submission, *, wants_json: bool
) -> Response:
    t = _texts(form.language)
    sent = submission.outcome == Outcome.CONFIRMATION_SENT
    heading = t["sent_title"] if sent else t["subscribed_title"]
    message = (t["sent"] if sent else t["subscribed"]).format(
        phone=submission.phone, program=form.program
    )
    if wants_json:
        return JSONResponse(
            {"status": submission.outcome.value, "phone": submission.phone, "message": message},
            headers={"Cache-Control": "no-store"},
        )
    return _render(form.language, state="result", heading=heading, message=message, status_code=200)


def _failed(
    form: PublicForm, request: Request, phone: str, error: RecadoError, *, wants_json: bool
) -> Response:
    headers = {}
    if isinstance(error, SubmissionLimited):
        headers["Retry-After"] = str(error.retry_after)
    if wants_json:
        return JSONResponse(
            error_body(error.code, error.message, error.field),
            status_code=error.status,
            headers={"Cache-Control": "no-store", **headers},
        )
    return _form_page(
        form,
        request,
        phone=phone,
        error=_error_text(form, error),
        invalid=error.field == "phone",
        status_code=error.status,
        headers=headers,
    )


def _error_text(form: PublicForm, error: RecadoError) -> str:
    """The service's own words on English pages; the page's language otherwise."""
    t = _texts(form.language)
    if not isinstance(error, InvalidPhoneNumber | SubmissionLimited):
        # Not the visitor's doing (no sender configured, say): the operator must hear of it.
        log.warning("signup form %s failed: %s", form.slug, error.message)
        return t["unavailable"]
    if (base_language(form.language) or "en") == "en":
        return error.message
    if isinstance(error, SubmissionLimited):
        return t["too_many"].format(wait=_wait(t, error.retry_after))
    return t["invalid_phone"].format(example=form.example_phone)


def _wait(t: dict[str, str], seconds: int) -> str:
    if seconds < 60:
        return t["seconds"].format(n=seconds)
    if seconds < 90 * 60:
        return t["minutes"].format(n=math.ceil(seconds / 60))
    return t["hours"].format(n=math.ceil(seconds / 3600))


def _form_page(
    form: PublicForm,
    request: Request,
    *,
    phone: str = "",
    error: str | None = None,
    invalid: bool = False,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    return _render(
        form.language,
        state="form",
        heading=form.title,
        action=request.url.path,
        consent_text=form.consent_text,
        example=form.example_phone,
        phone=phone[:40],
        error=error,
        invalid=invalid,
        status_code=status_code,
        headers=headers,
    )


def _not_found(request: Request, *, wants_json: bool) -> Response:
    if wants_json:
        return JSONResponse(
            error_body("not_found", "No signup form at this address."), status_code=404
        )
    lang = _accepted_language(request.headers.get("accept-language", ""))
    t = _texts(lang)
    return _render(
        lang,
        state="result",
        heading=t["not_found_title"],
        message=t["not_found"],
        status_code=404,
    )


def _render(
    lang: str,
    *,
    state: str,
    status_code: int,
    headers: dict[str, str] | None = None,
    **values: Any,
) -> HTMLResponse:
    html = _PAGES.get_template("signup_form.html").render(
        lang=lang, state=state, t=_texts(lang), **values
    )
    return HTMLResponse(html, status_code=status_code, headers={**_PAGE_HEADERS, **(headers or {})})


def _texts(language: str) -> dict[str, str]:
    return _TEXTS.get(base_language(language) or "en", _TEXTS["en"])


def _accepted_language(header: str) -> str:
    """The first language of an Accept-Language header that pages are written in."""
    for item in header.split(","):
        primary = item.split(";")[0].strip().lower()[:2]
        if primary in _TEXTS:
            return primary
    return "en"
