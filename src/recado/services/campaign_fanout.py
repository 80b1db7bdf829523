"""A campaign's fan-out: its audience becomes message rows, chunk by chunk, in batched SQL.

Each chunk is one transaction:
  1. `next_audience_chunk`: the next contacts of the audience by id (keyset), leaving out
     those the campaign already texted or skipped, with the compliance verdict computed in
     the SELECT (opted out, no consent in force);
  2. the suppression list, for the chunk's numbers in one query (its keys are HMACs, so
     they are computed here, not in SQL);
  3. per recipient, in Python: A/B group, discount code (drawn for the chunk in one batch),
     render (the template compiled once), opt-out footer, tracked links, parts, price;
  4. `insert_messages`: the message rows in one executemany, ON CONFLICT DO NOTHING on
     (workspace_id, idempotency_key), the key being `campaign:<campaign>:<contact>`, so a
     second fan-out of the same recipient cannot happen, whatever runs it; RETURNING the
     rows written;
  5. `_events`: their `queued`/`scheduled` event, from the same values;
  6. their link rows (`links.insert_links`) and the chunk's skips (`campaign_skips`).
The message and skip rows are the cursor: if the process dies, the next run starts where
the committed chunks end, and nobody is texted twice. The dispatcher's gate checks consent,
opt-out, quiet hours and frequency caps again right before each submit.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import os
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from operator import itemgetter
from typing import Any, cast
from zoneinfo import ZoneInfo

import phonenumbers
from phonenumbers import timezone as phone_timezones
from sqlalchemy import (
    ColumnElement,
    Table,
    case,
    exists,
    func,
    literal,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from recado.db.tables import (
    MESSAGES,
    Campaign,
    CampaignSkip,
    CampaignVariant,
    Contact,
    Link,
    Message,
    MessageEvent,
    Sender,
    Suppression,
    Workspace,
    utcnow,
)
from recado.db.upsert import insert_for
from recado.domain import abtest
from recado.domain import links as link_rules
from recado.domain.encoding import analyze
from recado.domain.footer import with_footer
from recado.domain.message_status import MessageStatus
from recado.domain.pricing import RateCard
from recado.domain.templates import MessageTemplate, RenderContext, compile_template
from recado.domain.workspace_settings import read_settings
from recado.services import audience as audiences
from recado.services import consent, discounts, links, pricing, status_callbacks
from recado.services.messaging import MAX_BODY_CHARACTERS

CHUNK = 5_000
FANOUT_CACHE_KIB = 262_144  # SQLite page cache of the fan-out's connection while it runs
_SKIPS = cast(Table, CampaignSkip.__table__)
_EVENTS = cast(Table, MessageEvent.__table__)


class SkipReason:
    NO_CONSENT = "no_consent"
    OPTED_OUT = "opted_out"
    SUPPRESSED = "suppressed"
    HOLDOUT = "holdout"
    NO_DISCOUNT_CODE = "no_discount_code"
    MISSING_VARIABLES = "missing_variables"
    TOO_LONG = "too_long"


_BASE32 = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford, lowercase: recado.ids' alphabet
_PAIRS = [a + b for a in _BASE32 for b in _BASE32]


def message_ids_for(count: int) -> list[str]:
    """`count` message ids in recado.ids' layout (millisecond time, then 80 random bits),
    made from one read of the random source: new_id one by one costs more than the render.
    Sorted, so a chunk's ids span one primary-key range."""
    stamp = int(time.time() * 1000) << 80
    noise = os.urandom(10 * count)
    values = sorted(
        stamp | int.from_bytes(noise[i : i + 10], "big") for i in range(0, 10 * count, 10)
    )
    return [
        "msg_" + "".join([_PAIRS[(v >> shift) & 1023] for shift in range(120, -1, -10)])
        for v in values
    ]


def idempotency_key(campaign_id: str, contact_id: str) -> str:
    """The one message a campaign may have for a contact."""
    return f"campaign:{campaign_id}:{contact_id}"


@dataclass
class Body:
    """What one group of recipients gets: the campaign's text or a variant's."""

    variant_id: str | None
    source: str
    template: MessageTemplate | None  # None: plain text, nothing to render
    media_urls: list[str]
    send_at: datetime | None
    media_json: str = "[]"
    # Where each template variable's value comes from: (0 campaign, 1 contact field,
    # 2 custom attribute, 3 not cacheable), to key the render cache without building dicts.
    sources: tuple[tuple[int, str], ...] = ()


@dataclass
class Plan:
    """Everything a fan-out computes once, before its first chunk."""

    campaign_id: str
    campaign_name: str
    workspace_id: str
    phase: str  # all | test | remainder
    bodies: list[Body]  # phase test: one per variant; otherwise one
    split: abtest.Split | None
    sender: str
    sender_kind: str
    brand: str
    footer: Any
    smart: bool
    link_base: str
    card: RateCard
    hash_key: str
    default_zone: str
    local_send: datetime | None  # naive local wall time, kind "local"
    start_at: datetime | None  # kind "at": the scheduled moment; else None (now)
    throttle_per_minute: int | None
    discount_mode: str
    discount_code: str | None
    discount_pool_id: str | None
    ordinal: int = 0  # messages written so far, for the throttle
    codes: Iterator[str] = field(default_factory=link_rules.code_stream)
    # Recipients with the same values get the same words: rendered and measured once.
    renders: dict[tuple[Any, ...], str | None] = field(default_factory=dict)
    needs_attributes: bool = True
    shapes: dict[tuple[str, str | None], Shape] = field(default_factory=dict)


@dataclass
class Outcome:
    messages: int = 0
    skipped: int = 0
    finished: bool = False  # the audience is exhausted (False: stopped by a pause or cancel)
    last_contact_id: str = ""  # the keyset cursor of this run


def phase_of(campaign: Campaign) -> str:
    if not campaign.ab_test:
        return "all"
    return "remainder" if campaign.winner_variant_id else "test"


async def fan_out(
    session: AsyncSession,
    campaign_id: str,
    *,
    base_url: str,
    chunk: int = CHUNK,
    max_chunks: int | None = None,
    now: datetime | None = None,
) -> Outcome:
    """Write the campaign's remaining messages while it is `sending`; resumable.

    Stops early when the campaign is paused or canceled (checked, under its row lock, in
    every chunk's transaction), or after `max_chunks` chunks (tests use it to stop midway).
    """
    campaign = await session.get(Campaign, campaign_id)
    if campaign is None or campaign.status != "sending":
        return Outcome()
    plan = await make_plan(session, campaign, base_url=base_url, now=now)
    where = await audiences.condition(
        session,
        campaign.workspace_id,
        audiences.Audience.parse(campaign.audience),
        now or utcnow(),
        walk_by_id=True,
    )
    # A first run walks the audience in order and needs no look-up of earlier rows; a run
    # after a crash, a pause or an A/B test leaves out whoever already has one.
    resuming = bool(
        await session.scalar(
            select(
                exists().where(
                    Message.workspace_id == campaign.workspace_id,
                    Message.campaign_id == campaign.id,
                )
                | exists().where(CampaignSkip.campaign_id == campaign.id)
            )
        )
    )
    await session.commit()
    on_sqlite = session.get_bind().dialect.name == "sqlite"
    if on_sqlite:  # the indexes of a big campaign outgrow SQLite's 2 MB default page cache
        await session.execute(text(f"PRAGMA cache_size = -{FANOUT_CACHE_KIB}"))
        # Checkpoint the write-ahead log less often: each one syncs the database file.
        await session.execute(text("PRAGMA wal_autocheckpoint = 16384"))
    try:
        return await _chunks(session, plan, where, chunk, max_chunks, now, resuming=resuming)
    finally:
        if on_sqlite:
            await session.execute(text("PRAGMA cache_size = -2000"))
            await session.execute(text("PRAGMA wal_autocheckpoint = 1000"))


async def _chunks(
    session: AsyncSession,
    plan: Plan,
    where: ColumnElement[bool],
    chunk: int,
    max_chunks: int | None,
    now: datetime | None,
    *,
    resuming: bool,
) -> Outcome:
    """The chunks in order, in one of three ways:
    - parallel (PostgreSQL): chunks are read and prepared in order on a connection of their
      own, and written on two connections at once, so the database's work runs on two cores
      beside Python's; each chunk's contacts come after the previous one's, so no two
      writes touch the same rows (see `_parallel`);
    - pipelined (SQLite): a reader that never pauses would keep the write-ahead log from
      ever being reset (it grew past 800 MB in the 1M bench), so chunk n + 1 is read (rows
      and suppressions) before chunk n's write starts, and only its rendering, pure
      Python, runs while SQLite writes in its own thread;
    - serial: with a discount pool the codes are drawn in the writing transaction, so the
      chunks go one by one."""
    outcome = Outcome()
    if plan.discount_mode == "pool":
        mode = "serial"
    else:
        mode = "pipelined" if session.get_bind().dialect.name == "sqlite" else "parallel"
    reads = (
        AsyncSession(bind=session.bind, expire_on_commit=False) if mode == "parallel" else session
    )

    async def rows_after(after: str) -> list[Any]:
        rows = list(
            await reads.execute(next_audience_chunk(plan, where, after, chunk, resuming=resuming))
        )
        if mode == "parallel":
            await reads.rollback()  # no snapshot held while the writers commit
        return rows

    async def prepare(rows: list[Any], suppressed: set[str] | None = None) -> Prepared | None:
        if not rows:
            return None
        return await _prepare_chunk(reads, session, plan, rows, now or utcnow(), suppressed)

    async def suppressions(rows: list[Any]) -> set[str]:
        return await _suppressed(session, plan, [r.phone for r in rows if r.verdict is None])

    if mode == "parallel":
        try:
            return await _parallel(session, plan, rows_after, prepare, max_chunks)
        finally:
            await reads.close()
    upcoming: Prepared | None = None
    if mode != "serial":
        rows = await rows_after("")
        upcoming = await prepare(rows, await suppressions(rows) if rows else None)
    chunks = 0
    while max_chunks is None or chunks < max_chunks:
        chunks += 1
        if not await _still_sending(session, plan.campaign_id):
            await session.rollback()
            return outcome
        ready = upcoming
        if mode == "serial":
            ready = await prepare(await rows_after(outcome.last_contact_id))
        if ready is None:
            await session.rollback()
            outcome.finished = True
            return outcome
        after = ready.last_contact_id
        if mode == "pipelined":  # the next chunk's reads, before this one's write
            rows = await rows_after(after)
            suppressed = await suppressions(rows) if rows else set()
        writing = asyncio.ensure_future(_store_chunk(session, plan, ready))
        try:
            if mode == "pipelined":  # touches no connection: beside the write
                upcoming = await prepare(rows, suppressed)
        finally:
            written, skipped = await writing
        outcome.messages += written
        outcome.skipped += skipped
        outcome.last_contact_id = after
    return outcome


WRITERS = 2  # PostgreSQL connections that write a fan-out's chunks at the same time


async def _parallel(
    session: AsyncSession,
    plan: Plan,
    rows_after: Callable[[str], Awaitable[list[Any]]],
    prepare: Callable[[list[Any]], Awaitable[Prepared | None]],
    max_chunks: int | None,
) -> Outcome:
    """PostgreSQL: the next chunk is prepared while up to `WRITERS` earlier ones are written,
    each in its own transaction under a share lock on the campaign's row: a pause or cancel
    (which locks the row for update) waits for the chunks being written, and every chunk
    after it sees the campaign is no longer `sending`. Chunks may commit out of order; a
    later run finds who has a row already (`resuming`), so a crash in between loses nothing
    and texts nobody twice."""
    outcome = Outcome(finished=True)
    writers = [session] + [
        AsyncSession(bind=session.bind, expire_on_commit=False) for _ in range(WRITERS - 1)
    ]
    writing: dict[int, asyncio.Future[tuple[int, int] | None]] = {}

    async def settle(slot: int) -> bool:
        """Wait for the slot's write; False when it found the campaign paused or canceled."""
        done = await writing.pop(slot)
        if done is None:
            outcome.finished = False
            return False
        outcome.messages += done[0]
        outcome.skipped += done[1]
        return True

    try:
        chunks = 0
        while max_chunks is None or chunks < max_chunks:
            ready = await prepare(await rows_after(outcome.last_contact_id))
            if ready is None:
                break
            slot = chunks % WRITERS
            if slot in writing and not await settle(slot):
                break
            writing[slot] = asyncio.ensure_future(_store_if_sending(writers[slot], plan, ready))
            outcome.last_contact_id = ready.last_contact_id
            chunks += 1
        else:
            outcome.finished = False  # stopped by max_chunks
    finally:
        failed: list[BaseException] = []
        for slot in list(writing):
            try:
                await settle(slot)
            except Exception as error:  # the other writes still end before the sessions do
                failed.append(error)
        for extra in writers[1:]:
            await extra.close()
        if failed:
            raise failed[0]
    return outcome


async def _store_if_sending(
    session: AsyncSession, plan: Plan, chunk: Prepared
) -> tuple[int, int] | None:
    """-- name: share-campaign-for-chunk
    `_store_chunk` under a share lock on the campaign's row, if it is still `sending`."""
    status = await session.scalar(
        select(Campaign.status).where(Campaign.id == plan.campaign_id).with_for_update(read=True)
    )
    if status != "sending":
        await session.rollback()
        return None
    return await _store_chunk(session, plan, chunk)


async def make_plan(
    session: AsyncSession, campaign: Campaign, *, base_url: str, now: datetime | None = None
) -> Plan:
    workspace = await session.get(Workspace, campaign.workspace_id)
    assert workspace is not None
    settings = read_settings(workspace.settings)
    sender = await pick_sender(session, campaign.workspace_id, campaign.sender)
    phase = phase_of(campaign)
    variants = list(
        await session.scalars(
            select(CampaignVariant)
            .where(CampaignVariant.campaign_id == campaign.id)
            .order_by(CampaignVariant.position, CampaignVariant.label)
        )
    )
    split = None
    if phase == "all":
        bodies = [_body(None, campaign.body, campaign.media_urls, None)]
    elif phase == "test":
        config = campaign.ab_test or {}
        split = abtest.Split(
            len(variants), float(config["test_share"]), float(config.get("holdout_share", 0))
        )
        bodies = [_body(v.id, v.body or campaign.body, v.media_urls, v.send_at) for v in variants]
    else:
        config = campaign.ab_test or {}
        split = abtest.Split(
            len(variants), float(config["test_share"]), float(config.get("holdout_share", 0))
        )
        winner = next(v for v in variants if v.id == campaign.winner_variant_id)
        # The remainder goes now: a send-time winner's moment has passed by the decision.
        bodies = [_body(winner.id, winner.body or campaign.body, winner.media_urls, None)]
    local = None
    if campaign.schedule_kind == "local" and campaign.local_send:
        local = datetime.fromisoformat(campaign.local_send).replace(tzinfo=None)
    existing = await session.scalar(
        select(func.count())
        .select_from(Message)
        .where(Message.workspace_id == campaign.workspace_id, Message.campaign_id == campaign.id)
    )
    return Plan(
        campaign_id=campaign.id,
        campaign_name=campaign.name,
        workspace_id=campaign.workspace_id,
        phase=phase,
        bodies=bodies,
        split=split,
        sender=sender.address,
        sender_kind=sender.kind,
        brand=settings.brand_name or workspace.name,
        footer=settings.footer(),
        smart=campaign.smart_encoding or settings.smart_encoding,
        link_base=link_rules.link_base(settings.short_domain, base_url),
        card=await pricing.rate_card(session, campaign.workspace_id),
        hash_key=await consent.hashing_key(session, campaign.workspace_id),
        default_zone=country_zone(workspace.default_country),
        local_send=local,
        start_at=campaign.send_at if campaign.schedule_kind == "at" else None,
        throttle_per_minute=campaign.throttle_per_minute,
        discount_mode=campaign.discount_mode,
        discount_code=campaign.discount_code,
        discount_pool_id=campaign.discount_pool_id,
        ordinal=existing or 0,
        needs_attributes=any(_uses_attributes(b) for b in bodies),
    )


def _body(
    variant_id: str | None, source: str, media: list[str] | None, send_at: datetime | None
) -> Body:
    template = compile_template(source) if ("{{" in source or "{%" in source) else None
    sources: list[tuple[int, str]] = []
    for name in template.variables.names if template else ():
        if name.startswith("attributes"):
            kind = 3
        elif name in ("brand", "discount_code"):
            kind = 0
        elif name in CONTACT_FIELDS:
            kind = 1
        else:
            kind = 2
        sources.append((kind, name))
    media = list(media or [])
    return Body(variant_id, source, template, media, send_at, json.dumps(media), tuple(sources))


CONTACT_FIELDS = frozenset(
    {"phone", "first_name", "last_name", "email", "language", "timezone", "region", "external_id"}
)


def _uses_attributes(body: Body) -> bool:
    """Whether the template names something besides contact fields and campaign values."""
    if body.template is None:
        return False
    return any(
        name not in CONTACT_FIELDS and name not in ("brand", "discount_code")
        for name in body.template.variables.names
    )


async def pick_sender(session: AsyncSession, workspace_id: str, address: str | None) -> Sender:
    """The campaign's sender, or the workspace default."""
    from recado.errors import ValidationFailed  # noqa: PLC0415

    query = select(Sender).where(Sender.workspace_id == workspace_id)
    if address:
        found = await session.scalar(query.where(Sender.address == address))
        if found is None:
            raise ValidationFailed(f"'{address}' is not a sender of this workspace.", field="from")
        return found
    default = await session.scalar(query.order_by(Sender.is_default.desc(), Sender.id).limit(1))
    if default is None:
        raise ValidationFailed("This workspace has no sender yet.", field="from")
    return default


# --- named queries -------------------------------------------------------------------------


def compliance_verdict() -> ColumnElement[str | None]:
    """Why a contact may not get marketing texts, from its row; NULL when it may."""
    return case(
        (Contact.opted_out_at.is_not(None), literal(SkipReason.OPTED_OUT)),
        (Contact.consented_at.is_(None), literal(SkipReason.NO_CONSENT)),
        else_=None,
    )


def already_done(campaign_id: str) -> ColumnElement[bool]:
    """The contact has this campaign's message (its unique key) or a skip row."""
    key = literal(f"campaign:{campaign_id}:") + Contact.id
    texted = exists(
        select(Message.id).where(
            Message.workspace_id == Contact.workspace_id, Message.idempotency_key == key
        )
    )
    skipped = exists(
        select(CampaignSkip.contact_id).where(
            CampaignSkip.campaign_id == campaign_id, CampaignSkip.contact_id == Contact.id
        )
    )
    return texted | skipped


def next_audience_chunk(
    plan: Plan, audience: ColumnElement[bool], after: str, size: int, *, resuming: bool = True
) -> Any:
    """-- name: next-audience-chunk
    The next `size` audience members after contact id `after`, not yet texted or skipped
    (when `resuming`), with their compliance verdict."""
    query = (
        select(
            Contact.id,
            Contact.phone,
            Contact.first_name,
            Contact.last_name,
            Contact.email,
            Contact.language,
            Contact.timezone,
            Contact.region,
            Contact.external_id,
            # Read (and decoded) only when a template may use custom attributes.
            Contact.attributes if plan.needs_attributes else literal(None).label("attributes"),
            compliance_verdict().label("verdict"),
        )
        .where(audience, Contact.id > after)
        .order_by(Contact.id)
        .limit(size)
    )
    return query.where(~already_done(plan.campaign_id)) if resuming else query


async def _still_sending(session: AsyncSession, campaign_id: str) -> bool:
    """-- name: hold-campaign-for-chunk
    Opens the chunk's write transaction on the campaign's row, and says whether it is still
    `sending`. A write, not a read: on SQLite it takes the database's write lock (a SELECT
    would not even begin the transaction), on PostgreSQL the row's lock. A pause or cancel
    then waits for the chunk's commit and its UPDATE sees every message of the chunk."""
    held = await session.execute(
        update(Campaign)
        .where(Campaign.id == campaign_id, Campaign.status == "sending")
        .values(updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return bool(held.rowcount)  # type: ignore[attr-defined]


# The two big writes go through the driver: on a million rows the per-value work of the
# ORM's type processing costs more than the database. SQLite gets an executemany of plain
# tuples; PostgreSQL one INSERT ... SELECT FROM json_to_recordset(one JSON text).
_MESSAGE_COLUMNS = (
    # (column, PostgreSQL type)
    ("id", "text"),
    ("workspace_id", "text"),
    ("contact_id", "text"),
    ("sender", "text"),
    ("recipient", "text"),
    ("body", "text"),
    ("media_urls", "text"),  # JSON text, cast in the SELECT
    ("status", "text"),
    ("idempotency_key", "text"),
    ("send_at", "timestamptz"),
    ("encoding", "text"),
    ("segments", "int"),
    ("price_micros", "bigint"),
    ("currency", "text"),
    ("campaign_id", "text"),
    ("variant_id", "text"),
    ("link_code", "text"),
    ("link_url", "text"),
)
# Constant for every campaign message: (column, SQL literal).
_MESSAGE_CONSTANTS = (
    ("direction", "'outbound'"),
    ("category", "'marketing'"),
    ("attempts", "0"),
)
_LINK_COLUMNS = (
    ("code", "text"),
    ("workspace_id", "text"),
    ("url", "text"),
    ("message_id", "text"),
    ("contact_id", "text"),
    ("campaign_id", "text"),
    ("created_at", "timestamptz"),
)


def _record_type(columns: Sequence[tuple[str, str]]) -> str:
    """The row type of json_to_recordset for these (column, type) pairs."""
    return ", ".join(f"{name} {kind}" for name, kind in columns)


def _as_json(rows: list[dict[str, Any]]) -> str:
    """Rows as one JSON array, PostgreSQL's way in for a bulk write: the C JSON encoder and
    the server's parser cost a fraction of what adapting one array per column costs in
    Python (psycopg's list dumper was half the fan-out's CPU on a million recipients)."""
    return json.dumps(rows, default=_iso, ensure_ascii=False)


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


def _sqlite_time(moment: datetime | None) -> str | None:
    """How SQLAlchemy stores a UTC time in SQLite (UTCDateTime reads it back aware)."""
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


async def insert_messages(
    session: AsyncSession, messages: list[dict[str, Any]], now: datetime
) -> set[str]:
    """-- name: insert-campaign-messages
    The chunk's message rows in one go; a row that breaks a unique key is left out: its
    recipient already has the campaign's message ((workspace_id, idempotency_key)), or, once
    in trillions, its link code is taken (`write_messages` draws another). The ids written."""
    names = [c for c, _ in _MESSAGE_COLUMNS]
    constant_names = [c for c, _ in _MESSAGE_CONSTANTS]
    constants = [v for _, v in _MESSAGE_CONSTANTS]
    columns = ", ".join([*names, *constant_names, "created_at", "updated_at"])
    connection = await session.connection()
    if connection.dialect.name == "postgresql":
        casts = {"media_urls": "::json"}
        selected = ", ".join(f"t.{c}{casts.get(c, '')}" for c in names)
        sql = (
            f"INSERT INTO messages ({columns}) "
            f"SELECT {selected}, {', '.join(constants)}, %s, %s "
            f"FROM json_to_recordset(%s::json) AS t({_record_type(_MESSAGE_COLUMNS)}) "
            "ON CONFLICT DO NOTHING RETURNING id"
        )
        result = await connection.exec_driver_sql(sql, (now, now, _as_json(messages)))
        return {row[0] for row in result}
    stamp = _sqlite_time(now)
    sql = (
        f"INSERT INTO messages ({columns}) "
        f"VALUES ({', '.join('?' for _ in names)}, {', '.join(constants)}, ?, ?) "
        "ON CONFLICT DO NOTHING"
    )
    get = itemgetter(*names)
    send_at = names.index("send_at")
    rows = []
    for m in messages:
        row = (*get(m), stamp, stamp)
        if m["send_at"] is not None:
            row = (*row[:send_at], _sqlite_time(m["send_at"]), *row[send_at + 1 :])
        rows.append(row)
    result = await connection.exec_driver_sql(sql, rows)
    ids = [m["id"] for m in messages]
    if result.rowcount == len(ids):
        return set(ids)
    # Some were there already (a concurrent fan-out): ask which rows are ours.
    return set(
        await session.scalars(
            select(Message.id).where(Message.id.in_(ids), Message.created_at == now)
        )
    )


async def write_messages(
    session: AsyncSession, plan: Plan, messages: list[dict[str, Any]], now: datetime
) -> set[str]:
    """Insert the chunk's messages, each link code unused by links and other messages: one
    that a link row has is redrawn before, one another message has (its unique index) after
    the insert; asking the messages first too cost 8 s on a million recipients. The ids
    written; a recipient who already has the message is not among them."""
    coded = [m for m in messages if m["link_code"]]
    if coded:
        codes = [m["link_code"] for m in coded]
        for taken in await links.codes_in_use(session, codes, messages=False):
            for m in coded:
                if m["link_code"] == taken:
                    _recode(m, next(plan.codes))
    written: set[str] = set()
    pending = messages
    while pending:
        inserted = await insert_messages(session, pending, now)
        written |= inserted
        left = [m for m in pending if m["id"] not in inserted and m["link_code"]]
        if not left:
            break
        texted = set(
            await session.scalars(
                select(Message.idempotency_key).where(
                    Message.workspace_id == plan.workspace_id,
                    Message.idempotency_key.in_([m["idempotency_key"] for m in left]),
                )
            )
        )
        pending = [m for m in left if m["idempotency_key"] not in texted]
        for m in pending:
            _recode(m, next(plan.codes))
    return written


def _recode(message: dict[str, Any], code: str) -> None:
    """Give a prepared message another link code, in its row and in its text."""
    old = f"{link_rules.LINK_PATH}{message['link_code']}"
    message["body"] = message["body"].replace(old, f"{link_rules.LINK_PATH}{code}")
    message["link_code"] = code


async def insert_link_rows(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """-- name: insert-campaign-links
    The chunk's tracked links in one go. A code another link already has (odds of live
    links / 2.2e14 each) is left out here and redrawn by `links.insert_links`, which also
    rewrites its message's text."""
    names = [c for c, _ in _LINK_COLUMNS]
    connection = await session.connection()
    if connection.dialect.name == "postgresql":
        sql = (
            f"INSERT INTO links ({', '.join(names)}) "
            f"SELECT * FROM json_to_recordset(%s::json) AS t({_record_type(_LINK_COLUMNS)}) "
            "ON CONFLICT (code) DO NOTHING RETURNING code"
        )
        result = await connection.exec_driver_sql(sql, (_as_json(rows),))
        stored = {row[0] for row in result}
    else:
        sql = (
            f"INSERT INTO links ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)}) "
            "ON CONFLICT (code) DO NOTHING"
        )
        stamp = _sqlite_time(rows[0]["created_at"])  # one chunk, one time
        get = itemgetter(*names[:-1])
        result = await connection.exec_driver_sql(sql, [(*get(r), stamp) for r in rows])
        if result.rowcount == len(rows):
            return
        stored = set(
            await session.scalars(
                select(Link.code).where(
                    Link.code.in_([r["code"] for r in rows]),
                    Link.campaign_id == rows[0]["campaign_id"],
                )
            )
        )
    left = [r for r in rows if r["code"] not in stored]
    if left:
        await links.insert_links(session, left)


def insert_skips(session: AsyncSession) -> Any:
    """-- name: insert-campaign-skips"""
    return insert_for(session, _SKIPS).on_conflict_do_nothing(
        index_elements=["campaign_id", "contact_id"]
    )


# --- one chunk -----------------------------------------------------------------------------


async def _suppressed(session: AsyncSession, plan: Plan, phones: Sequence[str]) -> set[str]:
    """The numbers of `phones` on the suppression list (opted out, erased)."""
    if not phones:
        return set()
    anyone = await session.scalar(
        select(Suppression.phone_hash).where(Suppression.workspace_id == plan.workspace_id).limit(1)
    )
    if anyone is None:  # nobody in this workspace opted out or was erased (yet)
        return set()
    key = plan.hash_key.encode()
    by_hash = {hmac.digest(key, p.encode(), "sha256").hex(): p for p in phones}
    found = await session.scalars(
        select(Suppression.phone_hash).where(
            Suppression.workspace_id == plan.workspace_id,
            Suppression.phone_hash.in_(list(by_hash)),
        )
    )
    return {by_hash[h] for h in found}


@dataclass(frozen=True)
class Shape:
    """A rendered text as sent, measured once for every recipient who gets the same words:
    the text cut where its short links go, their target URLs, its encoding and parts. Link
    codes are base62, one septet or code unit each, so every code gives the same count."""

    pieces: tuple[str, ...]
    urls: tuple[str, ...]
    encoding: str
    segments: int
    length: int


def measure(plan: Plan, rendered: str, language: str | None) -> Shape:
    """Footer, short links (with a stand-in code), smart encoding and parts of one text."""
    text = with_footer(rendered, language, plan.footer)
    found = link_rules.find_urls(text, skip_base=plan.link_base)
    placeholder = link_rules.short_url(plan.link_base, "x" * link_rules.DEFAULT_CODE_LENGTH)
    if found:
        text = link_rules.replace_urls(text, dict.fromkeys(found, placeholder))
    report = analyze(text, smart=plan.smart)
    pieces = tuple(report.text.split(placeholder)) if found else (report.text,)
    if len(pieces) != len(found) + 1:  # the stand-in occurs in the text itself: no links
        return Shape((report.text,), (), report.encoding, report.segments, len(report.text))
    urls = tuple(occurrence.url for occurrence in found)
    return Shape(pieces, urls, report.encoding, report.segments, len(report.text))


def _render_key(
    body: Body, row: Any, extra: dict[str, Any], language: str | None
) -> tuple[Any, ...] | None:
    """What the render depends on, when that is a few plain values (most templates)."""
    key: list[Any] = [id(body), language]
    for kind, name in body.sources:
        if kind == 0:
            key.append(extra.get(name))
        elif kind == 1:
            key.append(getattr(row, name))
        elif kind == 2 and row.attributes is None:
            key.append(None)
        elif kind == 2:
            key.append(row.attributes.get(name))
        else:
            return None
    try:
        hash(tuple(key))
    except TypeError:
        return None
    return tuple(key)


MAX_CACHED = 200_000  # distinct texts remembered per fan-out run


@dataclass
class Prepared:
    """One chunk, ready to write: its rows as the bulk statements take them."""

    now: datetime
    last_contact_id: str
    messages: list[dict[str, Any]]
    link_rows: list[dict[str, Any]]
    skips: list[dict[str, Any]]


async def _prepare_chunk(
    reads: AsyncSession,
    draws: AsyncSession,
    plan: Plan,
    rows: Sequence[Any],
    now: datetime,
    suppressed: set[str] | None = None,
) -> Prepared:
    """Everything per recipient, before any write: `reads` looks up the suppression list
    (unless `suppressed` is given), `draws` (the writing session: the codes are taken in its
    transaction) the pool codes. Given `suppressed` and no pool, it touches no connection."""
    skips: list[dict[str, Any]] = []

    def skip(contact_id: str, reason: str) -> None:
        skips.append(
            {
                "campaign_id": plan.campaign_id,
                "contact_id": contact_id,
                "workspace_id": plan.workspace_id,
                "reason": reason,
                "created_at": now,
            }
        )

    if suppressed is None:
        suppressed = await _suppressed(reads, plan, [r.phone for r in rows if r.verdict is None])
    chosen: list[tuple[Any, Body]] = []
    for row in rows:
        body = plan.bodies[0]
        if plan.split is not None:
            assigned = abtest.assign(plan.split, plan.campaign_id, row.id)
            if assigned.group == "holdout":
                skip(row.id, SkipReason.HOLDOUT)
                continue
            if plan.phase == "test":
                if assigned.group != "test":
                    continue  # the remainder waits for the winner
                assert assigned.variant is not None
                body = plan.bodies[assigned.variant]
        if row.verdict is not None:
            skip(row.id, row.verdict)
        elif row.phone in suppressed:
            skip(row.id, SkipReason.SUPPRESSED)
        else:
            chosen.append((row, body))

    fresh = message_ids_for(len(chosen))
    message_ids = {row.id: fresh[i] for i, (row, _) in enumerate(chosen)}
    codes: dict[str, str] = {}
    if plan.discount_mode == "pool" and plan.discount_pool_id and chosen:
        codes = await discounts.draw(
            draws,
            plan.workspace_id,
            plan.discount_pool_id,
            plan.campaign_id,
            [(row.id, message_ids[row.id]) for row, _ in chosen],
        )

    messages: list[dict[str, Any]] = []
    link_rows: list[dict[str, Any]] = []
    prices: dict[str, tuple[int | None, str | None]] = {}
    prefix_length = _longest_prefix(plan.card) + 1
    renders, shapes = plan.renders, plan.shapes
    short = f"{plan.link_base}{link_rules.LINK_PATH}"
    for count, (row, body) in enumerate(chosen):
        if count % 256 == 255:  # let the previous chunk's writes go on meanwhile
            await asyncio.sleep(0)
        extra: dict[str, Any] = {"brand": plan.brand}
        if plan.discount_mode == "shared":
            extra["discount_code"] = plan.discount_code
        elif plan.discount_mode == "pool":
            code = codes.get(row.id)
            if code is None:
                skip(row.id, SkipReason.NO_DISCOUNT_CODE)
                continue
            extra["discount_code"] = code
        text: str | None = body.source
        if body.template is not None:
            key = _render_key(body, row, extra, row.language)
            if key is not None and key in renders:
                text = renders[key]
            else:
                fields = {name: getattr(row, name) for name in CONTACT_FIELDS}
                attributes = row.attributes or {}
                rendered = body.template.render(
                    RenderContext(fields, attributes, extra, row.language)
                )
                text = rendered.text if rendered.ok else None
                if key is not None and len(renders) < MAX_CACHED:
                    renders[key] = text
            if text is None:
                skip(row.id, SkipReason.MISSING_VARIABLES)
                continue
        assert text is not None
        shape_key = (text, row.language)
        shape = shapes.get(shape_key)
        if shape is None:
            shape = measure(plan, text, row.language)
            if len(shapes) < MAX_CACHED:
                shapes[shape_key] = shape
        if shape.length > MAX_BODY_CHARACTERS:
            skip(row.id, SkipReason.TOO_LONG)
            continue
        message_id = message_ids[row.id]
        link_code = link_url = None
        if len(shape.urls) == 1:  # the usual case: the code and target go on the message
            link_code, link_url = next(plan.codes), shape.urls[0]
            final = f"{shape.pieces[0]}{short}{link_code}{shape.pieces[1]}"
        elif shape.urls:
            parts = [shape.pieces[0]]
            for url, piece in zip(shape.urls, shape.pieces[1:], strict=True):
                link = next(plan.codes)
                parts += (short, link, piece)
                link_rows.append(
                    {
                        "code": link,
                        "workspace_id": plan.workspace_id,
                        "url": url,
                        "message_id": message_id,
                        "contact_id": row.id,
                        "campaign_id": plan.campaign_id,
                        "created_at": now,
                    }
                )
            final = "".join(parts)
        else:
            final = shape.pieces[0]
        prefix = row.phone[:prefix_length]
        if prefix not in prices:
            rate = plan.card.rate_for(row.phone, plan.sender_kind)
            prices[prefix] = (
                (round(rate.price_per_part * 1_000_000), rate.currency) if rate else (None, None)
            )
        per_part, currency = prices[prefix]
        send_at = _send_at(plan, row, body, now)
        scheduled = send_at is not None and send_at > now
        messages.append(
            {
                "id": message_id,
                "workspace_id": plan.workspace_id,
                "contact_id": row.id,
                "sender": plan.sender,
                "recipient": row.phone,
                "body": final,
                "media_urls": body.media_json,
                "status": "scheduled" if scheduled else "queued",
                "idempotency_key": idempotency_key(plan.campaign_id, row.id),
                "send_at": send_at if scheduled else None,
                "encoding": shape.encoding,
                "segments": shape.segments,
                "price_micros": per_part * shape.segments if per_part is not None else None,
                "currency": currency,
                "campaign_id": plan.campaign_id,
                "variant_id": body.variant_id,
                "link_code": link_code,
                "link_url": link_url,
            }
        )
        plan.ordinal += 1

    if codes:  # codes drawn for recipients skipped after the draw go back to the pool
        texted = {m["contact_id"] for m in messages}
        unused = [contact_id for contact_id in codes if contact_id not in texted]
        if unused:
            assert plan.discount_pool_id is not None
            await discounts.release(
                draws, plan.workspace_id, plan.discount_pool_id, plan.campaign_id, unused
            )
    return Prepared(now, rows[-1].id, messages, link_rows, skips)


async def _store_chunk(session: AsyncSession, plan: Plan, chunk: Prepared) -> tuple[int, int]:
    """Write a prepared chunk and commit: messages, their events, links, skips."""
    written: set[str] = set()
    if chunk.messages:
        written = await write_messages(session, plan, chunk.messages, chunk.now)
        if written:
            await _events(session, plan, chunk.messages, written, chunk.now)
        wanted = [r for r in chunk.link_rows if r["message_id"] in written]
        if wanted:
            await insert_link_rows(session, wanted)
        await _callbacks(session, plan, chunk.messages, written, chunk.now)
    if chunk.skips:
        await session.execute(insert_skips(session), chunk.skips)
    await session.commit()
    return len(written), len(chunk.skips)


async def _events(
    session: AsyncSession,
    plan: Plan,
    messages: list[dict[str, Any]],
    written: set[str],
    now: datetime,
) -> None:
    """-- name: insert-campaign-events
    One event per message, in its first status (queued or scheduled): a campaign's message
    is born there, never `accepted` the way an API request is, and a million-recipient
    campaign writes a million event rows, not two. Written from the chunk's own values: an
    INSERT ... SELECT from messages grew with the campaign (SQLite walked the campaign's
    index, not the id range: 34 of 89 s on a million recipients)."""
    source = f"campaign {plan.campaign_name} ({plan.campaign_id})"
    details = {
        MessageStatus.SCHEDULED.value: f"scheduled by {source}",
        MessageStatus.QUEUED.value: f"queued by {source}, waiting for the dispatcher",
    }
    rows = [(m["id"], m["status"], details[m["status"]]) for m in messages if m["id"] in written]
    connection = await session.connection()
    if connection.dialect.name == "postgresql":
        await connection.exec_driver_sql(
            "INSERT INTO message_events (message_id, workspace_id, status, detail, created_at) "
            "SELECT t.message_id, %s, t.status, t.detail, %s FROM json_to_recordset(%s::json)"
            " AS t(message_id text, status text, detail text)",
            (
                plan.workspace_id,
                now,
                _as_json([{"message_id": i, "status": s, "detail": d} for i, s, d in rows]),
            ),
        )
        return
    stamp = _sqlite_time(now)
    await connection.exec_driver_sql(
        "INSERT INTO message_events (message_id, workspace_id, status, detail, created_at) "
        "VALUES (?, ?, ?, ?, ?)",
        [(i, plan.workspace_id, s, d, stamp) for i, s, d in rows],
    )


async def _callbacks(
    session: AsyncSession,
    plan: Plan,
    messages: list[dict[str, Any]],
    written: set[str],
    now: datetime,
) -> None:
    """The workspace's status callback URL, if it has one, hears of each new message."""
    urls = await status_callbacks.workspace_urls(session, {plan.workspace_id})
    if not urls:
        return
    fields = {c.key for c in MESSAGES.columns}
    await status_callbacks.enqueue(
        session,
        [
            Message(**{k: v for k, v in m.items() if k in fields}, direction="outbound")
            for m in messages
            if m["id"] in written
        ],
        now,
    )


def _send_at(plan: Plan, row: Any, body: Body, now: datetime) -> datetime | None:
    """When this recipient's text is due: a send-time variant, the recipient's local time,
    then spread by the throttle; None for now."""
    due = body.send_at or plan.start_at
    if plan.local_send is not None:
        due = local_moment(plan.local_send, row.timezone or plan.default_zone)
    if plan.throttle_per_minute:
        start = max(due or now, now)
        due = start + timedelta(minutes=plan.ordinal // plan.throttle_per_minute)
    return due


def local_moment(wall: datetime, zone: str) -> datetime:
    """The UTC moment of the wall time `wall` in `zone`."""
    return _localize(wall, zone)


@lru_cache(maxsize=1024)
def _localize(wall: datetime, zone: str) -> datetime:
    try:
        tz = ZoneInfo(zone)
    except (KeyError, ValueError):
        tz = ZoneInfo("UTC")
    return wall.replace(tzinfo=tz).astimezone(UTC)


@lru_cache(maxsize=256)
def country_zone(country: str) -> str:
    """A zone of the country, for contacts with none of their own: its example number's."""
    example = phonenumbers.example_number_for_type(country, phonenumbers.PhoneNumberType.MOBILE)
    if example is None:
        return "UTC"
    zones = [z for z in phone_timezones.time_zones_for_number(example) if "/" in z]
    return sorted(zones)[0] if zones else "UTC"


def _longest_prefix(card: RateCard) -> int:
    longest = max((len(r.prefix) for r in card.rates), default=0)
    if card.fallback is not None:
        longest = max(longest, _longest_prefix(card.fallback))
    return longest
