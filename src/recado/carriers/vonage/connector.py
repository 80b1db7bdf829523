"""Vonage (ex-Nexmo) SMS API: texts go out through `POST /sms/json`, delivery receipts and
inbound texts come back as signed webhooks.

Config: `api_key`, `api_secret`, `signature_secret` and `signature_method` (md5hash — the
dashboard default —, md5, sha1, sha256 or sha512, the HMAC variants), `base_url` (the send
endpoint, default https://rest.nexmo.com/sms/json), `public_url` (Recado's public base URL, for
the per-message `callback`), `signature_max_age_seconds` (default 300; 0 turns the freshness
check off), `concat_wait_seconds` (default 120), `allow_unsigned_webhooks` (default false),
`timeout_seconds`.

Webhooks need "signed webhooks" enabled on the Vonage account (Vonage support turns it on);
without a `signature_secret` every webhook is refused unless `allow_unsigned_webhooks` is set.
They may come as GET, form POST or JSON POST. Point the numbers' inbound webhook at
`/carriers/<name>/inbound`; delivery receipts use the `callback` sent with each message.

A long text goes out as parts, one message-id each (returned as part_ids), and each part gets
its own delivery receipt. A long inbound text arrives as parts sharing `concat-ref`; they are
joined in this process and delivered once all arrived, or joined as far as they go after
`concat_wait_seconds`. Parts held in memory are lost if the process dies before that.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from recado.carriers.base import (
    DeliveryReport,
    InboundSMS,
    OutboundSMS,
    SubmitError,
    SubmitResult,
    WebhookRequest,
    register,
)
from recado.carriers.http_provider import (
    HttpProviderConnector,
    MalformedWebhook,
    e164,
    in_recado_words,
    unreadable_answer,
    without_plus,
)
from recado.carriers.vonage import signing
from recado.carriers.vonage.errors import (
    DELIVERY_DESCRIPTIONS,
    DELIVERY_ERRORS,
    SUBMIT_DESCRIPTIONS,
    SUBMIT_ERRORS,
    SUBMIT_TEMPORARY,
    SUBMIT_THROTTLED,
)
from recado.carriers.vonage.statuses import DLR_STATUS
from recado.domain.encoding import split_parts

log = logging.getLogger(__name__)

CALLBACK_MAX_LENGTH = 100  # Vonage refuses a longer `callback` (status 23)
CLIENT_REF_MAX_LENGTH = 100


@dataclass
class _LongText:
    """The parts of one concatenated inbound text seen so far."""

    sender: str
    recipient: str
    total: int
    parts: dict[int, tuple[str, str]] = field(default_factory=dict)  # number -> (id, text)
    flush: asyncio.Task[None] | None = None


@register
class VonageConnector(HttpProviderConnector):
    code = "vonage"
    default_base_url = "https://rest.nexmo.com/sms/json"
    required_config = ("api_key", "api_secret")
    provider = "Vonage"
    submit_errors = SUBMIT_ERRORS

    def __init__(self, name: str, config: dict[str, Any]) -> None:
        super().__init__(name, config)
        self.api_key = str(config["api_key"])
        self.api_secret = str(config["api_secret"])
        self.signature_secret = str(config.get("signature_secret") or "")
        self.signature_method = str(config.get("signature_method") or "md5hash").lower()
        if self.signature_method not in signing.METHODS:
            raise ValueError(
                f"signature_method must be one of {', '.join(signing.METHODS)}, "
                f"not '{self.signature_method}'"
            )
        self.signature_max_age = float(config.get("signature_max_age_seconds", 300))
        self.concat_wait = float(config.get("concat_wait_seconds", 120))
        self.allow_unsigned = bool(config.get("allow_unsigned_webhooks", False))
        self.clock = time.time
        self._long_texts: dict[tuple[str, str, str], _LongText] = {}

    async def stop(self) -> None:
        # Deliver what arrived of unfinished long texts rather than drop them.
        for key in list(self._long_texts):
            await self._deliver_long_text(key)
        await super().stop()

    # --- submit ------------------------------------------------------------------------------

    async def submit(self, sms: OutboundSMS) -> SubmitResult:
        if not sms.sender:
            raise SubmitError("no_sender", "a Vonage message needs a from number or name")
        encoding, _ = split_parts(sms.body)
        form = {
            "api_key": self.api_key,
            "api_secret": self.api_secret,
            "from": without_plus(sms.sender),
            "to": without_plus(sms.recipient),
            "text": sms.body,
            "type": "unicode" if encoding == "UCS-2" else "text",
            "client-ref": sms.message_id[:CLIENT_REF_MAX_LENGTH],
        }
        callback = self.callback_url("status")
        if callback and len(callback) <= CALLBACK_MAX_LENGTH:
            form["status-report-req"] = "true"
            form["callback"] = callback
        elif callback:
            log.warning(
                "vonage callback URL is over %d characters; receipts go to the dashboard's URL",
                CALLBACK_MAX_LENGTH,
            )
        response = await self.post("", data=form)
        return self._result(response)

    def _result(self, response: httpx.Response) -> SubmitResult:
        body = self.json_body(response)
        parts = body.get("messages") if isinstance(body, dict) else None
        if not parts or not isinstance(parts, list):
            raise unreadable_answer(self.provider, response, "without messages")
        accepted = [str(part.get("message-id") or "") for part in parts if _accepted(part)]
        refused = [part for part in parts if not _accepted(part)]
        if not all(accepted):
            raise unreadable_answer(self.provider, response, "without a message-id")
        if not refused:
            return SubmitResult(accepted[0], part_ids=tuple(accepted))
        status = str(refused[0].get("status"))
        code, message = in_recado_words(
            self.provider,
            status,
            str(refused[0].get("error-text") or SUBMIT_DESCRIPTIONS.get(status, "")),
            SUBMIT_ERRORS,
        )
        if accepted:
            # Some parts are on their way: a retry would send those twice.
            raise SubmitError(
                code, f"{message} ({len(accepted)} of {len(parts)} parts were accepted)"
            )
        if status in SUBMIT_THROTTLED:
            raise SubmitError(code, message, throttled=True)
        raise SubmitError(code, message, temporary=status in SUBMIT_TEMPORARY)

    def error_details(self, response: httpx.Response) -> tuple[str | None, str]:
        body = self.json_body(response)
        if isinstance(body, dict):
            parts = body.get("messages")
            if isinstance(parts, list) and parts and isinstance(parts[0], dict):
                return str(parts[0].get("status")), str(parts[0].get("error-text", ""))
            title = body.get("title") or body.get("error_title")
            if title:
                return None, f"{title}: {body.get('detail', '')}".strip(": ")
        return None, response.text[:200] or response.reason_phrase

    # --- webhooks ----------------------------------------------------------------------------

    def signature_is_valid(self, request: WebhookRequest) -> bool:
        if not self.signature_secret:
            return self.allow_unsigned
        try:
            params = self.webhook_params(request)
        except MalformedWebhook:
            return False
        if not signing.signature_matches(params, self.signature_secret, self.signature_method):
            return False
        if self.signature_max_age <= 0:
            return True
        try:
            sent_at = float(params.get("timestamp", ""))
        except ValueError:
            return False
        # A signed request replayed later than this is refused.
        return abs(self.clock() - sent_at) <= self.signature_max_age

    def read_status(self, request: WebhookRequest) -> DeliveryReport | None:
        params = self.webhook_params(request)
        message_id, status = self.require(params, "messageId", "status")
        mapped = DLR_STATUS.get(status)
        if mapped is None:
            if status not in DLR_STATUS:
                log.warning("vonage receipt with unknown status %r ignored", status)
            return None
        error_code = error_message = None
        raw = params.get("err-code") or "0"
        if raw != "0":
            error_code, error_message = in_recado_words(
                self.provider, raw, DELIVERY_DESCRIPTIONS.get(raw), DELIVERY_ERRORS
            )
        return DeliveryReport(
            connector=self.name,
            carrier_message_id=message_id,
            status=mapped,
            error_code=error_code,
            error_message=error_message,
        )

    def read_inbound(self, request: WebhookRequest) -> InboundSMS | None:
        params = self.webhook_params(request)
        sender, recipient, message_id = self.require(params, "msisdn", "to", "messageId")
        if params.get("type") == "binary":
            log.info("vonage binary inbound message %s ignored", message_id)
            return None
        text = params.get("text", "")
        if params.get("concat") != "true":
            return InboundSMS(self.name, e164(sender), e164(recipient), text, message_id)
        ref, total, number = self.require(params, "concat-ref", "concat-total", "concat-part")
        if not (total.isdigit() and number.isdigit()):
            raise MalformedWebhook("concat-total and concat-part must be numbers")
        key = (sender, recipient, ref)
        long_text = self._long_texts.get(key)
        if long_text is None:
            long_text = _LongText(e164(sender), e164(recipient), int(total))
            self._long_texts[key] = long_text
            long_text.flush = asyncio.get_running_loop().create_task(self._flush_later(key))
        long_text.parts[int(number)] = (message_id, text)
        if len(long_text.parts) < long_text.total:
            return None
        del self._long_texts[key]
        if long_text.flush is not None:
            long_text.flush.cancel()
        return self._joined(long_text)

    def _joined(self, long_text: _LongText) -> InboundSMS:
        ordered = [long_text.parts[number] for number in sorted(long_text.parts)]
        return InboundSMS(
            connector=self.name,
            sender=long_text.sender,
            recipient=long_text.recipient,
            body="".join(text for _, text in ordered),
            carrier_message_id=ordered[0][0],  # the first part's id: stable across retries
        )

    async def _flush_later(self, key: tuple[str, str, str]) -> None:
        await asyncio.sleep(self.concat_wait)
        long_text = self._long_texts.get(key)
        if long_text is not None:
            log.warning(
                "vonage long text %s: %d of %d parts arrived; delivering what came",
                key[2],
                len(long_text.parts),
                long_text.total,
            )
            long_text.flush = None  # this task is finishing; do not cancel it
            try:
                await self._deliver_long_text(key)
            except Exception:
                log.exception("vonage long text %s could not be delivered", key[2])

    async def _deliver_long_text(self, key: tuple[str, str, str]) -> None:
        long_text = self._long_texts.pop(key, None)
        if long_text is None:
            return
        if long_text.flush is not None:
            long_text.flush.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await long_text.flush
        if self._events is not None and long_text.parts:
            await self._events.inbound(self._joined(long_text))


def _accepted(part: Any) -> bool:
    return isinstance(part, dict) and str(part.get("status")) == "0"
