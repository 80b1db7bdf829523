"""/v1/events: what contacts did in the shop or app; orders are credited to campaigns."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from recado.api.deps import CurrentActor, Session
from recado.api.pages import Cursor, Limit, Page
from recado.db.tables import ContactEvent
from recado.errors import RecadoError, ValidationFailed
from recado.services import contact_events
from recado.services.contact_events import EventInput, amount_text

router = APIRouter(prefix="/v1/events", tags=["events"])

MAX_BATCH = 100


class EventIn(BaseModel):
    """One event. Name the person by `phone`, `contact_id` or `external_id`.

    `order.placed` needs `order_id`, `value` and `currency` (and `coupon_code` when the order
    used one); these may also be sent inside `properties`. Other names are free (letters,
    digits and `. _ - :`), with any `properties`."""

    model_config = ConfigDict(extra="forbid")

    event_id: str = Field(
        description="Your unique id of this event: sending it again answers the stored event "
        "(200), sending other contents under it is refused (409)"
    )
    name: str = Field(description="order.placed, or your own name such as cart.abandoned")
    occurred_at: datetime | None = Field(
        default=None, description="When it happened, with a time zone (default: now)"
    )
    phone: str | None = Field(
        default=None,
        description="The person's number, in E.164 or as written in the workspace's country",
    )
    contact_id: str | None = Field(default=None, description="Recado's contact id")
    external_id: str | None = Field(default=None, description="Your own id of the person")
    order_id: str | None = Field(default=None, description="order.placed: the shop's order id")
    value: Decimal | str | None = Field(
        default=None, description="The order total in the currency unit (49.90), 6 decimals at most"
    )
    currency: str | None = Field(default=None, description="ISO 4217 code such as USD")
    coupon_code: str | None = Field(default=None, description="The discount code used")
    properties: dict[str, Any] = Field(
        default_factory=dict, description="Anything else, as a JSON object (up to 16 KB)"
    )


class AttributionOut(BaseModel):
    campaign_id: str
    variant_id: str | None
    message_id: str | None = Field(description="The campaign message credited (null: none)")
    rule: Literal["coupon", "click", "delivery"] = Field(
        description="coupon: the order used the campaign's code; click: the contact clicked "
        "the message within the click window; delivery: it was delivered within the delivery "
        "window"
    )


class EventOut(BaseModel):
    id: str
    event_id: str
    name: str
    contact_id: str | None = Field(description="null when no contact matched")
    occurred_at: datetime
    order_id: str | None
    value: str | None = Field(description="Exact decimal text in the currency unit")
    value_micros: int | None = Field(description="The value in millionths of the unit")
    currency: str | None
    coupon_code: str | None
    properties: dict[str, Any]
    attribution: AttributionOut | None = Field(
        description="The campaign this order is credited to; null when none (or when another "
        "event of the same order was credited)"
    )
    created_at: datetime


class BatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: list[dict[str, Any]] = Field(description=f"Up to {MAX_BATCH} events, as in POST")


class ErrorOut(BaseModel):
    code: str
    message: str
    field: str | None


class BatchItemOut(BaseModel):
    status: int = Field(description="201 stored, 200 a replay, 409 or 422 refused")
    event: EventOut | None = None
    error: ErrorOut | None = None


class BatchOut(BaseModel):
    data: list[BatchItemOut] = Field(description="One result per event, in the order sent")


@router.post(
    "",
    response_model=EventOut,
    status_code=status.HTTP_201_CREATED,
    summary="Record an event (an order, or your own)",
    responses={200: {"description": "A replay: the event stored before under this event_id"}},
)
async def record(
    body: EventIn, response: Response, session: Session, actor: CurrentActor
) -> EventOut:
    recorded = await contact_events.record_event(session, actor, _input(body))
    if not recorded.created:
        response.status_code = status.HTTP_200_OK
    return event_out(recorded.event)


@router.post(
    "/batch",
    response_model=BatchOut,
    summary=f"Record up to {MAX_BATCH} events",
    description="Each event is stored on its own: one refused event does not stop the others.",
)
async def record_batch(body: BatchIn, session: Session, actor: CurrentActor) -> BatchOut:
    if len(body.events) > MAX_BATCH:
        raise ValidationFailed(
            f"A batch holds at most {MAX_BATCH} events; send {len(body.events)} in several.",
            field="events",
        )
    results = []
    for index, raw in enumerate(body.events):
        try:
            event = _parse(raw, index)
            recorded = await contact_events.record_event(session, actor, _input(event))
        except RecadoError as exc:
            await session.rollback()
            field = f"events[{index}]" + (f".{exc.field}" if exc.field else "")
            error = ErrorOut(code=exc.code, message=exc.message, field=field)
            results.append(BatchItemOut(status=exc.status, error=error))
            continue
        code = 201 if recorded.created else 200
        results.append(BatchItemOut(status=code, event=event_out(recorded.event)))
    return BatchOut(data=results)


@router.get("", response_model=Page[EventOut], summary="Events, newest first")
async def list_events(
    session: Session,
    actor: CurrentActor,
    limit: Limit = 50,
    cursor: Cursor = None,
    contact_id: Annotated[str | None, Query(description="Only this contact's")] = None,
    name: Annotated[str | None, Query(description="Only events of this name")] = None,
    campaign_id: Annotated[str | None, Query(description="Only orders credited to it")] = None,
) -> Page[EventOut]:
    events, next_cursor = await contact_events.list_events(
        session,
        actor,
        contact_id=contact_id,
        name=name,
        campaign_id=campaign_id,
        limit=limit,
        cursor=cursor,
    )
    return Page[EventOut](data=[event_out(e) for e in events], next_cursor=next_cursor)


@router.get("/{event_id}", response_model=EventOut, summary="One event")
async def get_event(event_id: str, session: Session, actor: CurrentActor) -> EventOut:
    return event_out(await contact_events.get_event(session, actor, event_id))


def event_out(event: ContactEvent) -> EventOut:
    credit = None
    if event.attribution and event.campaign_id:
        credit = AttributionOut(
            campaign_id=event.campaign_id,
            variant_id=event.variant_id,
            message_id=event.message_id,
            rule=event.attribution,  # type: ignore[arg-type]
        )
    return EventOut(
        id=event.id,
        event_id=event.event_id,
        name=event.name,
        contact_id=event.contact_id,
        occurred_at=event.occurred_at,
        order_id=event.order_id,
        value=amount_text(event.value_micros) if event.value_micros is not None else None,
        value_micros=event.value_micros,
        currency=event.currency,
        coupon_code=event.coupon_code,
        properties=event.properties or {},
        attribution=credit,
        created_at=event.created_at,
    )


def _parse(raw: dict[str, Any], index: int) -> EventIn:
    try:
        return EventIn.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or None
        message = f"{field}: {first['msg']}" if field else str(first["msg"])
        raise ValidationFailed(message, field=field) from None


def _input(body: EventIn) -> EventInput:
    return EventInput(
        event_id=body.event_id,
        name=body.name,
        occurred_at=body.occurred_at,
        phone=body.phone,
        contact_id=body.contact_id,
        external_id=body.external_id,
        order_id=body.order_id,
        value=body.value,
        currency=body.currency,
        coupon_code=body.coupon_code,
        properties=body.properties,
    )
