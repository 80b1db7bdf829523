"""Sending one message: validate, store the outbox row with its idempotency key, and read back.

The row is written, with its key, before anything else can happen to the message; the
dispatcher takes it from there. The same key with the same request returns the same message.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, Literal
from urllib.parse import urlparse

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from recado.db.pages import page_by_id
from recado.db.tables import (
    Contact,
    Message,
    MessageEvent,
    utcnow,
)
from recado.domain.encoding import analyze
from recado.domain.footer import with_footer
from recado.domain.links import link_base
from recado.domain.message_status import MessageStatus
from recado.domain.phone import parse_phone
from recado.domain.pricing import RateCard
from recado.domain.roles import Permission
from recado.domain.templates import RenderContext, compile_template
from recado.domain.workspace_settings import WorkspaceSettings
from recado.errors import (
    ConsentRequired,
    FrequencyCapped,
    IdempotencyConflict,
    NotFound,
    RecadoError,
    RecipientOptedOut,
    ValidationFailed,
)
from recado.ids import new_id
from recado.services import compliance_rules, config_cache, consent, links, outbox_writer
from recado.services.actor import Actor
from recado.services.config_cache import SendConfig, SenderInfo
from recado.services.contacts_lookup import new_contact_row
from recado.services.outbox_writer import NewMessage, OutboxWriter
from recado.services.templates import template_fields

# "compliance" is the platform's own: STOP confirmations and HELP answers, which must reach
# even a number that just opted out. The API does not accept it.
Category = Literal["marketing", "transactional", "compliance"]
MAX_BODY_CHARACTERS = 1600  # the longest text carriers accept as one concatenated SMS
MAX_MEDIA = 10
MAX_SCHEDULE_AHEAD = timedelta(days=35)


@dataclass(frozen=True)
class SendRequest:
    to: str
    body: str
    sender: str | None = None
    media_urls: tuple[str, ...] = ()
    category: Category = "transactional"
    status_callback: str | None = None
    send_at: datetime | None = None
    smart_encoding: bool | None = None  # None: the workspace's setting
    track_links: bool | None = None  # None: shorten and track in marketing messages only
    context: dict[str, Any] | None = None  # values for {{ variables }} besides the contact's

    def fingerprint(self) -> str:
        """A hash of what was asked, to tell a retry from a different request with the same key."""
        canonical = json.dumps(
            {
                "to": self.to,
                "body": self.body,
                "from": self.sender,
                "media_urls": list(self.media_urls),
                "category": self.category,
                "status_callback": self.status_callback,
                "send_at": self.send_at.isoformat() if self.send_at else None,
                "smart_encoding": self.smart_encoding,
                "track_links": self.track_links,
                "context": self.context,
            },
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(canonical.encode()).hexdigest()


class Accepted:
    """A message `send_message` accepted just now, or the earlier one a repeated key names."""

    def __init__(self, message: Message | NewMessage, *, created: bool) -> None:
        self._message = message
        self.created = created  # False when an Idempotency-Key replay returned the earlier one

    @property
    def message(self) -> Message:
        kept = self._message
        return kept.message if isinstance(kept, NewMessage) else kept

    def fields(self) -> Message | SimpleNamespace:
        """The message's columns as attributes; for a new one, without making a Message."""
        kept = self._message
        return kept.fields() if isinstance(kept, NewMessage) else kept


@dataclass(frozen=True)
class _Options:
    rates: RateCard | None
    link_base_url: str | None
    writer: OutboxWriter | None


async def send_message(
    session: AsyncSession,
    actor: Actor,
    request: SendRequest,
    *,
    idempotency_key: str | None = None,
    rates: RateCard | None = None,
    link_base_url: str | None = None,
    writer: OutboxWriter | None = None,
) -> Accepted:
    """Accept a message for delivery; `link_base_url` is Recado's public URL for short links.

    With a `writer` (the API's), the message's rows are committed by the writer's group
    commit, with other requests' rows; without one, by `session` (which then holds them)."""
    actor.require(Permission.SEND)
    fingerprint = request.fingerprint()
    options = _Options(rates, link_base_url, writer)
    if idempotency_key is None:
        return await _accept(session, actor, request, fingerprint, None, options)
    key = _check_key(idempotency_key)
    # A repeated key is the rare case, so it is looked up only once the insert refuses it or
    # the request fails: a retry of a text accepted before gets that text back, even if,
    # say, its recipient opted out since.
    try:
        return await _accept(session, actor, request, fingerprint, key, options)
    except (IntegrityError, RecadoError):
        await session.rollback()
        earlier = await _by_key(session, actor.workspace_id, key)
        if earlier is None:
            raise
        return _replay(earlier, fingerprint)


async def _accept(
    session: AsyncSession,
    actor: Actor,
    request: SendRequest,
    fingerprint: str,
    idempotency_key: str | None,
    options: _Options,
) -> Accepted:
    rates, link_base_url, writer = options.rates, options.link_base_url, options.writer
    config = await config_cache.send_config(session, actor.workspace_id)
    to = parse_phone(request.to, config.default_country)
    body = _check_body(request.body, request.media_urls)
    media = _check_media(request.media_urls)
    callback = _check_callback(request.status_callback)
    send_at = _check_send_at(request.send_at)
    check = None if request.category == "compliance" else config.suppression_key
    known = await _recipient(session, writer, actor.workspace_id, to.e164, check)
    # Sticky sender: a contact keeps hearing from the number it heard from before.
    sender = _pick_sender(
        config,
        request.sender or (known.sticky_sender if known else None),
        explicit=request.sender,
    )
    if known is None:  # created with the message, by the same commit
        new_contact = new_contact_row(actor.workspace_id, to, sticky_sender=sender.address)
        contact_id = new_contact["id"]
    else:
        new_contact, contact_id = None, known.id
    deferral = None
    settings = config.settings
    marketing = request.category == "marketing"
    templated = request.context is not None or _TEMPLATE_MARK.search(body) is not None
    if marketing or templated:  # a new number's Contact object is made only to be read
        contact = known or Contact(**new_contact)
        if marketing:
            send_at, deferral = await _marketing_checks(session, contact, send_at)
        if templated:
            body = _personalize(body, contact, config.name, settings, request.context)
        if marketing:
            body = with_footer(body, contact.language, settings.footer())
    smart = settings.smart_encoding if request.smart_encoding is None else request.smart_encoding
    shorten = (
        request.category == "marketing" if request.track_links is None else request.track_links
    )
    if shorten and not link_base_url:
        raise ValidationFailed("Link tracking needs Recado's public URL.", field="track_links")
    card = rates or config.rate_card

    message_id = new_id("msg")
    link_rows: list[dict[str, Any]] = []
    if shorten:  # fresh codes; `store` makes sure no other link has them, for the batch
        body, link_rows = links.prepare_links(
            body,
            workspace_id=actor.workspace_id,
            message_id=message_id,
            contact_id=contact_id,
            base=link_base(settings.short_domain, link_base_url or ""),
        )
    # What goes on the wire is exactly what was measured: links, footer, smart encoding.
    report = analyze(body, smart=smart)
    _check_length(report.text)
    price = card.estimate(to.e164, report.segments, sender.kind)
    status = MessageStatus.SCHEDULED if send_at else MessageStatus.QUEUED
    detail = f"scheduled for {send_at.isoformat()}" if send_at else "waiting for the dispatcher"
    if deferral:
        detail = f"{detail}: {deferral}"
    now = utcnow()
    item = NewMessage(
        row={
            "id": message_id,
            "workspace_id": actor.workspace_id,
            "contact_id": contact_id,
            "direction": "outbound",
            "sender": sender.address,
            "recipient": to.e164,
            "body": report.text,
            "media_urls": list(media),
            "category": request.category,
            "status": status.value,
            "idempotency_key": idempotency_key or message_id,
            "request_hash": fingerprint,
            "status_callback": callback,
            "send_at": send_at,
            "encoding": report.encoding,
            "segments": report.segments,
            "price_micros": int(price[0] * 1_000_000) if price else None,
            "currency": price[1] if price else None,
            "attempts": 0,
            "created_at": now,
            "updated_at": now,
        },
        events=[
            (MessageStatus.ACCEPTED.value, f"accepted from {actor.label}"),
            (status.value, detail),
        ],
        new_contact=new_contact,
        sticky_sender=sender.address if known and known.sticky_sender != sender.address else None,
        links=link_rows,
    )
    await _write(session, writer, item)
    if known is not None and item.sticky_sender is not None:
        set_committed_value(known, "sticky_sender", item.sticky_sender)
    return Accepted(item, created=True)


async def _recipient(
    session: AsyncSession,
    writer: OutboxWriter | None,
    workspace_id: str,
    e164: str,
    suppression_key: str | None,
) -> Contact | None:
    """The number's contact (None: the workspace never texted it); a suppressed number is
    refused, unless `suppression_key` is None (compliance texts reach everyone). The API's
    writer looks numbers up in batches, with the other requests of the same moment."""
    ask = (workspace_id, e164, suppression_key)
    if writer is not None:
        # Hold no connection while waiting for a batch: the batch needs one from the pool.
        await _end_reads(session)
        recipient = await writer.recipient(*ask)
    else:
        recipient = (await outbox_writer.look_up(session, [ask]))[0]
    if recipient.suppressed is not None:
        raise RecipientOptedOut(consent.suppressed_message(e164, recipient.suppressed), field="to")
    return recipient.contact


async def _write(session: AsyncSession, writer: OutboxWriter | None, item: NewMessage) -> None:
    """Commit the message's rows: in the writer's next batch, else in `session`."""
    try:
        if writer is None:
            await outbox_writer.store(session, [item])
            await session.commit()
        else:
            await _end_reads(session)  # no connection held while waiting (as above)
            await writer.write(item)
    except (IntegrityError, RecadoError):
        # A repeated key (a twin in flight): send_message answers it as a replay.
        await session.rollback()
        raise


async def get_message(session: AsyncSession, actor: Actor, message_id: str) -> Message:
    actor.require(Permission.READ)
    message = await session.scalar(
        select(Message).where(Message.workspace_id == actor.workspace_id, Message.id == message_id)
    )
    if message is None:
        raise NotFound(f"No message with id {message_id} in this workspace.")
    return message


async def message_events(
    session: AsyncSession, actor: Actor, message_id: str
) -> list[MessageEvent]:
    actor.require(Permission.READ)
    rows = await session.scalars(
        select(MessageEvent)
        .where(
            MessageEvent.workspace_id == actor.workspace_id, MessageEvent.message_id == message_id
        )
        .order_by(MessageEvent.id)
    )
    return list(rows)


@dataclass(frozen=True)
class MessageFilter:
    status: str | None = None
    contact_id: str | None = None
    direction: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None


async def list_messages(
    session: AsyncSession,
    actor: Actor,
    filters: MessageFilter,
    *,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[Message], str | None]:
    """Newest first; `cursor` is the id of the last message of the previous page."""
    actor.require(Permission.READ)
    query = select(Message).where(Message.workspace_id == actor.workspace_id)
    if filters.status:
        if filters.status not in MessageStatus.__members__.values():
            choices = ", ".join(s.value for s in MessageStatus)
            raise ValidationFailed(
                f"Unknown status '{filters.status}': use one of {choices}.", field="status"
            )
        query = query.where(Message.status == filters.status)
    if filters.direction:
        if filters.direction not in ("inbound", "outbound"):
            raise ValidationFailed("direction is inbound or outbound.", field="direction")
        query = query.where(Message.direction == filters.direction)
    if filters.contact_id:
        query = query.where(Message.contact_id == filters.contact_id)
    if filters.created_after:
        query = query.where(Message.created_at >= _aware(filters.created_after, "created_after"))
    if filters.created_before:
        query = query.where(Message.created_at < _aware(filters.created_before, "created_before"))
    return await page_by_id(session, query, Message.id, limit=limit, cursor=cursor)


async def _end_reads(session: AsyncSession) -> None:
    if session.in_transaction():  # (a commit of nothing still costs a greenlet switch)
        await session.commit()


def _aware(value: datetime, field: str) -> datetime:
    if value.tzinfo is None:
        raise ValidationFailed(
            f"{field} needs a time zone, for example 2026-12-01T00:00:00Z.", field=field
        )
    return value


async def _by_key(session: AsyncSession, workspace_id: str, key: str) -> Message | None:
    return await session.scalar(
        select(Message).where(Message.workspace_id == workspace_id, Message.idempotency_key == key)
    )


def _replay(earlier: Message, fingerprint: str) -> Accepted:
    if earlier.request_hash != fingerprint:
        raise IdempotencyConflict(
            "This Idempotency-Key was already used with a different request. "
            "Use a new key for a new message, or resend exactly the same request.",
            field="Idempotency-Key",
        )
    return Accepted(earlier, created=False)


def _check_key(key: str) -> str:
    key = key.strip()
    if not key or len(key) > 255:
        raise ValidationFailed(
            "The Idempotency-Key header must have 1 to 255 characters.", field="Idempotency-Key"
        )
    return key


def _check_body(body: str, media: tuple[str, ...]) -> str:
    if not body.strip() and not media:
        raise ValidationFailed("The message needs a body or at least one media URL.", field="body")
    if len(body) > MAX_BODY_CHARACTERS:
        raise ValidationFailed(
            f"The body has {len(body)} characters; the most a text can carry is "
            f"{MAX_BODY_CHARACTERS}. Shorten it or send it as several messages.",
            field="body",
        )
    return body


async def _marketing_checks(
    session: AsyncSession, contact: Contact, send_at: datetime | None
) -> tuple[datetime | None, str | None]:
    """Consent, frequency cap and quiet hours, checked at accept time (and again at send).

    Returns the send time, moved to the next allowed moment when the requested one falls in
    the recipient's quiet hours, and a note saying why it moved.
    """
    if contact.consented_at is None:
        raise ConsentRequired(
            f"{contact.phone} has no recorded marketing consent. Record it first "
            f"(POST /v1/contacts/{contact.id}/consents, a signup form, or an import that "
            "declares its consent basis), or send it as a transactional message if it is one.",
            field="to",
        )
    now = utcnow()
    rules = await compliance_rules.for_workspace(session, contact.workspace_id)
    capped = await rules.frequency(session, contact, now)
    if capped is not None:
        raise FrequencyCapped(
            f"{capped}. Try again later or raise the cap in the workspace's compliance settings.",
            field="to",
        )
    window = rules.quiet_hours(contact, send_at or now)
    if window.next_allowed > (send_at or now):
        return window.next_allowed, f"deferred out of {window.explanation}"
    return send_at, None


_TEMPLATE_MARK = re.compile(r"\{\{|\{%")


def _personalize(
    body: str,
    contact: Contact,
    workspace_name: str,
    settings: WorkspaceSettings,
    context: dict[str, Any] | None,
) -> str:
    """Render the body as a template for this contact; refuse rather than send "Hi ,"."""
    extra = {"brand": settings.brand_name or workspace_name, **(context or {})}
    rendered = compile_template(body).render(
        RenderContext.of_contact(template_fields(contact), extra=extra, language=contact.language)
    )
    if not rendered.ok:
        names = ", ".join(rendered.missing) or "every variable"
        raise ValidationFailed(
            f"The template leaves {names} empty for {contact.phone}. Give it a default, "
            "for example {{ first_name | default('there') }}, or pass it in 'context'.",
            field="body",
            code="template_variables_missing",
        )
    return rendered.text


def _check_length(final: str) -> None:
    if len(final) > MAX_BODY_CHARACTERS:
        raise ValidationFailed(
            f"With the opt-out footer and short links the text has {len(final)} characters; "
            f"the most a text can carry is {MAX_BODY_CHARACTERS}. Shorten it.",
            field="body",
        )


def _check_media(urls: tuple[str, ...]) -> tuple[str, ...]:
    if len(urls) > MAX_MEDIA:
        raise ValidationFailed(f"At most {MAX_MEDIA} media URLs per message.", field="media_urls")
    for url in urls:
        _require_http_url(url, "media_urls")
    return urls


def _check_callback(url: str | None) -> str | None:
    if url is None or not url.strip():
        return None
    _require_http_url(url.strip(), "status_callback")
    return url.strip()


def _require_http_url(url: str, field: str) -> None:
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValidationFailed(f"'{url}' is not an http(s) URL.", field=field)


def _check_send_at(send_at: datetime | None) -> datetime | None:
    if send_at is None:
        return None
    if send_at.tzinfo is None:
        raise ValidationFailed(
            "send_at needs a time zone, for example 2026-12-01T09:00:00-03:00 or ...Z.",
            field="send_at",
        )
    now = datetime.now(UTC)
    if send_at - now > MAX_SCHEDULE_AHEAD:
        raise ValidationFailed(
            f"send_at may be at most {MAX_SCHEDULE_AHEAD.days} days ahead.", field="send_at"
        )
    # A time in the past (or within a second) simply means "now".
    return send_at.astimezone(UTC) if send_at > now + timedelta(seconds=1) else None


def _pick_sender(config: SendConfig, requested: str | None, *, explicit: str | None) -> SenderInfo:
    """The sender asked for; else the contact's sticky one if it still exists; else the default."""
    if requested:
        found = config.sender(requested.strip())
        if found is not None:
            return found
        if explicit:
            raise ValidationFailed(
                f"'{explicit}' is not a sender of this workspace; add it under senders first "
                "or leave 'from' out to use the default sender.",
                field="from",
            )
    if config.default_sender is None:
        raise ValidationFailed(
            "This workspace has no sender yet; add a number or sender id first.", field="from"
        )
    return config.default_sender
