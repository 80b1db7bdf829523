"""The small interface every carrier connector implements, and the registry that finds them.

A connector submits texts and reports back through CarrierEvents: delivery reports and
inbound texts. Adding a carrier means adding a folder that registers a Connector subclass.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Protocol


@dataclass(frozen=True)
class OutboundSMS:
    message_id: str  # also the idempotency reference a carrier may echo back
    sender: str | None
    recipient: str
    body: str
    media_urls: tuple[str, ...] = ()


@dataclass(frozen=True)
class SubmitResult:
    carrier_message_id: str  # the id of the whole message, or of its first part
    # One id per part when the carrier reports on parts separately (SMPP): reports for any
    # of them are matched back to the message. Empty when there is one id for all.
    part_ids: tuple[str, ...] = ()


class SubmitError(Exception):
    """A submit that did not clearly succeed.

    `temporary` errors are retried and throttling slows the sender down. `outcome_unknown`
    means the carrier may have the message anyway (a timeout after the request left): it
    is never retried blindly but marked `unknown` for reconciliation.
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        temporary: bool = False,
        throttled: bool = False,
        outcome_unknown: bool = False,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.temporary = temporary or throttled
        self.throttled = throttled
        self.outcome_unknown = outcome_unknown


@dataclass(frozen=True)
class DeliveryReport:
    connector: str
    carrier_message_id: str
    status: str  # delivered | undelivered | failed
    error_code: str | None = None
    error_message: str | None = None
    at: datetime | None = None


@dataclass(frozen=True)
class InboundSMS:
    connector: str
    sender: str
    recipient: str
    body: str
    carrier_message_id: str
    media_urls: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class WebhookRequest:
    """An HTTP request a provider sent to Recado (status callback or inbound text)."""

    method: str
    url: str  # the full public URL the provider called, as signatures are computed over it
    headers: Mapping[str, str]  # lower-case names
    body: bytes
    form: Mapping[str, str]  # parsed application/x-www-form-urlencoded body, else empty
    query: Mapping[str, str]


@dataclass(frozen=True)
class WebhookResponse:
    status: int = 200
    body: bytes = b""
    content_type: str = "text/plain"


class CarrierEvents(Protocol):
    async def delivery_report(self, report: DeliveryReport) -> None: ...

    async def inbound(self, sms: InboundSMS) -> None: ...


class Connector(ABC):
    code: ClassVar[str]  # the registry key, e.g. "simulator", "smpp", "twilio"

    def __init__(self, name: str, config: dict[str, Any]) -> None:
        self.name = name
        self.config = config

    @abstractmethod
    async def start(self, events: CarrierEvents) -> None:
        """Connect and begin reporting events."""

    @abstractmethod
    async def stop(self) -> None: ...

    @abstractmethod
    async def submit(self, sms: OutboundSMS) -> SubmitResult:
        """Hand one message to the carrier; raise SubmitError when it refuses."""

    @property
    @abstractmethod
    def connected(self) -> bool: ...

    async def handle_webhook(self, kind: str, request: WebhookRequest) -> WebhookResponse:
        """A provider called `/carriers/<connection name>/<kind>`; HTTP providers override."""
        return WebhookResponse(404, b"this connector takes no webhooks")


CONNECTOR_TYPES: dict[str, type[Connector]] = {}


def register(cls: type[Connector]) -> type[Connector]:
    CONNECTOR_TYPES[cls.code] = cls
    return cls


def load_builtin_connectors() -> None:
    """Import every built-in connector folder; each registers itself."""
    import importlib

    for folder in ("simulator", "smpp", "twilio", "vonage", "plivo"):
        importlib.import_module(f"recado.carriers.{folder}")


def build_connector(code: str, name: str, config: dict[str, Any]) -> Connector:
    load_builtin_connectors()

    try:
        cls = CONNECTOR_TYPES[code]
    except KeyError:
        known = ", ".join(sorted(CONNECTOR_TYPES))
        raise ValueError(f"No carrier connector called '{code}'; known: {known}") from None
    return cls(name, config)
