"""/v1/senders, /v1/carrier-connections, /v1/routes, /v1/rate-card: how texts leave.

Reading needs any role; changing needs an admin. Connection changes restart the running
connectors; sender and route changes reach the dispatcher on its next round.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from recado.api.deps import CurrentActor, Session, get_platform
from recado.api.pages import Cursor, Limit, Page
from recado.db.tables import CarrierConnection, Route, Sender
from recado.errors import ValidationFailed
from recado.services import carrier_setup, unmatched_reports
from recado.services.carrier_setup import MAX_PRIORITY, MAX_RATE_MPS, RateEntry
from recado.services.contacts import UNSET

router = APIRouter()

SenderKind = Literal["long_code", "short_code", "toll_free", "alphanumeric"]


def _sent(payload: BaseModel, nullable: tuple[str, ...] = ()) -> dict[str, Any]:
    """The fields a PATCH sent; null is refused for those that cannot be cleared."""
    sent = payload.model_dump(exclude_unset=True)
    for key, value in sent.items():
        if value is None and key not in nullable:
            raise ValidationFailed(f"{key} cannot be null; leave it out to keep it.", field=key)
    return sent


# --- senders ---------------------------------------------------------------------------------


class SenderIn(BaseModel):
    """A number or sender id to send from."""

    model_config = ConfigDict(extra="forbid")

    address: str = Field(
        description="long_code and toll_free: a phone number (E.164 or the workspace's "
        "national form); short_code: 3 to 8 digits; alphanumeric: 1 to 11 letters, digits "
        "or spaces with at least one letter"
    )
    kind: SenderKind
    is_default: bool = Field(default=False, description="Make it the workspace's default sender")
    rate_limit_mps: float = Field(
        default=10.0,
        gt=0,
        le=MAX_RATE_MPS,
        description="Message parts per second the carrier allows this sender",
    )
    connection_id: str | None = Field(
        default=None,
        description="Bind the sender to one carrier connection: its texts only go through it",
    )


class SenderPatch(BaseModel):
    """Fields to change; those left out stay. The address cannot change."""

    model_config = ConfigDict(extra="forbid")

    kind: SenderKind | None = None
    is_default: bool | None = Field(
        default=None, description="true makes it the default (the previous default stops being)"
    )
    rate_limit_mps: float | None = Field(default=None, gt=0, le=MAX_RATE_MPS)
    connection_id: str | None = Field(default=None, description="null unbinds the sender")


class SenderOut(BaseModel):
    id: str
    address: str
    kind: str
    is_default: bool
    rate_limit_mps: float
    connection_id: str | None
    created_at: datetime

    @classmethod
    def of(cls, sender: Sender) -> SenderOut:
        return cls(
            id=sender.id,
            address=sender.address,
            kind=sender.kind,
            is_default=sender.is_default,
            rate_limit_mps=sender.rate_limit_mps,
            connection_id=sender.connection_id,
            created_at=sender.created_at,
        )


@router.post(
    "/v1/senders",
    status_code=status.HTTP_201_CREATED,
    response_model=SenderOut,
    tags=["senders"],
    summary="Add a sender",
)
async def create_sender(
    payload: SenderIn, request: Request, session: Session, actor: CurrentActor
) -> SenderOut:
    sender = await carrier_setup.create_sender(session, actor, **payload.model_dump())
    get_platform(request).dispatcher.config_changed()
    return SenderOut.of(sender)


@router.get(
    "/v1/senders",
    response_model=Page[SenderOut],
    tags=["senders"],
    summary="List senders",
    description="Oldest first; page with `limit` and `cursor`.",
)
async def list_senders(
    session: Session, actor: CurrentActor, limit: Limit = 50, cursor: Cursor = None
) -> Page[SenderOut]:
    rows, next_cursor = await carrier_setup.list_senders(session, actor, limit=limit, cursor=cursor)
    return Page(data=[SenderOut.of(s) for s in rows], next_cursor=next_cursor)


@router.get(
    "/v1/senders/{sender_id}", response_model=SenderOut, tags=["senders"], summary="Read a sender"
)
async def read_sender(sender_id: str, session: Session, actor: CurrentActor) -> SenderOut:
    return SenderOut.of(await carrier_setup.get_sender(session, actor, sender_id))


@router.patch(
    "/v1/senders/{sender_id}",
    response_model=SenderOut,
    tags=["senders"],
    summary="Change a sender",
)
async def update_sender(
    sender_id: str, payload: SenderPatch, request: Request, session: Session, actor: CurrentActor
) -> SenderOut:
    sent = _sent(payload, nullable=("connection_id",))
    sender = await carrier_setup.update_sender(
        session,
        actor,
        sender_id,
        kind=sent.get("kind", UNSET),
        is_default=sent.get("is_default", UNSET),
        rate_limit_mps=sent.get("rate_limit_mps", UNSET),
        connection_id=sent.get("connection_id", UNSET),
    )
    get_platform(request).dispatcher.config_changed()
    return SenderOut.of(sender)


@router.delete(
    "/v1/senders/{sender_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["senders"],
    summary="Delete a sender",
    description="The workspace's last sender cannot be deleted (409). Deleting the default "
    "makes the oldest remaining sender the default.",
)
async def delete_sender(
    sender_id: str, request: Request, session: Session, actor: CurrentActor
) -> Response:
    await carrier_setup.delete_sender(session, actor, sender_id)
    get_platform(request).dispatcher.config_changed()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- carrier connections ---------------------------------------------------------------------


class ConnectionIn(BaseModel):
    """A carrier account: the simulator, an SMPP bind, a Twilio, Vonage or Plivo account."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Up to 100 characters, unique in the workspace")
    kind: str = Field(description="A connector: simulator, smpp, twilio, vonage or plivo")
    config: dict[str, Any] = Field(
        default_factory=dict, description="The connector's settings (host, credentials...)"
    )
    enabled: bool = Field(default=True, description="Disabled connections are not started")


class ConnectionPatch(BaseModel):
    """Fields to change; those left out stay. A config sent replaces the stored one, except
    secrets sent back masked exactly as they were answered, which keep their stored value."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    kind: str | None = None
    config: dict[str, Any] | None = None
    enabled: bool | None = None


class WebhookUrls(BaseModel):
    """Where to point the provider's callbacks."""

    status: str
    inbound: str


class ConnectionOut(BaseModel):
    id: str
    name: str
    kind: str
    config: dict[str, Any] = Field(description="Secrets are masked")
    enabled: bool
    connected: bool = Field(description="Whether the running connector is up right now")
    webhook_urls: WebhookUrls | None = Field(
        description="For HTTP providers: the URLs to set at the provider; null otherwise"
    )
    created_at: datetime


def _connection_out(request: Request, connection: CarrierConnection) -> ConnectionOut:
    platform = get_platform(request)
    connector = platform.connectors.get(connection.id)
    urls = carrier_setup.webhook_urls(connection, platform.settings.base_url)
    return ConnectionOut(
        id=connection.id,
        name=connection.name,
        kind=connection.kind,
        config=carrier_setup.masked_config(connection.config),
        enabled=connection.enabled,
        connected=bool(connector is not None and connector.connected),
        webhook_urls=WebhookUrls(**urls) if urls else None,
        created_at=connection.created_at,
    )


@router.post(
    "/v1/carrier-connections",
    status_code=status.HTTP_201_CREATED,
    response_model=ConnectionOut,
    tags=["carrier connections"],
    summary="Add a carrier connection",
    description="The config is checked by building the connector; an enabled connection is "
    "started at once.",
)
async def create_connection(
    payload: ConnectionIn, request: Request, session: Session, actor: CurrentActor
) -> ConnectionOut:
    connection = await carrier_setup.create_connection(session, actor, **payload.model_dump())
    await get_platform(request).sync_connectors()
    return _connection_out(request, connection)


@router.get(
    "/v1/carrier-connections",
    response_model=Page[ConnectionOut],
    tags=["carrier connections"],
    summary="List carrier connections",
    description="Oldest first; page with `limit` and `cursor`.",
)
async def list_connections(
    request: Request,
    session: Session,
    actor: CurrentActor,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[ConnectionOut]:
    rows, next_cursor = await carrier_setup.list_connections(
        session, actor, limit=limit, cursor=cursor
    )
    return Page(data=[_connection_out(request, c) for c in rows], next_cursor=next_cursor)


@router.get(
    "/v1/carrier-connections/{connection_id}",
    response_model=ConnectionOut,
    tags=["carrier connections"],
    summary="Read a carrier connection",
)
async def read_connection(
    connection_id: str, request: Request, session: Session, actor: CurrentActor
) -> ConnectionOut:
    connection = await carrier_setup.get_connection(session, actor, connection_id)
    return _connection_out(request, connection)


@router.patch(
    "/v1/carrier-connections/{connection_id}",
    response_model=ConnectionOut,
    tags=["carrier connections"],
    summary="Change a carrier connection",
)
async def update_connection(
    connection_id: str,
    payload: ConnectionPatch,
    request: Request,
    session: Session,
    actor: CurrentActor,
) -> ConnectionOut:
    sent = _sent(payload)
    connection = await carrier_setup.update_connection(
        session,
        actor,
        connection_id,
        name=sent.get("name", UNSET),
        kind=sent.get("kind", UNSET),
        config=sent.get("config", UNSET),
        enabled=sent.get("enabled", UNSET),
    )
    await get_platform(request).sync_connectors()
    return _connection_out(request, connection)


@router.delete(
    "/v1/carrier-connections/{connection_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["carrier connections"],
    summary="Delete a carrier connection",
    description="Its routes are deleted; senders bound to it are unbound.",
)
async def delete_connection(
    connection_id: str, request: Request, session: Session, actor: CurrentActor
) -> Response:
    await carrier_setup.delete_connection(session, actor, connection_id)
    await get_platform(request).sync_connectors()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


class ConnectionTestOut(BaseModel):
    ok: bool = Field(description="Whether the carrier was reached and accepted the credentials")
    detail: str = Field(description="What happened, in words for a person")
    elapsed_ms: int = Field(description="How long the test took")


@router.post(
    "/v1/carrier-connections/{connection_id}/test",
    response_model=ConnectionTestOut,
    tags=["carrier connections"],
    summary="Test a carrier connection",
    description="Contacts the carrier once with the stored settings (an SMPP bind and unbind, "
    "or an authenticated GET of the provider's account), giving up after 5 s. A carrier that "
    "cannot be reached or refuses answers 200 with ok false and the reason.",
)
async def test_connection(
    connection_id: str, session: Session, actor: CurrentActor
) -> ConnectionTestOut:
    result = await carrier_setup.test_connection(session, actor, connection_id)
    return ConnectionTestOut(ok=result.ok, detail=result.detail, elapsed_ms=result.elapsed_ms)


class UnmatchedReportOut(BaseModel):
    carrier_message_id: str = Field(description="The id as the carrier wrote it in the report")
    status: str
    error_code: str | None
    received_at: datetime


@router.get(
    "/v1/carrier-connections/{connection_id}/unmatched-reports",
    response_model=Page[UnmatchedReportOut],
    tags=["carrier connections"],
    summary="Delivery reports that matched no message",
    description="The newest 100 reports of this connection whose carrier id matched no "
    "message after about 4 s of retries, newest first (the newest 1,000 are kept). Compare "
    "their ids with the ids on your messages: a carrier writing ids in hex where the "
    "connection expects decimal (`submit_id_format`, `receipt_id_format`) is the usual cause.",
)
async def unmatched_reports_of(
    connection_id: str, session: Session, actor: CurrentActor
) -> Page[UnmatchedReportOut]:
    rows = await unmatched_reports.of_connection(session, actor, connection_id)
    return Page(
        data=[
            UnmatchedReportOut(
                carrier_message_id=r.carrier_message_id,
                status=r.status,
                error_code=r.error_code,
                received_at=r.received_at,
            )
            for r in rows
        ],
        next_cursor=None,
    )


# --- routes ----------------------------------------------------------------------------------


class RouteIn(BaseModel):
    """Destinations starting with `prefix` go through `connection_id`."""

    model_config = ConfigDict(extra="forbid")

    prefix: str = Field(
        default="",
        description="E.164 digits without '+' (55, 5511); \"\" matches every destination",
    )
    connection_id: str
    priority: int = Field(
        default=0,
        ge=0,
        le=MAX_PRIORITY,
        description="Among routes of the same prefix, lower goes first; the others are "
        "the failover order",
    )


class RouteOut(BaseModel):
    id: str
    prefix: str
    connection_id: str
    priority: int
    created_at: datetime

    @classmethod
    def of(cls, route: Route) -> RouteOut:
        return cls(
            id=route.id,
            prefix=route.prefix,
            connection_id=route.connection_id,
            priority=route.priority,
            created_at=route.created_at,
        )


@router.post(
    "/v1/routes",
    status_code=status.HTTP_201_CREATED,
    response_model=RouteOut,
    tags=["routes"],
    summary="Add a route",
    description="Once a workspace has routes, destinations that no route matches are not "
    'sent; add a route with prefix "" to catch them all.',
)
async def create_route(
    payload: RouteIn, request: Request, session: Session, actor: CurrentActor
) -> RouteOut:
    route = await carrier_setup.create_route(session, actor, **payload.model_dump())
    get_platform(request).dispatcher.config_changed()
    return RouteOut.of(route)


@router.get(
    "/v1/routes",
    response_model=Page[RouteOut],
    tags=["routes"],
    summary="List routes",
    description="All routes, in the order routing tries them: longest prefix first, then "
    "lowest priority. One page.",
)
async def list_routes(session: Session, actor: CurrentActor) -> Page[RouteOut]:
    rows = await carrier_setup.list_routes(session, actor)
    return Page(data=[RouteOut.of(r) for r in rows], next_cursor=None)


@router.get(
    "/v1/routes/{route_id}", response_model=RouteOut, tags=["routes"], summary="Read a route"
)
async def read_route(route_id: str, session: Session, actor: CurrentActor) -> RouteOut:
    return RouteOut.of(await carrier_setup.get_route(session, actor, route_id))


@router.delete(
    "/v1/routes/{route_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["routes"],
    summary="Delete a route",
)
async def delete_route(
    route_id: str, request: Request, session: Session, actor: CurrentActor
) -> Response:
    await carrier_setup.delete_route(session, actor, route_id)
    get_platform(request).dispatcher.config_changed()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- rate card -------------------------------------------------------------------------------


class RateIn(BaseModel):
    """The price per part to a destination prefix, for one kind of sender or any."""

    model_config = ConfigDict(extra="forbid")

    prefix: str = Field(description="E.164 digits without '+'; \"\" for every destination")
    sender_kind: SenderKind | None = Field(default=None, description="null: any kind of sender")
    price_per_part: str = Field(description='A decimal string, up to 6 decimals: "0.0079"')
    currency: str = Field(default="USD", description="ISO 4217 code")


class RateOut(BaseModel):
    id: str
    prefix: str
    sender_kind: str | None
    price_per_part: str = Field(description="A decimal string")
    currency: str

    @classmethod
    def of(cls, entry: RateEntry) -> RateOut:
        return cls(
            id=entry.id,
            prefix=entry.prefix,
            sender_kind=entry.sender_kind,
            price_per_part=f"{entry.price_per_part.normalize():f}",  # never "1E+2"
            currency=entry.currency,
        )


@router.get(
    "/v1/rate-card",
    response_model=Page[RateOut],
    tags=["rate card"],
    summary="List the workspace's rates",
    description="Most specific first. Destinations none of them covers use the default rates. "
    "One page.",
)
async def list_rates(session: Session, actor: CurrentActor) -> Page[RateOut]:
    rows = await carrier_setup.list_rates(session, actor)
    return Page(data=[RateOut.of(r) for r in rows], next_cursor=None)


@router.put(
    "/v1/rate-card",
    response_model=RateOut,
    tags=["rate card"],
    summary="Set a rate",
    description="Creates the rate for this prefix and sender kind (201) or replaces its "
    "price (200).",
    responses={201: {"description": "A new rate"}},
)
async def put_rate(
    payload: RateIn, response: Response, session: Session, actor: CurrentActor
) -> RateOut:
    entry, created = await carrier_setup.put_rate(session, actor, **payload.model_dump())
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return RateOut.of(entry)


@router.get(
    "/v1/rate-card/{entry_id}", response_model=RateOut, tags=["rate card"], summary="Read a rate"
)
async def read_rate(entry_id: str, session: Session, actor: CurrentActor) -> RateOut:
    return RateOut.of(await carrier_setup.get_rate(session, actor, entry_id))


@router.delete(
    "/v1/rate-card/{entry_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["rate card"],
    summary="Delete a rate",
)
async def delete_rate(entry_id: str, session: Session, actor: CurrentActor) -> Response:
    await carrier_setup.delete_rate(session, actor, entry_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
