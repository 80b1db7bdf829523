"""Carrier setup: the workspace's senders, carrier connections, routes and rate card.

Everything here is configuration an admin edits: reading needs READ, changing it needs
MANAGE_SETTINGS. The caller restarts connectors (Platform.sync_connectors) and tells the
dispatcher (config_changed) after a change; these functions only keep the rows right.

A connection's config is checked by building its connector (without starting it), so a
connection that is saved is one the platform can run. Secrets in a config are answered
masked; a masked value sent back unchanged keeps the stored secret.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from recado.carriers.base import (
    CONNECTOR_TYPES,
    Connector,
    build_connector,
    load_builtin_connectors,
)
from recado.carriers.probe import ProbeFailed, probe
from recado.db.pages import page_by_id
from recado.db.tables import CarrierConnection, RateCardEntry, Route, Sender, Workspace, utcnow
from recado.domain.phone import parse_phone
from recado.domain.pricing import MICROS, from_micros
from recado.domain.roles import Permission
from recado.errors import Conflict, InvalidPhoneNumber, NotFound, ValidationFailed
from recado.ids import new_id
from recado.services.actor import Actor
from recado.services.contacts import UNSET, Unset, check_cursor, looks_like_id, single_line

SENDER_KINDS: Final = ("long_code", "short_code", "toll_free", "alphanumeric")
MAX_RATE_MPS = 10_000.0
MAX_PREFIX_DIGITS = 15  # the longest E.164 number
MAX_PRIORITY = 1_000_000
MAX_PRICE_PER_PART = Decimal(1000)
MAX_NAME = 100
SECRET_KEYS: Final = frozenset(
    {"password", "auth_token", "api_secret", "signature_secret", "secret", "token"}
)
SECRET_SUFFIXES: Final = ("_password", "_secret", "_token")
MASK: Final = "••••"
# Showing the last 4 characters of a short secret (an SMPP password has at most 8) gives
# half of it away; those are masked whole.
MIN_SECRET_TO_HINT = 12

_SHORT_CODE = re.compile(r"^[0-9]{3,8}$")
_ALPHANUMERIC = re.compile(r"^[A-Za-z0-9 ]{1,11}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")


# --- senders ---------------------------------------------------------------------------------


async def create_sender(
    session: AsyncSession,
    actor: Actor,
    *,
    address: str,
    kind: str,
    is_default: bool = False,
    rate_limit_mps: float = 10.0,
    connection_id: str | None = None,
) -> Sender:
    """Add a number or sender id; the address is checked against its kind."""
    actor.require(Permission.MANAGE_SETTINGS)
    kind = _sender_kind(kind)
    address = await _sender_address(session, actor, address, kind)
    sender = Sender(
        id=new_id("snd"),
        workspace_id=actor.workspace_id,
        address=address,
        kind=kind,
        is_default=is_default,
        rate_limit_mps=_rate(rate_limit_mps),
        connection_id=await _own_connection_id(session, actor, connection_id),
        created_at=utcnow(),
    )
    await _check_address_free(session, actor, address)
    if is_default:
        await _clear_default(session, actor)
    session.add(sender)
    await _commit_sender(session, address)
    return sender


async def get_sender(session: AsyncSession, actor: Actor, sender_id: str) -> Sender:
    actor.require(Permission.READ)
    return await _sender(session, actor, sender_id)


async def list_senders(
    session: AsyncSession, actor: Actor, *, limit: int = 50, cursor: str | None = None
) -> tuple[list[Sender], str | None]:
    """Oldest first; `cursor` is the id of the last sender of the previous page."""
    actor.require(Permission.READ)
    query = select(Sender).where(Sender.workspace_id == actor.workspace_id)
    return await page_by_id(
        session,
        query,
        Sender.id,
        limit=limit,
        cursor=cursor and check_cursor(cursor),
        newest_first=False,
    )


async def update_sender(
    session: AsyncSession,
    actor: Actor,
    sender_id: str,
    *,
    kind: str | Unset = UNSET,
    is_default: bool | Unset = UNSET,
    rate_limit_mps: float | Unset = UNSET,
    connection_id: str | None | Unset = UNSET,
) -> Sender:
    """Change a sender; fields left UNSET stay. `connection_id` None unbinds it."""
    actor.require(Permission.MANAGE_SETTINGS)
    sender = await _sender(session, actor, sender_id)
    if kind is not UNSET:
        kind = _sender_kind(kind)
        # The address stays; it must still be a valid one of the new kind.
        sender.address = await _sender_address(session, actor, sender.address, kind)
        sender.kind = kind
    if rate_limit_mps is not UNSET:
        sender.rate_limit_mps = _rate(rate_limit_mps)
    if connection_id is not UNSET:
        sender.connection_id = await _own_connection_id(session, actor, connection_id)
    if is_default is True and not sender.is_default:
        await _clear_default(session, actor)
        sender.is_default = True
    elif is_default is False and sender.is_default:
        raise ValidationFailed(
            "A workspace always has a default sender: set is_default on another sender "
            "to make it the default instead.",
            field="is_default",
        )
    await _commit_sender(session, sender.address)
    return sender


async def delete_sender(session: AsyncSession, actor: Actor, sender_id: str) -> None:
    """Delete a sender; the default passes to the oldest sender left. The last one stays."""
    actor.require(Permission.MANAGE_SETTINGS)
    sender = await _sender(session, actor, sender_id)
    remaining = await session.scalar(
        select(func.count())
        .select_from(Sender)
        .where(Sender.workspace_id == actor.workspace_id, Sender.id != sender.id)
    )
    if not remaining:
        raise Conflict(
            f"{sender.address} is the workspace's only sender and messages need one: "
            "add another sender first, then delete this one.",
            code="last_sender",
        )
    await session.execute(
        delete(Sender).where(Sender.workspace_id == actor.workspace_id, Sender.id == sender.id)
    )
    if sender.is_default:
        heir = await session.scalar(
            select(Sender)
            .where(Sender.workspace_id == actor.workspace_id)
            .order_by(Sender.id)
            .limit(1)
        )
        if heir is not None:
            heir.is_default = True
    await session.commit()


async def _sender(session: AsyncSession, actor: Actor, sender_id: str) -> Sender:
    sender = None
    if looks_like_id(sender_id):
        sender = await session.scalar(
            select(Sender).where(Sender.workspace_id == actor.workspace_id, Sender.id == sender_id)
        )
    if sender is None:
        raise NotFound(f"No sender with id {sender_id[:40]} in this workspace.")
    return sender


def _sender_kind(kind: str) -> str:
    if kind not in SENDER_KINDS:
        raise ValidationFailed(
            f"'{kind[:40]}' is not a sender kind: use one of {', '.join(SENDER_KINDS)}.",
            field="kind",
        )
    return kind


async def _sender_address(session: AsyncSession, actor: Actor, address: str, kind: str) -> str:
    """The address in its stored form: E.164 for numbers, digits, or the sender id."""
    text = single_line(address, "address", 64).strip()
    if kind in ("long_code", "toll_free"):
        country = await session.scalar(
            select(Workspace.default_country).where(Workspace.id == actor.workspace_id)
        )
        try:
            return parse_phone(text, country or "US").e164
        except InvalidPhoneNumber as error:
            raise InvalidPhoneNumber(error.message, field="address") from None
    if kind == "short_code":
        if not _SHORT_CODE.match(text):
            raise ValidationFailed(
                f"'{text[:40]}' is not a short code: a short code has 3 to 8 digits.",
                field="address",
            )
        return text
    if not _ALPHANUMERIC.match(text) or not any(c.isalpha() for c in text):
        raise ValidationFailed(
            f"'{text[:40]}' is not an alphanumeric sender id: it has 1 to 11 letters, digits "
            "or spaces, at least one of them a letter.",
            field="address",
        )
    return text


def _rate(rate: float) -> float:
    if not math.isfinite(rate) or not 0 < rate <= MAX_RATE_MPS:
        raise ValidationFailed(
            f"rate_limit_mps is the parts per second the carrier allows: more than 0 and at "
            f"most {MAX_RATE_MPS:g}.",
            field="rate_limit_mps",
        )
    return float(rate)


async def _check_address_free(session: AsyncSession, actor: Actor, address: str) -> None:
    existing = await session.scalar(
        select(Sender.id).where(
            Sender.workspace_id == actor.workspace_id, Sender.address == address
        )
    )
    if existing is not None:
        raise Conflict(f"The sender {address} already exists ({existing}).", field="address")


async def _clear_default(session: AsyncSession, actor: Actor) -> None:
    await session.execute(
        update(Sender)
        .where(Sender.workspace_id == actor.workspace_id, Sender.is_default.is_(True))
        .values(is_default=False)
        .execution_options(synchronize_session="fetch")
    )


async def _commit_sender(session: AsyncSession, address: str) -> None:
    """Commit; a unique violation here is a concurrent sender with the same address."""
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise Conflict(f"The sender {address} already exists.", field="address") from None


# --- carrier connections ---------------------------------------------------------------------


async def create_connection(
    session: AsyncSession,
    actor: Actor,
    *,
    name: str,
    kind: str,
    config: Mapping[str, Any],
    enabled: bool = True,
) -> CarrierConnection:
    """Save a carrier account; its config must build a connector of its kind."""
    actor.require(Permission.MANAGE_SETTINGS)
    name = _connection_name(name)
    kind = connector_kind(kind)
    stored = _check_config(kind, _unmask(dict(config), {}))
    await _check_connection_name_free(session, actor, name)
    connection = CarrierConnection(
        id=new_id("conn"),
        workspace_id=actor.workspace_id,
        name=name,
        kind=kind,
        config=stored,
        enabled=enabled,
        created_at=utcnow(),
    )
    session.add(connection)
    await _commit_connection(session, name)
    return connection


async def get_connection(
    session: AsyncSession, actor: Actor, connection_id: str
) -> CarrierConnection:
    actor.require(Permission.READ)
    return await _connection(session, actor, connection_id)


async def list_connections(
    session: AsyncSession, actor: Actor, *, limit: int = 50, cursor: str | None = None
) -> tuple[list[CarrierConnection], str | None]:
    """Oldest first; `cursor` is the id of the last connection of the previous page."""
    actor.require(Permission.READ)
    query = select(CarrierConnection).where(CarrierConnection.workspace_id == actor.workspace_id)
    return await page_by_id(
        session,
        query,
        CarrierConnection.id,
        limit=limit,
        cursor=cursor and check_cursor(cursor),
        newest_first=False,
    )


async def update_connection(
    session: AsyncSession,
    actor: Actor,
    connection_id: str,
    *,
    name: str | Unset = UNSET,
    kind: str | Unset = UNSET,
    config: Mapping[str, Any] | Unset = UNSET,
    enabled: bool | Unset = UNSET,
) -> CarrierConnection:
    """Change a connection. A config sent replaces the stored one, except that a secret
    sent back masked, exactly as it was answered, keeps its stored value."""
    actor.require(Permission.MANAGE_SETTINGS)
    connection = await _connection(session, actor, connection_id)
    if name is not UNSET:
        name = _connection_name(name)
        if name != connection.name:
            await _check_connection_name_free(session, actor, name)
        connection.name = name
    new_kind = connection.kind if kind is UNSET else connector_kind(kind)
    if config is not UNSET or new_kind != connection.kind:
        stored = dict(connection.config or {})
        wanted = stored if config is UNSET else _unmask(dict(config), stored)
        connection.config = _check_config(new_kind, wanted)
        connection.kind = new_kind
    if enabled is not UNSET:
        connection.enabled = enabled
    await _commit_connection(session, connection.name)
    return connection


async def delete_connection(session: AsyncSession, actor: Actor, connection_id: str) -> None:
    """Delete a connection with its routes; senders bound to it are unbound, not deleted."""
    actor.require(Permission.MANAGE_SETTINGS)
    connection = await _connection(session, actor, connection_id)
    scope = (actor.workspace_id, connection.id)
    # Explicit, so as not to rely on the database enforcing ON DELETE rules.
    await session.execute(
        delete(Route).where(Route.workspace_id == scope[0], Route.connection_id == scope[1])
    )
    await session.execute(
        update(Sender)
        .where(Sender.workspace_id == scope[0], Sender.connection_id == scope[1])
        .values(connection_id=None)
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        delete(CarrierConnection).where(
            CarrierConnection.workspace_id == scope[0], CarrierConnection.id == scope[1]
        )
    )
    await session.commit()


def connector_kind(kind: str) -> str:
    """A registered connector code, or a 422 that lists the known ones."""
    load_builtin_connectors()
    if kind not in CONNECTOR_TYPES:
        known = ", ".join(sorted(CONNECTOR_TYPES))
        raise ValidationFailed(
            f"No carrier connector called '{kind[:40]}'; known kinds: {known}.", field="kind"
        )
    return kind


def masked_config(config: Mapping[str, Any] | None) -> dict[str, Any]:
    """The config as it may be shown: secret-looking values masked."""
    return {
        key: mask(value) if is_secret(key) and value not in (None, "") else value
        for key, value in (config or {}).items()
    }


def is_secret(key: str) -> bool:
    key = key.lower()
    return key in SECRET_KEYS or key.endswith(SECRET_SUFFIXES)


def mask(value: Any) -> str:
    text = str(value)
    return MASK + text[-4:] if len(text) >= MIN_SECRET_TO_HINT else MASK


def takes_webhooks(kind: str) -> bool:
    """Whether connectors of this kind are called back over HTTP (the HTTP providers)."""
    load_builtin_connectors()
    cls = CONNECTOR_TYPES.get(kind)
    return cls is not None and cls.handle_webhook is not Connector.handle_webhook


def webhook_urls(connection: CarrierConnection, base_url: str) -> dict[str, str] | None:
    """Where the provider must send status callbacks and inbound texts; None if it has none."""
    if not takes_webhooks(connection.kind):
        return None
    root = f"{base_url.rstrip('/')}/carriers/{connection.id}"
    return {"status": f"{root}/status", "inbound": f"{root}/inbound"}


async def _connection(
    session: AsyncSession, actor: Actor, connection_id: str, *, field: str | None = None
) -> CarrierConnection:
    connection = None
    if looks_like_id(connection_id):
        connection = await session.scalar(
            select(CarrierConnection).where(
                CarrierConnection.workspace_id == actor.workspace_id,
                CarrierConnection.id == connection_id,
            )
        )
    if connection is None:
        raise NotFound(
            f"No carrier connection with id {connection_id[:40]} in this workspace.", field=field
        )
    return connection


async def _own_connection_id(
    session: AsyncSession, actor: Actor, connection_id: str | None
) -> str | None:
    if connection_id is None:
        return None
    return (await _connection(session, actor, connection_id, field="connection_id")).id


def _connection_name(name: str) -> str:
    text = single_line(name, "name", MAX_NAME).strip()
    if not text:
        raise ValidationFailed("A carrier connection needs a name.", field="name")
    return text


def _check_config(kind: str, config: dict[str, Any]) -> dict[str, Any]:
    """Build (never start) a connector from the config: what cannot run is not saved."""
    try:
        build_connector(kind, "check", dict(config))
    except (ValueError, KeyError, TypeError) as error:
        message = str(error.args[0]) if isinstance(error, KeyError) and error.args else str(error)
        raise ValidationFailed(
            f"The {kind} config is not usable: {message}", field="config"
        ) from None
    return config


def _unmask(sent: dict[str, Any], stored: Mapping[str, Any]) -> dict[str, Any]:
    """Put back the stored secrets that were sent back masked."""
    for key, value in sent.items():
        if not is_secret(key) or not isinstance(value, str) or not value.startswith(MASK):
            continue
        old = stored.get(key)
        if old in (None, "") or value != mask(old):
            raise ValidationFailed(
                f"config.{key} is a masked value that matches no stored secret: send the "
                "secret itself, or the masked value exactly as it was answered to keep it.",
                field=f"config.{key}",
            )
        sent[key] = old
    return sent


async def _check_connection_name_free(session: AsyncSession, actor: Actor, name: str) -> None:
    existing = await session.scalar(
        select(CarrierConnection.id).where(
            CarrierConnection.workspace_id == actor.workspace_id, CarrierConnection.name == name
        )
    )
    if existing is not None:
        raise Conflict(
            f"A carrier connection named '{name}' already exists ({existing}).", field="name"
        )


async def _commit_connection(session: AsyncSession, name: str) -> None:
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise Conflict(
            f"A carrier connection named '{name}' already exists.", field="name"
        ) from None


# --- routes ----------------------------------------------------------------------------------


async def create_route(
    session: AsyncSession,
    actor: Actor,
    *,
    prefix: str,
    connection_id: str,
    priority: int = 0,
) -> Route:
    """Send destinations starting with `prefix` ("" for all) through a connection."""
    actor.require(Permission.MANAGE_SETTINGS)
    prefix = destination_prefix(prefix)
    if not 0 <= priority <= MAX_PRIORITY:
        raise ValidationFailed(
            f"priority is 0 to {MAX_PRIORITY}; lower goes first.", field="priority"
        )
    connection = await _connection(session, actor, connection_id, field="connection_id")
    existing = await session.scalar(
        select(Route.id).where(
            Route.workspace_id == actor.workspace_id,
            Route.prefix == prefix,
            Route.connection_id == connection.id,
        )
    )
    if existing is not None:
        raise Conflict(
            f"Destinations '+{prefix}' already go through {connection.name} ({existing}); "
            "delete that route to change its priority.",
            field="prefix",
        )
    route = Route(
        id=new_id("rt"),
        workspace_id=actor.workspace_id,
        prefix=prefix,
        connection_id=connection.id,
        priority=priority,
        created_at=utcnow(),
    )
    session.add(route)
    await session.commit()
    return route


async def get_route(session: AsyncSession, actor: Actor, route_id: str) -> Route:
    actor.require(Permission.READ)
    return await _route(session, actor, route_id)


async def list_routes(session: AsyncSession, actor: Actor) -> list[Route]:
    """Every route, in the order routing tries them: longest prefix, then lowest priority."""
    actor.require(Permission.READ)
    rows = await session.scalars(select(Route).where(Route.workspace_id == actor.workspace_id))
    return sorted(rows, key=lambda r: (-len(r.prefix), r.priority, r.id))


async def delete_route(session: AsyncSession, actor: Actor, route_id: str) -> None:
    actor.require(Permission.MANAGE_SETTINGS)
    route = await _route(session, actor, route_id)
    await session.execute(
        delete(Route).where(Route.workspace_id == actor.workspace_id, Route.id == route.id)
    )
    await session.commit()


async def _route(session: AsyncSession, actor: Actor, route_id: str) -> Route:
    route = None
    if looks_like_id(route_id):
        route = await session.scalar(
            select(Route).where(Route.workspace_id == actor.workspace_id, Route.id == route_id)
        )
    if route is None:
        raise NotFound(f"No route with id {route_id[:40]} in this workspace.")
    return route


def destination_prefix(prefix: str) -> str:
    """E.164 digits without '+' (a leading '+' is dropped); "" matches every destination."""
    text = prefix.strip().removeprefix("+")
    if not (text.isascii() and text.isdigit()) and text != "":
        raise ValidationFailed(
            f"'{prefix[:40]}' is not a destination prefix: use the digits of the country "
            'code and beyond, for example 55 or 5511, or "" for every destination.',
            field="prefix",
        )
    if len(text) > MAX_PREFIX_DIGITS:
        raise ValidationFailed(f"A prefix has at most {MAX_PREFIX_DIGITS} digits.", field="prefix")
    return text


# --- rate card -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RateEntry:
    """One rate as the API shows it."""

    id: str
    prefix: str
    sender_kind: str | None
    price_per_part: Decimal
    currency: str

    @classmethod
    def of(cls, row: RateCardEntry) -> RateEntry:
        return cls(row.id, row.prefix, row.sender_kind, from_micros(row.price_micros), row.currency)


async def list_rates(session: AsyncSession, actor: Actor) -> list[RateEntry]:
    """The workspace's own rates, most specific first; the default rates cover the rest."""
    actor.require(Permission.READ)
    rows = await session.scalars(
        select(RateCardEntry).where(RateCardEntry.workspace_id == actor.workspace_id)
    )
    return [
        RateEntry.of(row)
        for row in sorted(
            rows, key=lambda r: (-len(r.prefix), r.prefix, r.sender_kind is None, r.sender_kind)
        )
    ]


async def get_rate(session: AsyncSession, actor: Actor, entry_id: str) -> RateEntry:
    actor.require(Permission.READ)
    return RateEntry.of(await _rate_row(session, actor, entry_id))


async def put_rate(
    session: AsyncSession,
    actor: Actor,
    *,
    prefix: str,
    sender_kind: str | None,
    price_per_part: str,
    currency: str = "USD",
) -> tuple[RateEntry, bool]:
    """Set the price per part for a prefix and sender kind; True when the entry is new."""
    actor.require(Permission.MANAGE_SETTINGS)
    prefix = destination_prefix(prefix)
    if sender_kind is not None and sender_kind not in SENDER_KINDS:
        raise ValidationFailed(
            f"'{sender_kind[:40]}' is not a sender kind: use one of {', '.join(SENDER_KINDS)}, "
            "or null for any.",
            field="sender_kind",
        )
    micros = _price_micros(price_per_part)
    currency = currency.strip().upper()
    if not _CURRENCY.match(currency):
        raise ValidationFailed(
            "currency is a three-letter ISO 4217 code such as USD or BRL.", field="currency"
        )
    for attempt in (1, 2):
        kind_is = (
            RateCardEntry.sender_kind.is_(None)
            if sender_kind is None
            else RateCardEntry.sender_kind == sender_kind
        )
        row = await session.scalar(
            select(RateCardEntry).where(
                RateCardEntry.workspace_id == actor.workspace_id,
                RateCardEntry.prefix == prefix,
                kind_is,
            )
        )
        created = row is None
        if row is None:
            row = RateCardEntry(
                id=new_id("rate"),
                workspace_id=actor.workspace_id,
                prefix=prefix,
                sender_kind=sender_kind,
            )
            session.add(row)
        row.price_micros = micros
        row.currency = currency
        try:
            await session.commit()
        except IntegrityError:
            # A concurrent put made the same entry first: update that one instead.
            await session.rollback()
            if attempt == 2:
                raise
            continue
        return RateEntry.of(row), created
    raise AssertionError("unreachable")


async def delete_rate(session: AsyncSession, actor: Actor, entry_id: str) -> None:
    actor.require(Permission.MANAGE_SETTINGS)
    row = await _rate_row(session, actor, entry_id)
    await session.execute(
        delete(RateCardEntry).where(
            RateCardEntry.workspace_id == actor.workspace_id, RateCardEntry.id == row.id
        )
    )
    await session.commit()


async def _rate_row(session: AsyncSession, actor: Actor, entry_id: str) -> RateCardEntry:
    row = None
    if looks_like_id(entry_id):
        row = await session.scalar(
            select(RateCardEntry).where(
                RateCardEntry.workspace_id == actor.workspace_id, RateCardEntry.id == entry_id
            )
        )
    if row is None:
        raise NotFound(f"No rate card entry with id {entry_id[:40]} in this workspace.")
    return row


def _price_micros(price: str) -> int:
    """A price per part as millionths of the currency unit, exactly."""
    try:
        value = Decimal(str(price).strip())
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite() or not 0 <= value <= MAX_PRICE_PER_PART:
        raise ValidationFailed(
            f'price_per_part is a decimal from 0 to {MAX_PRICE_PER_PART}, for example "0.0079".',
            field="price_per_part",
        )
    micros = value * MICROS
    if micros != micros.to_integral_value():
        raise ValidationFailed(
            "price_per_part has at most 6 decimal places.", field="price_per_part"
        )
    return int(micros)


# --- connection test -------------------------------------------------------------------------

CONNECTION_TEST_SECONDS = 5.0


@dataclass(frozen=True)
class ConnectionTest:
    """What contacting the carrier once showed: whether it worked, in words, and how long."""

    ok: bool
    detail: str
    elapsed_ms: int


async def test_connection(
    session: AsyncSession, actor: Actor, connection_id: str
) -> ConnectionTest:
    """Contact the connection's carrier once (a bind, or an authenticated GET) with a 5 s
    timeout. A carrier that cannot be reached or refuses is an answer, never an error."""
    actor.require(Permission.MANAGE_SETTINGS)
    connection = await _connection(session, actor, connection_id)
    kind, config = connection.kind, dict(connection.config or {})
    # The probe may take seconds: hold no transaction open while it waits on the network.
    await session.rollback()
    started = time.monotonic()
    try:
        detail = await probe(kind, config, seconds=CONNECTION_TEST_SECONDS)
        ok = True
    except ProbeFailed as failure:
        detail, ok = failure.detail, False
    except Exception as error:  # a carrier failure is reported, not raised
        detail, ok = f"The test failed: {type(error).__name__}: {error}", False
    elapsed_ms = round((time.monotonic() - started) * 1000)
    return ConnectionTest(ok=ok, detail=detail, elapsed_ms=elapsed_ms)


test_connection.__test__ = False  # type: ignore[attr-defined]  # not a pytest test
