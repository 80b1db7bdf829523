"""/v1/messages: send a text, list messages, read one with its event timeline."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from recado import metrics
from recado.api.deps import CurrentActor, Session, get_platform
from recado.api.pages import Cursor, Limit, Page
from recado.db.tables import Message, MessageEvent
from recado.platform import Platform
from recado.services import messaging, status_callbacks
from recado.services.actor import Actor

router = APIRouter(prefix="/v1/messages", tags=["messages"])


class MessageIn(BaseModel):
    """A text to send. Only `to` and `body` are required."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    to: str = Field(
        description="Recipient, in E.164 (+5511912345678) or the workspace's national form"
    )
    body: str = Field(default="", description="The text; up to 1600 characters")
    from_: str | None = Field(
        default=None,
        alias="from",
        description="A sender of the workspace; default sender if omitted",
    )
    media_urls: list[str] = Field(default_factory=list, description="Up to 10 media URLs (MMS)")
    category: Literal["marketing", "transactional"] = Field(
        default="transactional",
        description="Marketing messages are subject to consent, opt-out and quiet-hour rules",
    )
    status_callback: str | None = Field(
        default=None, description="URL that receives a signed POST at every status change"
    )
    send_at: datetime | None = Field(
        default=None, description="When to send (ISO 8601 with a time zone); omit to send now"
    )
    smart_encoding: bool | None = Field(
        default=None,
        description="Replace curly quotes, dashes and the like with GSM-7 look-alikes to save "
        "parts; omit to use the workspace's setting",
    )
    context: dict[str, Any] | None = Field(
        default=None,
        description="Values for {{ variables }} in the body besides the contact's own fields "
        "(first_name, attributes...). A body with {{ }} is rendered for the recipient; a "
        "variable left empty without a default is refused, never sent as a blank",
    )
    track_links: bool | None = Field(
        default=None,
        description="Replace each URL with a tracked short link (one per recipient); by "
        "default on for marketing messages and off for transactional ones",
    )


class MessageEventOut(BaseModel):
    status: str
    detail: str | None
    at: datetime


class MessageOut(BaseModel):
    id: str
    direction: Literal["outbound", "inbound"]
    status: str
    to: str
    from_: str | None = Field(serialization_alias="from")
    body: str
    media_urls: list[str]
    category: str
    contact_id: str | None
    segments: int
    encoding: str
    price_estimate: Decimal | None = Field(description="Estimated price of all parts")
    currency: str | None
    status_callback: str | None
    send_at: datetime | None
    carrier_message_id: str | None
    error_code: str | None
    error_message: str | None
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None
    delivered_at: datetime | None
    events: list[MessageEventOut] | None = Field(
        default=None, description="The status timeline; included when reading one message"
    )

    @classmethod
    def of(
        cls, message: Message | SimpleNamespace, events: list[MessageEvent] | None = None
    ) -> MessageOut:
        """The answer for a stored message, or for the columns of one accepted just now."""
        price = (
            Decimal(message.price_micros) / Decimal(1_000_000)
            if message.price_micros is not None
            else None
        )
        return cls(
            id=message.id,
            direction=message.direction,  # type: ignore[arg-type]
            status=message.status,
            to=message.recipient,
            from_=message.sender,
            body=message.body,
            media_urls=list(message.media_urls or []),
            category=message.category,
            contact_id=message.contact_id,
            segments=message.segments,
            encoding=message.encoding,
            price_estimate=price,
            currency=message.currency,
            status_callback=message.status_callback,
            send_at=message.send_at,
            carrier_message_id=message.carrier_message_id,
            error_code=message.error_code,
            error_message=message.error_message,
            created_at=message.created_at,
            updated_at=message.updated_at,
            sent_at=message.sent_at,
            delivered_at=message.delivered_at,
            events=[
                MessageEventOut(status=e.status, detail=e.detail, at=e.created_at) for e in events
            ]
            if events is not None
            else None,
        )


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=MessageOut,
    response_model_by_alias=True,
    summary="Send a message",
    description="Stores the message and queues it for delivery. Repeat a request with the same "
    "`Idempotency-Key` to get the same message back instead of a second text.",
)
async def send(
    payload: MessageIn,
    request: Request,
    actor: CurrentActor,
    response: Response,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> MessageOut:
    platform = get_platform(request)
    # A session of its own rather than the Session dependency: most sends never use it (the
    # writer's batches read and write), and the dependency's machinery costs as much as a query.
    async with platform.sessions() as session:
        accepted = await _accept(session, actor, payload, idempotency_key, platform)
    if accepted.created:
        metrics.MESSAGES_ACCEPTED.labels(payload.category).inc()
        platform.dispatcher.notify()
    else:
        response.headers["Idempotent-Replayed"] = "true"
    return MessageOut.of(accepted.fields())


async def _accept(
    session: AsyncSession,
    actor: Actor,
    payload: MessageIn,
    idempotency_key: str | None,
    platform: Platform,
) -> messaging.Accepted:
    return await messaging.send_message(
        session,
        actor,
        messaging.SendRequest(
            to=payload.to,
            body=payload.body,
            sender=payload.from_,
            media_urls=tuple(payload.media_urls),
            category=payload.category,
            status_callback=payload.status_callback,
            send_at=payload.send_at,
            smart_encoding=payload.smart_encoding,
            track_links=payload.track_links,
            context=payload.context,
        ),
        idempotency_key=idempotency_key,
        link_base_url=platform.settings.base_url,
        writer=platform.outbox,
    )


@router.get(
    "", response_model=Page[MessageOut], response_model_by_alias=True, summary="List messages"
)
async def list_messages(
    session: Session,
    actor: CurrentActor,
    status_: Annotated[str | None, Query(alias="status")] = None,
    contact_id: str | None = None,
    direction: Literal["inbound", "outbound"] | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[MessageOut]:
    rows, next_cursor = await messaging.list_messages(
        session,
        actor,
        messaging.MessageFilter(status_, contact_id, direction, created_after, created_before),
        limit=limit,
        cursor=cursor,
    )
    return Page(data=[MessageOut.of(m) for m in rows], next_cursor=next_cursor)


@router.get(
    "/{message_id}",
    response_model=MessageOut,
    response_model_by_alias=True,
    summary="Read a message and its event timeline",
)
async def read(message_id: str, session: Session, actor: CurrentActor) -> MessageOut:
    message = await messaging.get_message(session, actor, message_id)
    events = await messaging.message_events(session, actor, message_id)
    return MessageOut.of(message, events)


class WebhookAttemptOut(BaseModel):
    at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int


class WebhookDeliveryOut(BaseModel):
    id: str
    event: str
    url: str
    status: Literal["pending", "delivered", "failed"]
    attempts: list[WebhookAttemptOut]
    next_attempt_at: datetime | None
    payload: str = Field(description="The exact signed body that is POSTed")


@router.get(
    "/{message_id}/webhooks",
    response_model=list[WebhookDeliveryOut],
    summary="Status callbacks of a message, with every delivery attempt",
)
async def webhooks(
    message_id: str, session: Session, actor: CurrentActor
) -> list[WebhookDeliveryOut]:
    await messaging.get_message(session, actor, message_id)  # 404 unless it is this workspace's
    return [
        WebhookDeliveryOut(
            id=d.id,
            event=d.event,
            url=d.url,
            status=d.status,  # type: ignore[arg-type]
            next_attempt_at=d.next_attempt_at,
            payload=d.payload,
            attempts=[
                WebhookAttemptOut(
                    at=a.at, status_code=a.status_code, error=a.error, duration_ms=a.duration_ms
                )
                for a in attempts
            ],
        )
        for d, attempts in await status_callbacks.deliveries_of(session, actor, message_id)
    ]
