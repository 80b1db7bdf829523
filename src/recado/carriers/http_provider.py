"""What the HTTP providers (Twilio, Vonage, Plivo) share: one HTTP client, one error rule, one
webhook flow.

Submit errors follow one rule for every provider: HTTP 429 throttles the sender, 5xx, timeouts
and connection errors are temporary (retried), any other 4xx is permanent. A 2xx whose body
cannot be read is `outcome_unknown`: the provider may have the message, so it is never resent.
Error codes speak Recado's vocabulary (the one of carriers/smpp/errors.py: invalid_recipient,
throttled, ...); each provider folder maps its documented codes in `errors.py`, any other code
is `carrier_error`, and the provider's raw code stays in the message ("Twilio 21211: ...").
Webhooks are checked in one order: the signature first (403 when it does not verify, and
nothing is recorded), then the payload.
"""

from __future__ import annotations

import json
import logging
from abc import abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import quote

import httpx

from recado.carriers.base import (
    CarrierEvents,
    Connector,
    DeliveryReport,
    InboundSMS,
    SubmitError,
    WebhookRequest,
    WebhookResponse,
)

log = logging.getLogger(__name__)

WEBHOOK_KINDS = ("status", "inbound")


class MalformedWebhook(ValueError):
    """A signed webhook that lacks a field Recado needs; answered with 400."""


UNMAPPED = "carrier_error"  # a provider's code that Recado has no name for


def in_recado_words(
    provider: str, raw: str, text: str | None, vocabulary: Mapping[str, str]
) -> tuple[str, str]:
    """Recado's code for a provider's error code, and a message that keeps the raw one:
    ("invalid_recipient", "Twilio 21211: The 'To' number is not a valid phone number")."""
    message = f"{provider} {raw}: {text}" if text else f"{provider} error {raw}"
    return vocabulary.get(raw, UNMAPPED), message


def submit_refusal(
    status: int,
    raw: str | None,
    text: str,
    *,
    provider: str,
    vocabulary: Mapping[str, str],
) -> SubmitError:
    """The SubmitError for an HTTP error answer; a provider code it does not map, or no code
    at all, is named after the HTTP status."""
    if raw is None:
        code, message = UNMAPPED, f"{provider} HTTP {status}: {text}"
    else:
        code, message = in_recado_words(provider, raw, text, vocabulary)
    if code == UNMAPPED:
        code = _BY_HTTP_STATUS.get(status, UNMAPPED)
    if status == 429:
        return SubmitError(code, message, throttled=True)
    if status >= 500:
        return SubmitError(code, message, temporary=True)
    return SubmitError(code, message)


_BY_HTTP_STATUS = {401: "unauthorized", 403: "unauthorized", 429: "throttled"}


def unreadable_answer(provider: str, response: httpx.Response, what: str) -> SubmitError:
    """A 2xx answer without the message id: the provider may have taken the message, so it
    is marked `unknown` for reconciliation, never resent (that could send it twice)."""
    return SubmitError(
        "unreadable_answer",
        f"{provider} answered {response.status_code} {what}: {response.text[:200]!r}",
        outcome_unknown=True,
    )


def e164(number: str) -> str:
    """A provider's digits-only number ('447700900000') as E.164; sender names stay as they are."""
    number = number.strip()
    return f"+{number}" if number.isdigit() else number


def without_plus(number: str) -> str:
    """The digits-only form some providers want ('+447700900000' -> '447700900000')."""
    return number[1:] if number.startswith("+") and number[1:].isdigit() else number


class HttpProviderConnector(Connector):
    """A connector that submits over a provider's REST API and hears back through webhooks."""

    default_base_url: ClassVar[str]
    required_config: ClassVar[tuple[str, ...]] = ()
    provider: ClassVar[str]  # how messages name it: "Twilio"
    # The provider's error codes of a refused submit -> Recado's code (its errors.py).
    submit_errors: ClassVar[Mapping[str, str]] = {}

    def __init__(self, name: str, config: dict[str, Any]) -> None:
        super().__init__(name, config)
        missing = [key for key in self.required_config if not config.get(key)]
        if missing:
            raise ValueError(
                f"The {self.code} connection '{name}' needs the config keys: {', '.join(missing)}"
            )
        self.base_url = str(config.get("base_url") or self.default_base_url).rstrip("/")
        self.public_url = str(config.get("public_url") or "").rstrip("/")
        self.timeout = float(config.get("timeout_seconds", 15.0))
        self._client: httpx.AsyncClient | None = None
        self._events: CarrierEvents | None = None

    # --- what each provider supplies -------------------------------------------------------

    def auth(self) -> httpx.Auth | None:
        """How requests to the provider authenticate (basic auth for most)."""
        return None

    @abstractmethod
    def error_details(self, response: httpx.Response) -> tuple[str | None, str]:
        """The provider's error code (if it has one) and message, read from an error answer."""

    @abstractmethod
    def signature_is_valid(self, request: WebhookRequest) -> bool:
        """Whether the webhook carries the provider's valid signature."""

    @abstractmethod
    def read_status(self, request: WebhookRequest) -> DeliveryReport | None:
        """The final delivery report a status callback carries; None for intermediate ones."""

    @abstractmethod
    def read_inbound(self, request: WebhookRequest) -> InboundSMS | None:
        """The inbound text a webhook carries; None while it is not complete yet."""

    def acknowledgement(self, kind: str) -> WebhookResponse:
        """What the provider expects back once a webhook is taken."""
        return WebhookResponse(200)

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self, events: CarrierEvents) -> None:
        self._events = events
        if self._client is None:
            self._client = httpx.AsyncClient(
                auth=self.auth(),
                timeout=self.timeout,
                headers={"User-Agent": "Recado", "Accept": "application/json"},
            )
        if not self.public_url:
            log.warning(
                "%s connection %s has no public_url: the provider will not send delivery reports",
                self.code,
                self.name,
            )

    async def stop(self) -> None:
        client, self._client = self._client, None
        self._events = None
        if client is not None:
            await client.aclose()

    @property
    def connected(self) -> bool:
        return self._client is not None and self._events is not None

    def callback_url(self, kind: str) -> str | None:
        """Where the provider should call Recado back: `<public_url>/carriers/<name>/<kind>`."""
        if not self.public_url:
            return None
        return f"{self.public_url}/carriers/{quote(self.name, safe='')}/{kind}"

    # --- submit ------------------------------------------------------------------------------

    async def post(self, path: str, **kwargs: Any) -> httpx.Response:
        """POST to the provider; any answer but 2xx, and any transport failure, is a SubmitError."""
        if self._client is None:
            raise SubmitError("not_connected", f"{self.name} is not started", temporary=True)
        try:
            response = await self._client.post(self.base_url + path, **kwargs)
        except httpx.ConnectTimeout as error:
            # Never reached the provider: nothing was sent.
            raise SubmitError(
                "connection_error", f"could not reach {self.code}: {error!r}", temporary=True
            ) from error
        except httpx.TimeoutException as error:
            # The request may have arrived: code "timeout" marks an outcome nobody knows.
            raise SubmitError(
                "timeout",
                f"{self.code} did not answer in time: {error!r}",
                temporary=True,
                outcome_unknown=True,
            ) from error
        except httpx.TransportError as error:
            raise SubmitError(
                "connection_error", f"could not reach {self.code}: {error!r}", temporary=True
            ) from error
        if not response.is_success:
            code, message = self.error_details(response)
            raise submit_refusal(
                response.status_code,
                code,
                message,
                provider=self.provider,
                vocabulary=self.submit_errors,
            )
        return response

    @staticmethod
    def json_body(response: httpx.Response) -> Any:
        """The JSON of an answer, or None when it is not JSON (a proxy's HTML error page)."""
        try:
            return response.json()
        except ValueError:
            return None

    # --- webhooks ----------------------------------------------------------------------------

    async def handle_webhook(self, kind: str, request: WebhookRequest) -> WebhookResponse:
        if kind not in WEBHOOK_KINDS:
            return WebhookResponse(404, f"no webhook called '{kind}'".encode())
        if not self.signature_is_valid(request):
            log.warning("%s webhook to %s refused: bad or missing signature", self.code, self.name)
            return WebhookResponse(403, b"invalid signature")
        events = self._events
        if events is None:
            # Not started yet: an error answer makes the provider try again later.
            return WebhookResponse(503, b"connector not started")
        try:
            if kind == "status":
                report = self.read_status(request)
                if report is not None:
                    await events.delivery_report(report)
            else:
                sms = self.read_inbound(request)
                if sms is not None:
                    await events.inbound(sms)
        except MalformedWebhook as error:
            log.warning("%s webhook to %s refused: %s", self.code, self.name, error)
            return WebhookResponse(400, str(error).encode())
        return self.acknowledgement(kind)

    @staticmethod
    def webhook_params(request: WebhookRequest) -> dict[str, str]:
        """The parameters of a webhook: the query of a GET, the form or JSON body of a POST."""
        if request.method.upper() == "GET":
            return dict(request.query)
        if request.form:
            return dict(request.form)
        if request.headers.get("content-type", "").startswith("application/json"):
            try:
                data = json.loads(request.body or b"{}")
            except ValueError as error:
                raise MalformedWebhook("the JSON body does not parse") from error
            if not isinstance(data, dict):
                raise MalformedWebhook("the JSON body is not an object")
            return {key: _as_text(value) for key, value in data.items()}
        return dict(request.query)

    @staticmethod
    def require(params: dict[str, str], *names: str) -> list[str]:
        """The values of required webhook fields, or MalformedWebhook naming the missing ones."""
        missing = [name for name in names if not params.get(name)]
        if missing:
            raise MalformedWebhook(f"missing {', '.join(missing)}")
        return [params[name] for name in names]


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)
