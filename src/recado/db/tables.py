"""The tables. Every row carries its workspace_id, and every query filters on it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps are stored in UTC and always come back timezone-aware (SQLite forgets)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


ID = String(32)


class Workspace(Base):
    __tablename__ = "workspaces"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    default_country: Mapped[str] = mapped_column(String(2), default="US")
    # Typed by recado.domain.workspace_settings.WorkspaceSettings; a JSON column so that new
    # settings (webhooks, short domain, footer texts, quiet hours) need no migration each.
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class User(Base):
    __tablename__ = "users"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApiKey(Base):
    __tablename__ = "api_keys"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    # SHA-256 of the whole key: keys carry 192 random bits, so a slow hash adds nothing.
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))  # shown in lists to tell keys apart
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Sender(Base):
    """A number or sender id the workspace sends from."""

    __tablename__ = "senders"
    __table_args__ = (UniqueConstraint("workspace_id", "address"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    address: Mapped[str] = mapped_column(String(32))  # E.164, short code digits or alphanumeric id
    kind: Mapped[str] = mapped_column(String(16))  # long_code, short_code, toll_free, alphanumeric
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    # Parts per second the carrier allows this sender; enforced by the dispatcher.
    rate_limit_mps: Mapped[float] = mapped_column(Float, default=10.0)
    # A sender bound to one carrier account (a Twilio number) always goes through it.
    connection_id: Mapped[str | None] = mapped_column(
        ForeignKey("carrier_connections.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Contact(Base):
    __tablename__ = "contacts"
    __table_args__ = (
        UniqueConstraint("workspace_id", "phone"),
        Index("ix_contacts_workspace_external", "workspace_id", "external_id"),
        Index("ix_contacts_workspace_created", "workspace_id", "created_at"),
        Index("ix_contacts_workspace_id", "workspace_id", "id"),  # keyset pages of a workspace
    )
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    phone: Mapped[str] = mapped_column(String(20))
    first_name: Mapped[str | None] = mapped_column(String(200))
    last_name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    language: Mapped[str | None] = mapped_column(String(16))
    # Explicit zone if someone set one; otherwise derived from the number when unambiguous.
    timezone: Mapped[str | None] = mapped_column(String(64))
    timezone_explicit: Mapped[bool] = mapped_column(Boolean, default=False)
    region: Mapped[str | None] = mapped_column(String(2))
    external_id: Mapped[str | None] = mapped_column(String(200))
    # jsonb on PostgreSQL: a segment reads attributes of a million contacts without parsing
    # each one's JSON text again.
    attributes: Mapped[dict[str, Any]] = mapped_column(
        JSON().with_variant(JSONB(), "postgresql"), default=dict
    )
    # The sender this contact last heard from; later messages reuse it (sticky sender).
    sticky_sender: Mapped[str | None] = mapped_column(String(32))
    # Marketing consent in force since then (None: none recorded, or revoked); the history
    # is in `consents`. Kept on the row so the send path and audiences read it in one place.
    consented_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set by STOP (or its equivalents) and cleared by START; the number is then suppressed.
    opted_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ContactTag(Base):
    __tablename__ = "contact_tags"
    __table_args__ = (Index("ix_contact_tags_workspace_tag", "workspace_id", "tag"),)
    contact_id: Mapped[str] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(100), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))


class ContactList(Base):
    __tablename__ = "lists"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ListMember(Base):
    __tablename__ = "list_members"
    __table_args__ = (
        Index("ix_list_members_contact", "contact_id"),
        Index("ix_list_members_list_status", "list_id", "status"),  # member counts
    )
    list_id: Mapped[str] = mapped_column(
        ForeignKey("lists.id", ondelete="CASCADE"), primary_key=True
    )
    contact_id: Mapped[str] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True
    )
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default="subscribed")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Message(Base):
    """The message row is also the outbox: it exists, with its idempotency key, before any send."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("workspace_id", "idempotency_key"),
        # Scheduled messages by due time. Partial, like the ones below: a row a campaign's
        # fan-out writes (queued, no carrier id yet, not sent) costs these indexes nothing.
        Index(
            "ix_messages_scheduled",
            "status",  # in the index too, so the planners see it serves the status test
            "send_at",
            sqlite_where=text("status = 'scheduled'"),
            postgresql_where=text("status = 'scheduled'"),
        ),
        Index("ix_messages_workspace_created", "workspace_id", "created_at"),
        Index("ix_messages_contact", "contact_id"),
        Index(
            "ix_messages_carrier_ref",
            "connector",
            "carrier_message_id",
            sqlite_where=text("carrier_message_id IS NOT NULL"),
            postgresql_where=text("carrier_message_id IS NOT NULL"),
        ),
        # The dispatcher's claim on PostgreSQL walks queued rows in id order.
        Index("ix_messages_status_id", "status", "id"),
        Index("ix_messages_campaign_status", "campaign_id", "status"),
        # Daily analytics (dashboard, GET /v1/analytics/daily).
        Index(
            "ix_messages_workspace_sent",
            "workspace_id",
            "sent_at",
            sqlite_where=text("sent_at IS NOT NULL"),
            postgresql_where=text("sent_at IS NOT NULL"),
        ),
        Index(
            "ix_messages_workspace_delivered",
            "workspace_id",
            "delivered_at",
            sqlite_where=text("delivered_at IS NOT NULL"),
            postgresql_where=text("delivered_at IS NOT NULL"),
        ),
        Index(
            "ix_messages_workspace_inbound",
            "workspace_id",
            "created_at",
            sqlite_where=text("direction = 'inbound'"),
            postgresql_where=text("direction = 'inbound'"),
        ),
        # A campaign message's own tracked link (see services.links.record_click).
        Index(
            "ix_messages_link_code",
            "link_code",
            unique=True,
            sqlite_where=text("link_code IS NOT NULL"),
            postgresql_where=text("link_code IS NOT NULL"),
        ),
    )
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    contact_id: Mapped[str | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    direction: Mapped[str] = mapped_column(String(8))  # outbound | inbound
    sender: Mapped[str | None] = mapped_column(String(32))
    recipient: Mapped[str] = mapped_column(String(32))
    body: Mapped[str] = mapped_column(Text)
    media_urls: Mapped[list[str]] = mapped_column(JSON, default=list)
    category: Mapped[str] = mapped_column(String(16))  # marketing | transactional
    status: Mapped[str] = mapped_column(String(16))
    idempotency_key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str | None] = mapped_column(String(64))
    status_callback: Mapped[str | None] = mapped_column(String(2000))
    send_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    encoding: Mapped[str] = mapped_column(String(8))
    segments: Mapped[int] = mapped_column(Integer)
    # Millionths of the currency unit: exact on every database, no float rounding.
    price_micros: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(String(3))
    connector: Mapped[str | None] = mapped_column(String(64))
    carrier_message_id: Mapped[str | None] = mapped_column(String(100))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # A dispatcher holds a claimed, still-queued message until then; expired leases are free.
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set on a campaign's messages: the report and attribution read them from here.
    campaign_id: Mapped[str | None] = mapped_column(String(32))
    variant_id: Mapped[str | None] = mapped_column(String(32))
    # A campaign text with one URL carries its short link's code and target here instead of
    # a `links` row: a million recipients, a million rows fewer. Same code space as links.
    link_code: Mapped[str | None] = mapped_column(String(24))
    link_url: Mapped[str | None] = mapped_column(Text)


class MessageEvent(Base):
    """The timeline of one message: each status it reached and what caused it."""

    __tablename__ = "message_events"
    __table_args__ = (Index("ix_message_events_message", "message_id", "id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class UnmatchedReport(Base):
    """A delivery report whose carrier id matched no message, kept for the operator (the
    newest `unmatched_reports.KEEP` of each connection). `workspace_id` is the connection's,
    None for the built-in simulator."""

    __tablename__ = "unmatched_reports"
    __table_args__ = (Index("ix_unmatched_reports_connector", "connector", "id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    workspace_id: Mapped[str | None] = mapped_column(String(32))
    connector: Mapped[str] = mapped_column(String(100))
    carrier_message_id: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16))
    error_code: Mapped[str | None] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


def event_row(
    message_id: str, workspace_id: str, status: str, detail: str, at: datetime
) -> dict[str, object]:
    """One MessageEvent's columns, for a bulk insert (no ORM object, no id read back)."""
    return {
        "message_id": message_id,
        "workspace_id": workspace_id,
        "status": status,
        "detail": detail,
        "created_at": at,
    }


class CarrierConnection(Base):
    """A configured carrier account: the simulator, an SMPP bind, a Twilio account..."""

    __tablename__ = "carrier_connections"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(32))  # a registry code: simulator, smpp, twilio...
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Route(Base):
    """Destinations starting with `prefix` go through `connection_id`; lower priority first."""

    __tablename__ = "routes"
    __table_args__ = (Index("ix_routes_workspace_prefix", "workspace_id", "prefix"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    prefix: Mapped[str] = mapped_column(String(16), default="")  # E.164 digits; "" = everywhere
    connection_id: Mapped[str] = mapped_column(
        ForeignKey("carrier_connections.id", ondelete="CASCADE")
    )
    priority: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RateCardEntry(Base):
    """Price per part by destination prefix and sender kind (None = any kind)."""

    __tablename__ = "rate_card_entries"
    __table_args__ = (UniqueConstraint("workspace_id", "prefix", "sender_kind"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    prefix: Mapped[str] = mapped_column(String(16))
    sender_kind: Mapped[str | None] = mapped_column(String(16))
    price_micros: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3), default="USD")


class MessagePart(Base):
    """One part of a message as the carrier knows it: long texts have an id and a report each."""

    __tablename__ = "message_parts"
    __table_args__ = (Index("ix_message_parts_carrier_ref", "connector", "carrier_message_id"),)
    message_id: Mapped[str] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True
    )
    part_no: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    connector: Mapped[str] = mapped_column(String(64))
    carrier_message_id: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16))  # sent | delivered | undelivered | failed


class WebhookDelivery(Base):
    """One signed POST to a customer's URL (a status callback), retried until it lands."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_message", "message_id"),
    )
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    message_id: Mapped[str | None] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(String(64))
    url: Mapped[str] = mapped_column(String(2000))
    payload: Mapped[str] = mapped_column(Text)  # the exact bytes that are signed and sent
    status: Mapped[str] = mapped_column(String(16))  # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class WebhookAttempt(Base):
    __tablename__ = "webhook_attempts"
    __table_args__ = (Index("ix_webhook_attempts_delivery", "delivery_id", "id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE")
    )
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(Integer)


class Link(Base):
    """A tracked short link: one per recipient and message, so each click is attributed."""

    __tablename__ = "links"
    __table_args__ = (Index("ix_links_message", "message_id"),)
    code: Mapped[str] = mapped_column(String(24), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(Text)
    message_id: Mapped[str | None] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    contact_id: Mapped[str | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    campaign_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Click(Base):
    __tablename__ = "clicks"
    __table_args__ = (
        Index("ix_clicks_link", "link_code"),
        Index("ix_clicks_workspace_at", "workspace_id", "at"),
        # Campaign reports, and attribution's "last click of this contact".
        Index("ix_clicks_campaign", "campaign_id"),
        Index("ix_clicks_contact_at", "contact_id", "at"),
        Index("ix_clicks_message", "message_id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    # A `links` row's code, or a campaign message's `link_code`: no foreign key.
    link_code: Mapped[str] = mapped_column(String(24))
    url: Mapped[str | None] = mapped_column(Text)  # where the click went
    message_id: Mapped[str | None] = mapped_column(String(32))
    contact_id: Mapped[str | None] = mapped_column(String(32))
    campaign_id: Mapped[str | None] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    user_agent: Mapped[str | None] = mapped_column(String(500))


class Template(Base):
    """A workspace's saved message template."""

    __tablename__ = "templates"
    __table_args__ = (UniqueConstraint("workspace_id", "name", "language"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(16))
    use_case: Mapped[str | None] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Consent(Base):
    """One consent event: granted or revoked, for the program (list_id None) or one list.

    Append-only: rows are never updated, so the history shows what was agreed, when, where
    and by whom. An erased contact's rows stay, without personal data, under its phone hash.
    """

    __tablename__ = "consents"
    __table_args__ = (
        Index("ix_consents_contact", "contact_id", "id"),
        Index("ix_consents_workspace_created", "workspace_id", "created_at"),  # daily opt-outs
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    contact_id: Mapped[str | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    phone_hash: Mapped[str] = mapped_column(String(64))
    list_id: Mapped[str | None] = mapped_column(ForeignKey("lists.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(16))  # granted | revoked
    # signup_form, keyword, import, api, double_opt_in, ui
    source: Mapped[str] = mapped_column(String(32))
    consent_text: Mapped[str | None] = mapped_column(Text)
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(500))
    recorded_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Suppression(Base):
    """A number that gets nothing but compliance replies: opted out, or erased.

    Keyed by an HMAC of the number, so an erased contact leaves no readable number behind
    and a re-import of it is still caught.
    """

    __tablename__ = "suppressions"
    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    phone_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    reason: Mapped[str] = mapped_column(String(16))  # opt_out | erased
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuditEntry(Base):
    """Who changed consent, opted a number out or in, exported or erased a contact, and when."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_workspace_at", "workspace_id", "id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    contact_id: Mapped[str | None] = mapped_column(String(32))  # kept after erasure, no FK
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SignupForm(Base):
    """A hosted page (`/f/<slug>`) where people subscribe to a list themselves."""

    __tablename__ = "signup_forms"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    list_id: Mapped[str] = mapped_column(ForeignKey("lists.id", ondelete="CASCADE"))
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    consent_text: Mapped[str] = mapped_column(Text)
    double_opt_in: Mapped[bool] = mapped_column(Boolean, default=True)
    welcome_message: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(16), default="en")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OptInRequest(Base):
    """A double opt-in waiting for its YES: the consent is recorded only when it comes."""

    __tablename__ = "opt_in_requests"
    __table_args__ = (Index("ix_opt_in_requests_contact", "contact_id", "expires_at"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    contact_id: Mapped[str] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    list_id: Mapped[str] = mapped_column(ForeignKey("lists.id", ondelete="CASCADE"))
    form_id: Mapped[str | None] = mapped_column(ForeignKey("signup_forms.id", ondelete="SET NULL"))
    consent_text: Mapped[str] = mapped_column(Text)
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Segment(Base):
    """A saved audience filter; its definition is recado.domain.segments' JSON form."""

    __tablename__ = "segments"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    definition: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Campaign(Base):
    """One send to an audience. Its messages carry campaign_id: the message rows are the
    fan-out's cursor, so a resumed or restarted campaign never texts anyone twice."""

    __tablename__ = "campaigns"
    __table_args__ = (
        Index("ix_campaigns_workspace_created", "workspace_id", "created_at"),
        Index("ix_campaigns_due", "status", "send_at"),
        Index("ix_campaigns_decide", "status", "decide_at"),
    )
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    # draft, scheduled, sending, testing (A/B: waiting for the decision), paused, completed,
    # canceled
    status: Mapped[str] = mapped_column(String(16), default="draft")
    sender: Mapped[str | None] = mapped_column(String(32))  # None: the workspace default
    # {"lists": [...], "segments": [...], "exclude_lists": [...], "exclude_segments": [...]}
    audience: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    body: Mapped[str] = mapped_column(Text, default="")
    media_urls: Mapped[list[str]] = mapped_column(JSON, default=list)
    smart_encoding: Mapped[bool] = mapped_column(Boolean, default=False)
    schedule_kind: Mapped[str] = mapped_column(String(16), default="now")  # now, at, local
    send_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # kind "at": the moment
    local_send: Mapped[str | None] = mapped_column(String(16))  # kind "local": "YYYY-MM-DDTHH:MM"
    throttle_per_minute: Mapped[int | None] = mapped_column(Integer)
    # A/B: {"test_share": 0.2, "metric": "click_rate", "holdout_share": 0.05,
    # "decide_after_hours": 4}; None: no test.
    ab_test: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    decide_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the A/B decision timer
    winner_variant_id: Mapped[str | None] = mapped_column(String(32))
    discount_mode: Mapped[str] = mapped_column(String(16), default="none")  # none, shared, pool
    discount_code: Mapped[str | None] = mapped_column(String(64))  # mode "shared"
    discount_pool_id: Mapped[str | None] = mapped_column(String(32))  # mode "pool"
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    launched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set when the current fan-out (the whole audience, or an A/B test's share) is written:
    # until then the campaign timer (re)runs it, after a crash too.
    fanned_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CampaignVariant(Base):
    __tablename__ = "campaign_variants"
    __table_args__ = (UniqueConstraint("campaign_id", "label"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    label: Mapped[str] = mapped_column(String(8))  # A, B, C ...
    position: Mapped[int] = mapped_column(Integer, default=0)
    body: Mapped[str] = mapped_column(Text)
    media_urls: Mapped[list[str]] = mapped_column(JSON, default=list)
    send_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # a send-time variant


class CampaignSkip(Base):
    """An audience member the campaign did not text, and why (no consent, opted out,
    holdout, no discount code left ...). Messaged members are rows in `messages`."""

    __tablename__ = "campaign_skips"
    campaign_id: Mapped[str] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    contact_id: Mapped[str] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True
    )
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    reason: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DiscountPool(Base):
    __tablename__ = "discount_pools"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DiscountCode(Base):
    """A single-use code of a pool; given to one recipient of one campaign."""

    __tablename__ = "discount_codes"
    __table_args__ = (
        UniqueConstraint("pool_id", "code"),
        Index("ix_discount_codes_free", "pool_id", "contact_id"),
        Index("ix_discount_codes_workspace_code", "workspace_id", "code"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    pool_id: Mapped[str] = mapped_column(ForeignKey("discount_pools.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(64))
    campaign_id: Mapped[str | None] = mapped_column(String(32))
    contact_id: Mapped[str | None] = mapped_column(String(32))
    message_id: Mapped[str | None] = mapped_column(String(32))
    assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ContactEvent(Base):
    """Something a contact did in the shop or app (`order.placed`, custom names), sent by
    POST /v1/events; an order's credit (campaign, variant, message, why) is set once."""

    __tablename__ = "contact_events"
    __table_args__ = (
        UniqueConstraint("workspace_id", "event_id"),
        Index("ix_contact_events_workspace_at", "workspace_id", "occurred_at"),
        Index("ix_contact_events_contact", "contact_id", "occurred_at"),
        Index("ix_contact_events_campaign", "campaign_id"),
        Index("ix_contact_events_order", "workspace_id", "order_id"),
        # An order is credited once, even when the shop sends it twice under two event ids.
        Index(
            "uq_contact_events_credited_order",
            "workspace_id",
            "order_id",
            unique=True,
            sqlite_where=text("attribution IS NOT NULL"),
            postgresql_where=text("attribution IS NOT NULL"),
        ),
    )
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(String(200))  # the caller's id: idempotency
    # SHA-256 of the caller's payload: a replay answers the same event, a changed one a 409.
    request_hash: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(100))
    contact_id: Mapped[str | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    order_id: Mapped[str | None] = mapped_column(String(200))
    value_micros: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(String(3))
    coupon_code: Mapped[str | None] = mapped_column(String(64))
    properties: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    campaign_id: Mapped[str | None] = mapped_column(String(32))
    variant_id: Mapped[str | None] = mapped_column(String(32))
    message_id: Mapped[str | None] = mapped_column(String(32))
    attribution: Mapped[str | None] = mapped_column(String(16))  # click, delivery, coupon
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DailyTotal(Base):
    """A workspace's figures of one settled UTC day (sent, delivered, clicks, replies,
    opt-outs), counted once: a month of dashboard charts reads 30 rows, not a month of
    messages. Today and yesterday are always counted live (late delivery reports)."""

    __tablename__ = "daily_totals"
    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # YYYY-MM-DD
    figures: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CampaignReportSnapshot(Base):
    """A campaign's report as last computed: the web pages read it instead of aggregating
    a big campaign's messages on every view; the campaign worker refreshes it while the
    campaign's figures still move. GET /v1/campaigns/{id}/report always counts live."""

    __tablename__ = "campaign_report_snapshots"
    campaign_id: Mapped[str] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    report: Mapped[dict[str, Any]] = mapped_column(JSON)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # How long the last computation took: the refresher spaces big campaigns further apart.
    took_ms: Mapped[int] = mapped_column(Integer, default=0)


# The tables themselves, for Core statements on the delivery hot paths: an executemany of
# plain rows skips the ORM's per-row bulk bookkeeping, which costs more than the rows.
MESSAGES = cast(Table, Message.__table__)
MESSAGE_EVENTS = cast(Table, MessageEvent.__table__)
MESSAGE_PARTS = cast(Table, MessagePart.__table__)
