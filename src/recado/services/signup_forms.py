"""Hosted signup forms (`/f/<slug>`): people subscribe themselves to a list, by double opt-in.

A submission with double opt-in stores an `OptInRequest`, marks the member "pending" and
texts "Reply YES to confirm"; `compliance_inbound` records the consent when the YES comes
within 48 hours. Without double opt-in the consent is recorded at once. A number on the
suppression list is only ever resubscribed by the person's own YES, whatever the form says.

Abuse protection: at most `PER_IP` submissions per address per hour and `PER_NUMBER` per
number per day. The counts live in this process's memory (the embedded mode has one
process); with several API processes each counts on its own, so the limits multiply.
"""

from __future__ import annotations

import logging
import math
import re
import unicodedata
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import phonenumbers
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from recado.db.pages import page_by_id
from recado.db.tables import (
    Contact,
    ContactList,
    ListMember,
    OptInRequest,
    SignupForm,
    Workspace,
    utcnow,
)
from recado.domain.compliance_replies import ReplyKind, base_language, reply_text
from recado.domain.phone import PhoneNumber, parse_phone
from recado.domain.roles import Permission
from recado.domain.workspace_settings import read_settings
from recado.errors import (
    Conflict,
    InvalidPhoneNumber,
    NotFound,
    RecadoError,
    TooManyRequests,
    ValidationFailed,
)
from recado.ids import new_id
from recado.services import consent, messaging
from recado.services.actor import Actor, system_actor
from recado.services.compliance_inbound import CONFIRMATION_WINDOW, program_name
from recado.services.contacts import UNSET, Unset, check_cursor, looks_like_id, single_line
from recado.services.contacts_lookup import ensure_contact
from recado.services.lists import MemberStatus

log = logging.getLogger(__name__)

SLUG = re.compile(r"^[a-z0-9-]{3,64}$")
LANGUAGES = ("en", "pt", "es")  # the languages the page and the default consent text exist in
_LANGUAGE_TAG = re.compile(r"^([a-z]{2})(?:[-_]([A-Za-z]{2}))?$")
MAX_TITLE = 200
MAX_PHONE_INPUT = 40
MAX_IP = 64
MAX_USER_AGENT = 500

# The person agrees to these words; the workspace should state its own message frequency.
DEFAULT_CONSENT_TEXTS = {
    "en": "By submitting this form, you agree to receive recurring marketing text messages "
    "from {program} at the number provided. Consent is not a condition of purchase. "
    "Message frequency varies. Msg&data rates may apply. Reply STOP to opt out, HELP for help.",
    "pt": "Ao enviar este formulário, você concorda em receber mensagens de texto de marketing "
    "recorrentes de {program} no número informado. O consentimento não é condição para "
    "compra. A frequência das mensagens varia. Podem ser cobradas tarifas de mensagens e "
    "dados. Responda SAIR para cancelar, AJUDA para ajuda.",
    "es": "Al enviar este formulario, aceptas recibir mensajes de texto de marketing "
    "recurrentes de {program} en el número indicado. El consentimiento no es condición de "
    "compra. La frecuencia de los mensajes varía. Pueden aplicarse tarifas de mensajes y "
    "datos. Responde BAJA para cancelar, AYUDA para ayuda.",
}


class Outcome(StrEnum):
    CONFIRMATION_SENT = "confirmation_sent"  # "Reply YES to confirm" is on its way
    SUBSCRIBED = "subscribed"  # single opt-in: consent recorded, member subscribed


@dataclass(frozen=True)
class PublicForm:
    """What the hosted page shows, read once: plain values, safe to use after any rollback."""

    slug: str
    title: str
    consent_text: str
    language: str
    double_opt_in: bool
    program: str
    example_phone: str  # a mobile number of the workspace's country, as a placeholder


@dataclass(frozen=True)
class Submission:
    outcome: Outcome
    phone: str  # E.164


class SubmissionLimited(TooManyRequests):
    """Too many submissions from one address or for one number; `retry_after` in seconds."""

    def __init__(self, message: str, *, retry_after: int, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.retry_after = retry_after


# --- rate limits -------------------------------------------------------------------------------


class SlidingWindow:
    """At most `limit` events per key in any `seconds`-long window, counted in this process."""

    _SWEEP_ABOVE = 50_000  # keys; beyond this, keys with only expired events are dropped

    def __init__(self, limit: int, seconds: float) -> None:
        self.limit = limit
        self.seconds = seconds
        self._events: dict[str, deque[float]] = {}

    def retry_after(self, key: str, at: float) -> float | None:
        """Seconds until `key` may act again, or None when it may act now."""
        events = self._events.get(key)
        if not events:
            return None
        while events and events[0] <= at - self.seconds:
            events.popleft()
        if len(events) < self.limit:
            return None
        return events[0] + self.seconds - at

    def record(self, key: str, at: float) -> None:
        if len(self._events) > self._SWEEP_ABOVE:
            self._sweep(at)
        self._events.setdefault(key, deque()).append(at)

    def reset(self) -> None:
        self._events.clear()

    def _sweep(self, at: float) -> None:
        expired = [k for k, e in self._events.items() if not e or e[-1] <= at - self.seconds]
        for key in expired:
            del self._events[key]


PER_IP = SlidingWindow(limit=5, seconds=3600)
PER_NUMBER = SlidingWindow(limit=3, seconds=86400)


def reset_rate_limits() -> None:
    """Forget every count (tests, or an operator after a false alarm)."""
    PER_IP.reset()
    PER_NUMBER.reset()


def _wait_text(seconds: float) -> str:
    if seconds < 60:
        n = max(1, math.ceil(seconds))
        return f"{n} second{'s' if n != 1 else ''}"
    if seconds < 90 * 60:
        n = math.ceil(seconds / 60)
        return f"{n} minute{'s' if n != 1 else ''}"
    n = math.ceil(seconds / 3600)
    return f"{n} hour{'s' if n != 1 else ''}"


# --- forms -------------------------------------------------------------------------------------


async def create_form(
    session: AsyncSession,
    actor: Actor,
    *,
    list_id: str,
    title: str,
    slug: str | None = None,
    consent_text: str | None = None,
    double_opt_in: bool = True,
    welcome_message: str | None = None,
    language: str = "en",
) -> SignupForm:
    """A new form for a list. Without a slug one is made from the title; without a consent
    text the standard one for the language, naming the workspace's program, is used."""
    actor.require(Permission.MANAGE_AUDIENCE)
    workspace = await _workspace(session, actor.workspace_id)
    contact_list = await _list(session, actor, list_id)
    clean_title = _title(title)
    clean_language = _language(language)
    if consent_text is None:
        program = program_name(read_settings(workspace.settings), workspace)
        consent_text = DEFAULT_CONSENT_TEXTS[base_language(clean_language) or "en"].replace(
            "{program}", program
        )
    form = SignupForm(
        id=new_id("form"),
        workspace_id=actor.workspace_id,
        list_id=contact_list.id,
        slug="",
        title=clean_title,
        consent_text=_consent_text(consent_text),
        double_opt_in=bool(double_opt_in),
        welcome_message=_welcome(welcome_message),
        language=clean_language,
        created_at=utcnow(),
    )
    if slug is not None:
        form.slug = _slug(slug)
        await _require_slug_free(session, form.slug)
        session.add(form)
        await _commit(session, form.slug)
        return form
    # A made-up slug that a concurrent form took meanwhile: make another.
    for _ in range(5):
        form.slug = await _free_slug(session, clean_title)
        session.add(form)
        try:
            await session.commit()
            return form
        except IntegrityError:
            await session.rollback()
    raise Conflict("Could not find a free slug for this title; give one.", field="slug")


async def get_form(session: AsyncSession, actor: Actor, form_id: str) -> SignupForm:
    actor.require(Permission.READ)
    return await _get(session, actor, form_id)


async def list_forms(
    session: AsyncSession, actor: Actor, *, limit: int = 50, cursor: str | None = None
) -> tuple[list[SignupForm], str | None]:
    """Newest first; `cursor` is the id of the last form of the previous page."""
    actor.require(Permission.READ)
    query = select(SignupForm).where(SignupForm.workspace_id == actor.workspace_id)
    return await page_by_id(
        session, query, SignupForm.id, limit=limit, cursor=cursor and check_cursor(cursor)
    )


async def update_form(
    session: AsyncSession,
    actor: Actor,
    form_id: str,
    *,
    list_id: str | Unset = UNSET,
    title: str | Unset = UNSET,
    slug: str | Unset = UNSET,
    consent_text: str | Unset = UNSET,
    double_opt_in: bool | Unset = UNSET,
    welcome_message: str | None | Unset = UNSET,
    language: str | Unset = UNSET,
) -> SignupForm:
    """Change a form; a field left UNSET stays as it is. A new slug changes the public URL."""
    actor.require(Permission.MANAGE_AUDIENCE)
    form = await _get(session, actor, form_id)
    if list_id is not UNSET:
        form.list_id = (await _list(session, actor, list_id)).id
    if title is not UNSET:
        form.title = _title(title)
    if consent_text is not UNSET:
        form.consent_text = _consent_text(consent_text)
    if double_opt_in is not UNSET:
        form.double_opt_in = bool(double_opt_in)
    if welcome_message is not UNSET:
        form.welcome_message = _welcome(welcome_message)
    if language is not UNSET:
        form.language = _language(language)
    if slug is not UNSET and _slug(slug) != form.slug:
        await _require_slug_free(session, _slug(slug))  # before the change: no autoflush of it
        form.slug = _slug(slug)
    await _commit(session, form.slug)
    return form


async def delete_form(session: AsyncSession, actor: Actor, form_id: str) -> None:
    """Delete the form; its pending requests can still be confirmed (they keep their text)."""
    actor.require(Permission.MANAGE_AUDIENCE)
    form = await _get(session, actor, form_id)
    await session.delete(form)
    await session.commit()


# --- the public side ---------------------------------------------------------------------------


async def public_form(session: AsyncSession, slug: str) -> PublicForm:
    """The form behind `/f/<slug>`, for anyone: NotFound when there is none."""
    form = await _by_slug(session, slug)
    workspace = await _workspace(session, form.workspace_id)
    return PublicForm(
        slug=form.slug,
        title=form.title,
        consent_text=form.consent_text,
        language=form.language,
        double_opt_in=form.double_opt_in,
        program=program_name(read_settings(workspace.settings), workspace),
        example_phone=example_phone(workspace.default_country),
    )


async def submit(
    session: AsyncSession,
    slug: str,
    phone: str,
    *,
    ip: str | None,
    user_agent: str | None,
    now: datetime | None = None,
    link_base_url: str | None = None,
) -> Submission:
    """Someone typed `phone` into the form: ask them to confirm, or subscribe them.

    Raises NotFound (no such form), InvalidPhoneNumber (field "phone") and
    SubmissionLimited (429). Commits.
    """
    now = now or utcnow()
    form = await _by_slug(session, slug)
    workspace = await _workspace(session, form.workspace_id)
    at = now.timestamp()
    ip = (ip or "")[:MAX_IP] or None
    user_agent = (user_agent or "")[:MAX_USER_AGENT] or None
    if ip is not None:
        _check_limit(PER_IP, f"ip:{ip}", at, "from your network this hour", field=None)
        PER_IP.record(f"ip:{ip}", at)
    number = _parse(phone, workspace.default_country)
    _check_limit(PER_NUMBER, f"phone:{number.e164}", at, "for this number today", field="phone")
    PER_NUMBER.record(f"phone:{number.e164}", at)

    found = await ensure_contact(session, workspace.id, number)
    contact = await consent.locked_contact(session, workspace.id, found.id)
    if contact.language is None:
        contact.language = form.language  # the language the person just read and answered in
    suppressed = await consent.suppression_of(session, workspace.id, number.e164)
    # An opted-out or erased number comes back only by the person's own YES.
    if form.double_opt_in or suppressed is not None:
        await _request_confirmation(session, workspace, form, contact, ip, user_agent, now)
        return Submission(Outcome.CONFIRMATION_SENT, number.e164)
    await _subscribe(session, form, contact, ip, user_agent, now, link_base_url)
    return Submission(Outcome.SUBSCRIBED, number.e164)


async def _request_confirmation(
    session: AsyncSession,
    workspace: Workspace,
    form: SignupForm,
    contact: Contact,
    ip: str | None,
    user_agent: str | None,
    now: datetime,
) -> None:
    """Store (or refresh) the pending request, mark the member pending and text the question;
    one commit for all three, inside `send_message`."""
    request = await session.scalar(
        select(OptInRequest).where(
            OptInRequest.workspace_id == workspace.id,
            OptInRequest.contact_id == contact.id,
            OptInRequest.list_id == form.list_id,
            OptInRequest.confirmed_at.is_(None),
            OptInRequest.expires_at > now,
        )
    )
    if request is None:
        request = OptInRequest(id=new_id("optin"), workspace_id=workspace.id, contact_id=contact.id)
        session.add(request)
    # A repeated submission restarts the 48 hours with what this page showed and who sent it.
    request.list_id = form.list_id
    request.form_id = form.id
    request.consent_text = form.consent_text
    request.ip = ip
    request.user_agent = user_agent
    request.created_at = now
    request.expires_at = now + CONFIRMATION_WINDOW

    member = await session.get(ListMember, (form.list_id, contact.id))
    if member is None:
        session.add(
            ListMember(
                list_id=form.list_id,
                contact_id=contact.id,
                workspace_id=workspace.id,
                status=MemberStatus.PENDING.value,
                created_at=now,
                updated_at=now,
            )
        )
    elif member.status == MemberStatus.UNSUBSCRIBED:
        # Subscribed members stay so; "opted_out" stays too, so that START restores it.
        member.status = MemberStatus.PENDING.value
        member.updated_at = now

    settings = read_settings(workspace.settings)
    list_name = await session.scalar(
        select(ContactList.name).where(
            ContactList.workspace_id == workspace.id, ContactList.id == form.list_id
        )
    )
    body = reply_text(
        ReplyKind.CONFIRM_REQUEST,
        (contact.language, form.language),
        program=program_name(settings, workspace),
        contact=settings.help_contact or workspace.name,
        list_name=list_name or "",
        overrides=settings.compliance_replies,
    )
    consent.audit(
        session,
        workspace.id,
        _by(form),
        "opt_in.requested",
        contact.id,
        {"form_id": form.id, "list_id": form.list_id, "request_id": request.id},
        now,
    )
    # One text per request and refresh; a double click within the same second is one text.
    key = f"opt-in:{request.id}:{int(now.timestamp())}"
    await messaging.send_message(
        session,
        system_actor(workspace.id),
        messaging.SendRequest(
            to=contact.phone, body=body, category="compliance", track_links=False
        ),
        idempotency_key=key,
    )


async def _subscribe(
    session: AsyncSession,
    form: SignupForm,
    contact: Contact,
    ip: str | None,
    user_agent: str | None,
    now: datetime,
    link_base_url: str | None,
) -> None:
    """Single opt-in: record the consent now; the welcome goes to members new to the list."""
    member = await session.get(ListMember, (form.list_id, contact.id))
    was_subscribed = member is not None and member.status == MemberStatus.SUBSCRIBED
    record = await consent.grant(
        session,
        contact,
        consent.ConsentClaim(
            source="signup_form",
            consent_text=form.consent_text,
            list_id=form.list_id,
            ip=ip,
            user_agent=user_agent,
        ),
        by=_by(form),
        now=now,
        by_the_person=True,  # they filled in the form themselves (suppressed numbers: YES)
    )
    await session.commit()
    if not form.welcome_message or was_subscribed:
        return
    form_id, contact_id = form.id, contact.id  # a failed send expires every loaded row
    try:
        await messaging.send_message(
            session,
            system_actor(form.workspace_id),
            messaging.SendRequest(to=contact.phone, body=form.welcome_message),
            idempotency_key=f"welcome:{record.id}",
            link_base_url=link_base_url,
        )
    except RecadoError as error:  # the subscription stands; a missing welcome is logged
        log.warning("welcome of form %s to %s not sent: %s", form_id, contact_id, error.message)


def example_phone(country: str) -> str:
    """A mobile number of `country` in international form, to show what to type."""
    example = phonenumbers.example_number_for_type(country, phonenumbers.PhoneNumberType.MOBILE)
    if example is None:
        return "+1 201 555 0123"
    return phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


# --- helpers -----------------------------------------------------------------------------------


def _by(form: SignupForm) -> str:
    return f"signup_form:{form.id}"


def _check_limit(
    window: SlidingWindow, key: str, at: float, what: str, *, field: str | None
) -> None:
    wait = window.retry_after(key, at)
    if wait is not None:
        raise SubmissionLimited(
            f"Too many sign-ups {what} (at most {window.limit}). Try again in {_wait_text(wait)}.",
            retry_after=max(1, math.ceil(wait)),
            field=field,
        )


def _parse(raw: str, country: str) -> PhoneNumber:
    if len(raw or "") > MAX_PHONE_INPUT:
        raise InvalidPhoneNumber("That is too long for a phone number.", field="phone")
    try:
        return parse_phone(raw, country)
    except InvalidPhoneNumber as error:
        raise InvalidPhoneNumber(error.message, field="phone") from None


async def _by_slug(session: AsyncSession, slug: str) -> SignupForm:
    form = None
    if SLUG.match(slug):
        form = await session.scalar(select(SignupForm).where(SignupForm.slug == slug))
    if form is None:
        raise NotFound("No signup form at this address.")
    return form


async def _get(session: AsyncSession, actor: Actor, form_id: str) -> SignupForm:
    form = None
    if looks_like_id(form_id):
        form = await session.scalar(
            select(SignupForm).where(
                SignupForm.workspace_id == actor.workspace_id, SignupForm.id == form_id
            )
        )
    if form is None:
        raise NotFound(f"No signup form with id {form_id[:40]} in this workspace.")
    return form


async def _workspace(session: AsyncSession, workspace_id: str) -> Workspace:
    workspace = await session.get(Workspace, workspace_id)
    if workspace is None:
        raise NotFound(f"No workspace {workspace_id}.")
    return workspace


async def _list(session: AsyncSession, actor: Actor, list_id: str) -> ContactList:
    found = None
    if looks_like_id(list_id):
        found = await session.scalar(
            select(ContactList).where(
                ContactList.workspace_id == actor.workspace_id, ContactList.id == list_id
            )
        )
    if found is None:
        raise NotFound(f"No list with id {list_id[:40]} in this workspace.", field="list_id")
    return found


def _title(title: str) -> str:
    text = single_line(title, "title", MAX_TITLE).strip()
    if not text:
        raise ValidationFailed("A form needs a title.", field="title")
    return text


def _consent_text(text: str | None) -> str:
    clean = (text or "").strip()
    if not clean:
        raise ValidationFailed(
            "A form needs the consent text people agree to; leave it out for the standard one.",
            field="consent_text",
        )
    if "\x00" in clean:
        raise ValidationFailed("consent_text contains a NUL character.", field="consent_text")
    if len(clean) > consent.MAX_CONSENT_TEXT:
        raise ValidationFailed(
            f"The consent text has more than {consent.MAX_CONSENT_TEXT} characters.",
            field="consent_text",
        )
    return clean


def _welcome(text: str | None) -> str | None:
    clean = (text or "").strip()
    if "\x00" in clean:
        raise ValidationFailed("welcome_message contains a NUL character.", field="welcome_message")
    if len(clean) > messaging.MAX_BODY_CHARACTERS:
        raise ValidationFailed(
            f"The welcome message has {len(clean)} characters; a text carries at most "
            f"{messaging.MAX_BODY_CHARACTERS}.",
            field="welcome_message",
        )
    return clean or None


def _language(tag: str) -> str:
    found = _LANGUAGE_TAG.match((tag or "").strip())
    if found is None or found.group(1).lower() not in LANGUAGES:
        raise ValidationFailed(
            f"'{(tag or '')[:16]}' is not a form language: use one of {', '.join(LANGUAGES)} "
            "(a region such as pt-BR is fine).",
            field="language",
        )
    language, region = found.group(1).lower(), found.group(2)
    return f"{language}-{region.upper()}" if region else language


def _slug(slug: str) -> str:
    if not SLUG.match(slug or ""):
        raise ValidationFailed(
            "A slug has 3 to 64 characters: lowercase letters, digits and hyphens.",
            field="slug",
        )
    return slug


def _slug_base(title: str) -> str:
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    base = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")[:50].strip("-")
    return base if len(base) >= 3 else f"join-{base}".strip("-")


async def _free_slug(session: AsyncSession, title: str) -> str:
    base = _slug_base(title)
    taken = set(
        await session.scalars(
            select(SignupForm.slug).where(
                (SignupForm.slug == base) | SignupForm.slug.like(f"{base}-%")
            )
        )
    )
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


async def _require_slug_free(session: AsyncSession, slug: str) -> None:
    if await session.scalar(select(SignupForm.id).where(SignupForm.slug == slug)) is not None:
        raise _slug_taken(slug)


async def _commit(session: AsyncSession, slug: str) -> None:
    """Commit; a unique violation here is a concurrent form with the same slug."""
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise _slug_taken(slug) from None


def _slug_taken(slug: str) -> Conflict:
    return Conflict(f"The address /f/{slug} is taken; choose another slug.", field="slug")
