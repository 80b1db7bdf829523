"""Twilio: texts go out through the Programmable Messaging REST API, reports come back as
signed webhooks.

Config: `account_sid`, `auth_token`, optional `messaging_service_sid` (then Twilio picks the
sender from the service), `base_url` (default https://api.twilio.com), `public_url` (Recado's
public base URL, for StatusCallback), `timeout_seconds`.

Webhooks: StatusCallback is set on every message to `/carriers/<name>/status`; point the
numbers' "A message comes in" webhook at `/carriers/<name>/inbound`. Both are verified with
`X-Twilio-Signature` over the full URL and the sorted form parameters.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from recado.carriers.base import (
    DeliveryReport,
    InboundSMS,
    OutboundSMS,
    SubmitError,
    SubmitResult,
    WebhookRequest,
    WebhookResponse,
    register,
)
from recado.carriers.http_provider import (
    HttpProviderConnector,
    MalformedWebhook,
    in_recado_words,
    unreadable_answer,
)
from recado.carriers.twilio.errors import DESCRIPTIONS, ERRORS
from recado.carriers.twilio.statuses import MESSAGE_STATUS

log = logging.getLogger(__name__)

EMPTY_TWIML = b'<?xml version="1.0" encoding="UTF-8"?><Response/>'


@register
class TwilioConnector(HttpProviderConnector):
    code = "twilio"
    default_base_url = "https://api.twilio.com"
    required_config = ("account_sid", "auth_token")
    provider = "Twilio"
    submit_errors = ERRORS

    def __init__(self, name: str, config: dict[str, Any]) -> None:
        super().__init__(name, config)
        self.account_sid = str(config["account_sid"])
        self.auth_token = str(config["auth_token"])
        self.messaging_service_sid = str(config.get("messaging_service_sid") or "")
        self._validator = RequestValidator(self.auth_token)

    def auth(self) -> httpx.Auth:
        return httpx.BasicAuth(self.account_sid, self.auth_token)

    async def submit(self, sms: OutboundSMS) -> SubmitResult:
        form: dict[str, str | list[str]] = {"To": sms.recipient}
        if self.messaging_service_sid:
            form["MessagingServiceSid"] = self.messaging_service_sid
        elif sms.sender:
            form["From"] = sms.sender
        else:
            raise SubmitError("no_sender", "a Twilio message needs a From number")
        if sms.body or not sms.media_urls:
            form["Body"] = sms.body
        if sms.media_urls:
            form["MediaUrl"] = list(sms.media_urls)
        callback = self.callback_url("status")
        if callback:
            form["StatusCallback"] = callback
        response = await self.post(
            f"/2010-04-01/Accounts/{self.account_sid}/Messages.json", data=form
        )
        body = self.json_body(response)
        sid = body.get("sid") if isinstance(body, dict) else None
        if not sid:
            raise unreadable_answer(self.provider, response, "without a sid")
        return SubmitResult(str(sid))

    def error_details(self, response: httpx.Response) -> tuple[str | None, str]:
        body = self.json_body(response)
        if isinstance(body, dict) and body.get("code") is not None:
            return str(body["code"]), str(body.get("message") or response.reason_phrase)
        return None, response.text[:200] or response.reason_phrase

    def signature_is_valid(self, request: WebhookRequest) -> bool:
        signature = request.headers.get("x-twilio-signature", "")
        if not signature:
            return False
        params = dict(request.form) if request.method.upper() == "POST" else {}
        return bool(self._validator.validate(request.url, params, signature))

    def read_status(self, request: WebhookRequest) -> DeliveryReport | None:
        params = self.webhook_params(request)
        sid = params.get("MessageSid") or params.get("SmsSid")
        status = params.get("MessageStatus") or params.get("SmsStatus")
        if not sid or not status:
            raise MalformedWebhook("missing MessageSid or MessageStatus")
        mapped = MESSAGE_STATUS.get(status)
        if mapped is None:
            if status not in MESSAGE_STATUS:
                log.warning("twilio status %r for %s ignored", status, sid)
            return None
        error_code = error_message = None
        if raw := params.get("ErrorCode"):
            error_code, error_message = in_recado_words(
                self.provider, raw, DESCRIPTIONS.get(raw), ERRORS
            )
        return DeliveryReport(
            connector=self.name,
            carrier_message_id=sid,
            status=mapped,
            error_code=error_code,
            error_message=error_message,
        )

    def read_inbound(self, request: WebhookRequest) -> InboundSMS | None:
        params = self.webhook_params(request)
        sender, recipient = self.require(params, "From", "To")
        sid = params.get("MessageSid") or params.get("SmsSid")
        if not sid:
            raise MalformedWebhook("missing MessageSid")
        num_media = params.get("NumMedia", "0")
        count = int(num_media) if num_media.isdigit() else 0
        media = tuple(params[f"MediaUrl{i}"] for i in range(count) if params.get(f"MediaUrl{i}"))
        return InboundSMS(
            connector=self.name,
            sender=sender,
            recipient=recipient,
            body=params.get("Body", ""),
            carrier_message_id=sid,
            media_urls=media,
        )

    def acknowledgement(self, kind: str) -> WebhookResponse:
        # An empty TwiML document: take the message, send no reply.
        return WebhookResponse(200, EMPTY_TWIML, "text/xml")
