"""Plivo: texts go out through `POST /v1/Account/{auth_id}/Message/`, status updates and
inbound texts come back as webhooks signed with `X-Plivo-Signature-V3`.

Config: `auth_id`, `auth_token`, `base_url` (default https://api.plivo.com), `public_url`
(Recado's public base URL, for the per-message status `url`), `timeout_seconds`.

Status updates are asked for on every message (`url` + `method=POST`) at
`/carriers/<name>/status`; point the Plivo application's message URL at
`/carriers/<name>/inbound`. Plivo joins long inbound texts itself.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

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
    e164,
    in_recado_words,
    unreadable_answer,
    without_plus,
)
from recado.carriers.plivo import signing
from recado.carriers.plivo.errors import DELIVERY_ERRORS, DESCRIPTIONS
from recado.carriers.plivo.statuses import MESSAGE_STATUS

log = logging.getLogger(__name__)

EMPTY_PLIVO_XML = b'<?xml version="1.0" encoding="utf-8"?><Response></Response>'
SIGNATURE_HEADERS = ("x-plivo-signature-v3", "x-plivo-signature-ma-v3")


@register
class PlivoConnector(HttpProviderConnector):
    code = "plivo"
    default_base_url = "https://api.plivo.com"
    required_config = ("auth_id", "auth_token")
    provider = "Plivo"

    def __init__(self, name: str, config: dict[str, Any]) -> None:
        super().__init__(name, config)
        self.auth_id = str(config["auth_id"])
        self.auth_token = str(config["auth_token"])

    def auth(self) -> httpx.Auth:
        return httpx.BasicAuth(self.auth_id, self.auth_token)

    async def submit(self, sms: OutboundSMS) -> SubmitResult:
        if not sms.sender:
            raise SubmitError("no_sender", "a Plivo message needs a src number or sender id")
        if "<" in sms.recipient:
            # Plivo reads '<' as a list of destinations; one message goes to one recipient.
            raise SubmitError("invalid_recipient", f"'{sms.recipient}' is not one number")
        payload: dict[str, Any] = {
            "src": without_plus(sms.sender),
            "dst": without_plus(sms.recipient),
            "text": sms.body,
        }
        if sms.media_urls:
            payload["type"] = "mms"
            payload["media_urls"] = list(sms.media_urls)
        callback = self.callback_url("status")
        if callback:
            payload["url"] = callback
            payload["method"] = "POST"
        response = await self.post(f"/v1/Account/{self.auth_id}/Message/", json=payload)
        body = self.json_body(response)
        uuids = body.get("message_uuid") if isinstance(body, dict) else None
        if isinstance(uuids, str):
            uuids = [uuids]
        if not uuids:
            raise unreadable_answer(self.provider, response, "without a message_uuid")
        return SubmitResult(str(uuids[0]))

    def error_details(self, response: httpx.Response) -> tuple[str | None, str]:
        # Plivo's errors carry a message and no code: {"api_id": "...", "error": "..."}.
        body = self.json_body(response)
        if isinstance(body, dict) and body.get("error"):
            return None, str(body["error"])
        return None, response.text[:200] or response.reason_phrase

    def signature_is_valid(self, request: WebhookRequest) -> bool:
        nonce = request.headers.get("x-plivo-signature-v3-nonce", "")
        params = dict(request.form) if request.method.upper() == "POST" else {}
        return any(
            signing.signature_matches(
                request.headers.get(header, ""),
                request.method,
                request.url,
                params,
                nonce,
                self.auth_token,
            )
            for header in SIGNATURE_HEADERS
        )

    def read_status(self, request: WebhookRequest) -> DeliveryReport | None:
        params = self.webhook_params(request)
        message_uuid, status = self.require(params, "MessageUUID", "Status")
        mapped = MESSAGE_STATUS.get(status)
        if mapped is None:
            if status not in MESSAGE_STATUS:
                log.warning("plivo status %r for %s ignored", status, message_uuid)
            return None
        error_code = error_message = None
        raw = params.get("ErrorCode") or ""
        if raw.strip("0"):  # "000" means no error
            error_code, error_message = in_recado_words(
                self.provider, raw, DESCRIPTIONS.get(raw), DELIVERY_ERRORS
            )
        return DeliveryReport(
            connector=self.name,
            carrier_message_id=message_uuid,
            status=mapped,
            error_code=error_code,
            error_message=error_message,
        )

    def read_inbound(self, request: WebhookRequest) -> InboundSMS | None:
        params = self.webhook_params(request)
        sender, recipient, message_uuid = self.require(params, "From", "To", "MessageUUID")
        count = params.get("MediaCount", "0")
        media = tuple(
            params[f"Media{i}"]
            for i in range(1, (int(count) if count.isdigit() else 0) + 1)
            if params.get(f"Media{i}")
        )
        return InboundSMS(
            connector=self.name,
            sender=e164(sender),
            recipient=e164(recipient),
            body=params.get("Text") or params.get("Body") or "",
            carrier_message_id=message_uuid,
            media_urls=media,
        )

    def acknowledgement(self, kind: str) -> WebhookResponse:
        if kind == "inbound":
            # Plivo expects Message XML from the message URL; an empty document sends no reply.
            return WebhookResponse(200, EMPTY_PLIVO_XML, "application/xml")
        return WebhookResponse(200)
