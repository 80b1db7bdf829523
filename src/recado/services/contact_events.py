"""Events from the shop or app (POST /v1/events): orders credited to campaigns, and any
custom event with its properties.

An event names its contact by Recado id, the shop's own id (external_id) or phone number (in
any common spelling; a number without + is read in the workspace's country). A number or
external id that matches no contact is kept unlinked, since shops report customers who never
subscribed; an unknown contact id is an error. The caller's `event_id` makes a send
idempotent: the same payload again answers the stored event, a different one is refused.

An `order.placed` is credited by recado.domain.attribution, fed here with the candidates:
the campaigns whose code the order used, the contact's campaign clicks and deliveries in
the workspace's windows. An order (its order_id) is credited once: a unique index on the
credited orders settles two sends racing each other.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from recado.db.pages import page_by_id
from recado.db.tables import (
    Campaign,
    Click,
    Contact,
    ContactEvent,
    DiscountCode,
    Message,
    Workspace,
    utcnow,
)
from recado.domain import attribution
from recado.domain.phone import parse_phone
from recado.domain.roles import Permission
from recado.domain.workspace_settings import read_settings
from recado.errors import IdempotencyConflict, InvalidPhoneNumber, NotFound, ValidationFailed
from recado.ids import new_id
from recado.services.actor import Actor
from recado.services.contacts import check_cursor, looks_like_id, single_line

ORDER_PLACED = "order.placed"
MAX_PROPERTIES_BYTES = 16 * 1024
MAX_VALUE = Decimal(1_000_000_000_000)
FUTURE_TOLERANCE = timedelta(minutes=5)
CANDIDATES = 50
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,99}$")
_CURRENCY = re.compile(r"^[A-Za-z]{3}$")
MICROS = Decimal(1_000_000)


@dataclass(frozen=True)
class EventInput:
    """What the caller sent, as read from JSON (validated by `record_event`)."""

    event_id: str
    name: str
    occurred_at: datetime | None = None
    phone: str | None = None
    contact_id: str | None = None
    external_id: str | None = None
    order_id: str | None = None
    value: Decimal | int | float | str | None = None
    currency: str | None = None
    coupon_code: str | None = None
    properties: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Recorded:
    event: ContactEvent
    created: bool  # False: a replay of an event stored before


@dataclass(frozen=True)
class _Clean:
    event_id: str
    name: str
    occurred_at: datetime
    given_at: datetime | None
    phone: str | None
    contact_id: str | None
    external_id: str | None
    order_id: str | None
    value_micros: int | None
    currency: str | None
    coupon_code: str | None
    properties: dict[str, Any]

    def request_hash(self) -> str:
        payload = {
            "event_id": self.event_id,
            "name": self.name,
            "occurred_at": self.given_at.isoformat() if self.given_at else None,
            "phone": self.phone,
            "contact_id": self.contact_id,
            "external_id": self.external_id,
            "order_id": self.order_id,
            "value_micros": self.value_micros,
            "currency": self.currency,
            "coupon_code": self.coupon_code,
            "properties": self.properties,
        }
        raw = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(raw.encode()).hexdigest()


async def record_event(
    session: AsyncSession, actor: Actor, data: EventInput, *, now: datetime | None = None
) -> Recorded:
    """Store one event (crediting it when it is an order) and commit."""
    actor.require(Permission.MANAGE_AUDIENCE)
    now = now or utcnow()
    clean = _validate(data, now)
    digest = clean.request_hash()
    replay = await _replay(session, actor.workspace_id, clean.event_id, digest)
    if replay is not None:
        return Recorded(replay, created=False)
    workspace = await session.get(Workspace, actor.workspace_id)
    assert workspace is not None
    contact_id = await _contact(session, workspace, clean)
    event = ContactEvent(
        id=new_id("evt"),
        workspace_id=actor.workspace_id,
        event_id=clean.event_id,
        request_hash=digest,
        name=clean.name,
        contact_id=contact_id,
        occurred_at=clean.occurred_at,
        order_id=clean.order_id,
        value_micros=clean.value_micros,
        currency=clean.currency,
        coupon_code=clean.coupon_code,
        properties=clean.properties,
        created_at=now,
    )
    if clean.name == ORDER_PLACED and clean.order_id:
        credit = await _credit(session, workspace, event)
        if credit is not None:
            event.campaign_id = credit.campaign_id
            event.variant_id = credit.variant_id
            event.message_id = credit.message_id
            event.attribution = credit.rule.value
    for attempt in range(2):
        try:
            async with session.begin_nested():
                session.add(event)
            break
        except IntegrityError:
            # The savepoint's rollback took the event out of the session again.
            replay = await _replay(session, actor.workspace_id, clean.event_id, digest)
            if replay is not None:  # the same event_id, sent twice at once
                return Recorded(replay, created=False)
            if attempt or event.attribution is None:
                raise
            # Another event of this order was credited a moment ago: keep this one uncredited.
            event.campaign_id = event.variant_id = event.message_id = event.attribution = None
    await session.commit()
    return Recorded(event, created=True)


async def get_event(session: AsyncSession, actor: Actor, event_id: str) -> ContactEvent:
    actor.require(Permission.READ)
    event = None
    if looks_like_id(event_id):
        event = await session.scalar(
            select(ContactEvent).where(
                ContactEvent.workspace_id == actor.workspace_id, ContactEvent.id == event_id
            )
        )
    if event is None:
        raise NotFound(f"No event with id {event_id[:40]} in this workspace.")
    return event


async def list_events(
    session: AsyncSession,
    actor: Actor,
    *,
    contact_id: str | None = None,
    name: str | None = None,
    campaign_id: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[ContactEvent], str | None]:
    """The workspace's events, newest first."""
    actor.require(Permission.READ)
    query = select(ContactEvent).where(ContactEvent.workspace_id == actor.workspace_id)
    if contact_id:
        query = query.where(ContactEvent.contact_id == contact_id)
    if name:
        query = query.where(ContactEvent.name == name)
    if campaign_id:
        query = query.where(ContactEvent.campaign_id == campaign_id)
    return await page_by_id(
        session,
        query,  # type: ignore[arg-type]
        ContactEvent.id,
        limit=limit,
        cursor=check_cursor(cursor) if cursor else None,
    )


def to_micros(value: Decimal | int | float | str, name: str = "value") -> int:
    """An amount in the currency unit as exact millionths; more precision is an error."""
    if isinstance(value, bool):
        raise ValidationFailed(f"{name} is a number such as 49.90.", field=name)
    if isinstance(value, float) and not math.isfinite(value):
        raise ValidationFailed(f"{name} is a number such as 49.90.", field=name)
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValidationFailed(
            f"{name} is a number such as 49.90, not '{str(value)[:40]}'.", field=name
        ) from None
    if not amount.is_finite():
        raise ValidationFailed(f"{name} is a number such as 49.90.", field=name)
    if amount < 0:
        raise ValidationFailed(f"{name} is 0 or more; send refunds as their own event.", field=name)
    if amount >= MAX_VALUE:
        raise ValidationFailed(f"{name} is below {MAX_VALUE:,}.", field=name)
    micros = amount * MICROS
    if micros != micros.to_integral_value():
        raise ValidationFailed(f"{name} has more than 6 decimal places.", field=name)
    return int(micros)


# --- validation ----------------------------------------------------------------------------


def _validate(data: EventInput, now: datetime) -> _Clean:
    event_id = single_line((data.event_id or "").strip(), "event_id", 200)
    if not event_id:
        raise ValidationFailed(
            "event_id is required: your own unique id of this event (an order number, a "
            "UUID), so that sending it again does not count it twice.",
            field="event_id",
        )
    name = (data.name or "").strip()
    if not _NAME.match(name):
        raise ValidationFailed(
            "name is the event's name, such as order.placed or cart.abandoned: up to 100 "
            "letters, digits and . _ - :",
            field="name",
        )
    given_at = data.occurred_at
    if given_at is not None:
        if given_at.tzinfo is None:
            raise ValidationFailed(
                "occurred_at needs a time zone, such as 2026-12-01T12:00:00Z.",
                field="occurred_at",
            )
        if given_at > now + FUTURE_TOLERANCE:
            raise ValidationFailed(
                "occurred_at is in the future; send events when they have happened.",
                field="occurred_at",
            )
    phone = _text(data.phone, "phone", 40)
    contact_id = _text(data.contact_id, "contact_id", 40)
    external_id = _text(data.external_id, "external_id", 200)
    if not (phone or contact_id or external_id):
        raise ValidationFailed(
            "Say who did it: phone, contact_id or external_id (one is enough).", field="phone"
        )
    properties = dict(data.properties or {})
    # Shops that put the order's fields among the properties are read the same way.
    lifted = {
        key: properties.get(key)
        for key in ("order_id", "value", "currency", "coupon_code")
        if name == ORDER_PLACED
    }
    order_id = _text(data.order_id or _str_or_none(lifted.get("order_id")), "order_id", 200)
    raw_value = data.value if data.value is not None else lifted.get("value")
    currency = _text(data.currency or _str_or_none(lifted.get("currency")), "currency", 40)
    coupon = _text(data.coupon_code or _str_or_none(lifted.get("coupon_code")), "coupon_code", 64)
    if name == ORDER_PLACED:
        missing = [
            key
            for key, present in (
                ("order_id", order_id),
                ("value", raw_value is not None),
                ("currency", currency),
            )
            if not present
        ]
        if missing:
            raise ValidationFailed(
                f"An order.placed event needs {', '.join(missing)}: the shop's order number, "
                "its total (49.90) and its currency (USD).",
                field=missing[0],
            )
    value_micros = None
    if raw_value is not None:
        if not isinstance(raw_value, Decimal | int | float | str):
            raise ValidationFailed("value is a number such as 49.90.", field="value")
        value_micros = to_micros(raw_value)
        if currency is None:
            raise ValidationFailed(
                "A value needs its currency, a three-letter code such as USD.", field="currency"
            )
    if currency is not None:
        if not _CURRENCY.match(currency):
            raise ValidationFailed(
                "currency is a three-letter ISO 4217 code such as USD, EUR or BRL.",
                field="currency",
            )
        currency = currency.upper()
    try:
        size = len(json.dumps(properties, ensure_ascii=False, allow_nan=False))
    except (TypeError, ValueError):
        raise ValidationFailed(
            "properties is a JSON object of plain values.", field="properties"
        ) from None
    if size > MAX_PROPERTIES_BYTES:
        raise ValidationFailed(
            f"properties is larger than {MAX_PROPERTIES_BYTES // 1024} KB; send less.",
            field="properties",
        )
    return _Clean(
        event_id=event_id,
        name=name,
        occurred_at=given_at or now,
        given_at=given_at,
        phone=phone,
        contact_id=contact_id,
        external_id=external_id,
        order_id=order_id,
        value_micros=value_micros,
        currency=currency,
        coupon_code=coupon,
        properties=properties,
    )


def _text(value: str | None, name: str, max_length: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationFailed(f"{name} is text.", field=name)
    return single_line(value.strip(), name, max_length) or None


def _str_or_none(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


async def _replay(
    session: AsyncSession, workspace_id: str, event_id: str, digest: str
) -> ContactEvent | None:
    found = await session.scalar(
        select(ContactEvent).where(
            ContactEvent.workspace_id == workspace_id, ContactEvent.event_id == event_id
        )
    )
    if found is None:
        return None
    if found.request_hash != digest:
        raise IdempotencyConflict(
            f"event_id '{event_id[:80]}' was sent before with different contents. Use a new "
            "event_id for a new event; a retry must send the same body.",
            field="event_id",
        )
    return found


# --- who ------------------------------------------------------------------------------------


async def _contact(session: AsyncSession, workspace: Workspace, clean: _Clean) -> str | None:
    found: dict[str, str | None] = {}
    if clean.contact_id:
        known = None
        if looks_like_id(clean.contact_id):
            known = await session.scalar(
                select(Contact.id).where(
                    Contact.workspace_id == workspace.id, Contact.id == clean.contact_id
                )
            )
        if known is None:
            raise ValidationFailed(
                f"No contact with id {clean.contact_id} in this workspace; identify the "
                "person by phone or external_id instead.",
                field="contact_id",
            )
        found["contact_id"] = known
    if clean.external_id:
        found["external_id"] = await session.scalar(
            select(Contact.id)
            .where(Contact.workspace_id == workspace.id, Contact.external_id == clean.external_id)
            .order_by(Contact.id.desc())
            .limit(1)
        )
    if clean.phone:
        try:
            e164 = parse_phone(clean.phone, workspace.default_country).e164
        except InvalidPhoneNumber as exc:
            raise InvalidPhoneNumber(exc.message, field="phone") from None
        found["phone"] = await session.scalar(
            select(Contact.id).where(Contact.workspace_id == workspace.id, Contact.phone == e164)
        )
    matched = {key: value for key, value in found.items() if value is not None}
    if len(set(matched.values())) > 1:
        first, second = list(matched)[:2]
        raise ValidationFailed(
            f"{first} and {second} name two different contacts; send one of them.", field=second
        )
    return next(iter(matched.values()), None)


# --- credit ---------------------------------------------------------------------------------


async def _credit(
    session: AsyncSession, workspace: Workspace, event: ContactEvent
) -> attribution.Credit | None:
    already = await session.scalar(
        select(ContactEvent.id).where(
            ContactEvent.workspace_id == workspace.id,
            ContactEvent.order_id == event.order_id,
            ContactEvent.attribution.is_not(None),
        )
    )
    if already is not None:
        return None
    windows = read_settings(workspace.settings).attribution.windows()
    at = event.occurred_at
    coupon = await _coupon_touches(session, workspace.id, event.coupon_code, event.contact_id)
    clicks: list[attribution.Touch] = []
    deliveries: list[attribution.Touch] = []
    if event.contact_id is not None:
        clicks = await _clicks(session, workspace.id, event.contact_id, at - windows.click, at)
        deliveries = await _deliveries(
            session, workspace.id, event.contact_id, at - windows.delivery, at
        )
    return attribution.attribute(
        at, coupon=coupon, clicks=clicks, deliveries=deliveries, windows=windows
    )


async def _coupon_touches(
    session: AsyncSession, workspace_id: str, code: str | None, contact_id: str | None
) -> list[attribution.Touch]:
    if not code:
        return []
    spellings = {code, code.upper(), code.lower()}
    touches: list[attribution.Touch] = []
    drawn = list(
        await session.execute(
            select(DiscountCode.campaign_id, DiscountCode.message_id, DiscountCode.assigned_at)
            .where(
                DiscountCode.workspace_id == workspace_id,
                DiscountCode.code.in_(spellings),
                DiscountCode.campaign_id.is_not(None),
            )
            .limit(CANDIDATES)
        )
    )
    messages = await _messages(session, workspace_id, [m for _, m, _ in drawn if m])
    for campaign_id, message_id, assigned_at in drawn:
        message = messages.get(message_id or "")
        if campaign_id is None:
            continue
        if message is None:
            touches.append(attribution.Touch(campaign_id, None, None, assigned_at))
        else:
            touches.append(
                attribution.Touch(campaign_id, message[0], message[1], message[2] or assigned_at)
            )
    shared = list(
        await session.execute(
            select(Campaign.id, Campaign.launched_at).where(
                Campaign.workspace_id == workspace_id,
                Campaign.discount_mode == "shared",
                func.upper(Campaign.discount_code) == code.upper(),
            )
        )
    )
    sent: dict[str, tuple[str, str | None, datetime | None]] = {}
    if shared and contact_id is not None:
        rows = await session.execute(
            select(Message.campaign_id, Message.id, Message.variant_id, Message.sent_at).where(
                Message.workspace_id == workspace_id,
                Message.contact_id == contact_id,
                Message.campaign_id.in_([c for c, _ in shared]),
                Message.direction == "outbound",
            )
        )
        sent = {c: (mid, variant, at) for c, mid, variant, at in rows if c is not None}
    for campaign_id, launched_at in shared:
        if campaign_id in sent:
            message_id, variant_id, sent_at = sent[campaign_id]
            touches.append(attribution.Touch(campaign_id, message_id, variant_id, sent_at))
        else:
            # A shared code forwarded to someone the campaign did not text.
            touches.append(attribution.Touch(campaign_id, None, None, launched_at))
    return touches


async def _messages(
    session: AsyncSession, workspace_id: str, ids: list[str]
) -> dict[str, tuple[str, str | None, datetime | None]]:
    if not ids:
        return {}
    rows = await session.execute(
        select(Message.id, Message.variant_id, Message.sent_at).where(
            Message.workspace_id == workspace_id, Message.id.in_(ids)
        )
    )
    return {mid: (mid, variant, at) for mid, variant, at in rows}


async def _clicks(
    session: AsyncSession, workspace_id: str, contact_id: str, since: datetime, until: datetime
) -> list[attribution.Touch]:
    rows = await session.execute(
        select(Click.campaign_id, Click.message_id, Message.variant_id, Click.at)
        .join(Message, Message.id == Click.message_id, isouter=True)
        .where(
            Click.workspace_id == workspace_id,
            Click.contact_id == contact_id,
            Click.campaign_id.is_not(None),
            Click.at >= since,
            Click.at <= until,
        )
        .order_by(Click.at.desc())
        .limit(CANDIDATES)
    )
    return [attribution.Touch(c, m, v, at) for c, m, v, at in rows if c is not None]


async def _deliveries(
    session: AsyncSession, workspace_id: str, contact_id: str, since: datetime, until: datetime
) -> list[attribution.Touch]:
    rows = await session.execute(
        select(Message.campaign_id, Message.id, Message.variant_id, Message.delivered_at)
        .where(
            Message.workspace_id == workspace_id,
            Message.contact_id == contact_id,
            Message.campaign_id.is_not(None),
            Message.direction == "outbound",
            Message.status == "delivered",
            Message.delivered_at >= since,
            Message.delivered_at <= until,
        )
        .order_by(Message.delivered_at.desc())
        .limit(CANDIDATES)
    )
    return [attribution.Touch(c, m, v, at) for c, m, v, at in rows if c is not None]


def amount_text(micros: int) -> str:
    """Millionths of a currency unit as exact decimal text with at least 2 decimals:
    49_900_000 -> "49.90", 7_500 -> "0.0075"."""
    amount = (Decimal(micros) / MICROS).normalize()
    if amount == amount.to_integral_value() or -amount.as_tuple().exponent < 2:  # type: ignore[operator]
        amount = amount.quantize(Decimal("0.01"))
    return f"{amount:f}"
