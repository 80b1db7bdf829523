"""Plivo connector: each case says what Plivo receives or sends, and what Recado makes of it."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from fake_providers import (
    PLIVO_ID,
    PLIVO_TOKEN,
    FakePlivo,
    RecordingEvents,
    form_webhook,
    get_webhook,
    recado_webhook_app,
    webhook_url,
)

from recado.carriers.base import DeliveryReport, InboundSMS, OutboundSMS, SubmitError

MESSAGE_PATH = f"/v1/Account/{PLIVO_ID}/Message/"
STATUS_URL = webhook_url("plivo-in", "status")
INBOUND_URL = webhook_url("plivo-in", "inbound")
EMPTY_PLIVO_XML = b'<?xml version="1.0" encoding="utf-8"?><Response></Response>'


def v3_signature(
    method: str, url: str, params: dict[str, str], nonce: str, token: str = PLIVO_TOKEN
) -> str:
    """X-Plivo-Signature-V3 as Plivo computes it: HMAC-SHA256 (Base64) keyed with the Auth
    Token over the URL without its query, `?` + the sorted query (`k=v&...`), and for a POST
    `.` (when there is a query) + the sorted body parameters written `kv`, then `.` + nonce."""
    parts = urlsplit(url)
    query = "&".join(f"{k}={v}" for k, v in sorted(parse_qsl(parts.query, keep_blank_values=True)))
    text = f"{parts.scheme}://{parts.netloc}{parts.path}"
    if method == "GET":
        text += f"?{query}" if query else ""
    else:
        body = "".join(f"{k}{v}" for k, v in sorted(params.items()))
        if query or body:
            text += f"?{query}"
        text += f".{body}" if query and body else body
    digest = hmac.new(token.encode(), f"{text}.{nonce}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def signed(url: str, params: dict[str, str], nonce: str = "05429567804466091622") -> dict[str, str]:
    return {
        "X-Plivo-Signature-V3": v3_signature("POST", url, params, nonce),
        "X-Plivo-Signature-V3-Nonce": nonce,
    }


# --- submit ----------------------------------------------------------------------------------


@dataclass
class SubmitCase:
    name: str
    sms: OutboundSMS
    sent: dict[str, Any]  # the JSON Plivo receives
    config: dict[str, Any] = field(default_factory=dict)


SUBMIT_CASES = [
    SubmitCase(
        "plain text, numbers without +",
        OutboundSMS("msg_1", "+14155550100", "+919999900000", "Your code is 1234"),
        {
            "src": "14155550100",
            "dst": "919999900000",
            "text": "Your code is 1234",
            "url": STATUS_URL,
            "method": "POST",
        },
    ),
    SubmitCase(
        "unicode text travels unchanged",
        OutboundSMS("msg_2", "+14155550100", "+5511999990000", "Olá, ação confirmada 👍"),
        {
            "src": "14155550100",
            "dst": "5511999990000",
            "text": "Olá, ação confirmada 👍",
            "url": STATUS_URL,
            "method": "POST",
        },
    ),
    SubmitCase(
        "media makes it an mms",
        OutboundSMS(
            "msg_3", "+14155550100", "+14155550111", "Menu", ("https://cdn.example/a.jpg",)
        ),
        {
            "src": "14155550100",
            "dst": "14155550111",
            "text": "Menu",
            "type": "mms",
            "media_urls": ["https://cdn.example/a.jpg"],
            "url": STATUS_URL,
            "method": "POST",
        },
    ),
    SubmitCase(
        "no public url, no status url",
        OutboundSMS("msg_4", "+14155550100", "+919999900000", "Hi"),
        {"src": "14155550100", "dst": "919999900000", "text": "Hi"},
        {"public_url": ""},
    ),
]


@pytest.mark.parametrize("case", SUBMIT_CASES, ids=lambda case: case.name)
async def test_submit_posts_the_documented_request(
    case: SubmitCase, make_plivo: Any, plivo_api: FakePlivo
) -> None:
    plivo = await make_plivo(**case.config)

    result = await plivo.submit(case.sms)

    request = plivo_api.last
    assert (request.method, request.path) == ("POST", MESSAGE_PATH)
    assert request.basic_auth == (PLIVO_ID, PLIVO_TOKEN)
    assert request.headers["content-type"] == "application/json"
    assert request.json == case.sent
    assert len(result.carrier_message_id) == 36  # Plivo's message_uuid
    assert result.part_ids == ()


@dataclass
class RefusalCase:
    name: str
    status: int
    body: Any
    code: str
    message: str
    temporary: bool
    throttled: bool = False


REFUSAL_CASES = [
    RefusalCase(
        "invalid parameter is permanent and keeps Plivo's message",
        400,
        {"api_id": "97ceeb52-58b6-11e1-86da-77300b68f8bb", "error": "invalid dst number"},
        "carrier_error",
        "Plivo HTTP 400: invalid dst number",
        temporary=False,
    ),
    RefusalCase(
        "too many requests throttles",
        429,
        {"api_id": "97ceeb52-58b6-11e1-86da-77300b68f8bb", "error": "too many requests"},
        "throttled",
        "Plivo HTTP 429: too many requests",
        temporary=True,
        throttled=True,
    ),
    RefusalCase(
        "server error is temporary",
        500,
        {"api_id": "97ceeb52-58b6-11e1-86da-77300b68f8bb", "error": "server error"},
        "carrier_error",
        "Plivo HTTP 500: server error",
        temporary=True,
    ),
]


@pytest.mark.parametrize("case", REFUSAL_CASES, ids=lambda case: case.name)
async def test_refusals_map_to_submit_errors(
    case: RefusalCase, make_plivo: Any, plivo_api: FakePlivo
) -> None:
    plivo = await make_plivo()
    plivo_api.answer_next(case.status, case.body)

    with pytest.raises(SubmitError) as refused:
        await plivo.submit(OutboundSMS("msg_1", "+14155550100", "+919999900000", "Hi"))

    assert (refused.value.code, refused.value.message) == (case.code, case.message)
    assert (refused.value.temporary, refused.value.throttled) == (case.temporary, case.throttled)
    assert not refused.value.outcome_unknown


@dataclass
class UnreadableCase:
    name: str
    status: int
    body: Any  # a JSON value, or text


UNREADABLE_CASES = [
    UnreadableCase("202 with an html page", 202, "<html>Accepted</html>"),
    UnreadableCase(
        "202 with JSON but no message_uuid",
        202,
        {"api_id": "97ceeb52-58b6-11e1-86da-77300b68f8bb", "message": "message(s) queued"},
    ),
    UnreadableCase("200 with an empty message_uuid list", 200, {"message_uuid": []}),
]


@pytest.mark.parametrize("case", UNREADABLE_CASES, ids=lambda case: case.name)
async def test_a_2xx_without_a_readable_uuid_is_an_unknown_outcome_never_resent(
    case: UnreadableCase, make_plivo: Any, plivo_api: FakePlivo
) -> None:
    plivo = await make_plivo()
    plivo_api.answer_next(case.status, case.body)

    with pytest.raises(SubmitError) as refused:
        await plivo.submit(OutboundSMS("msg_1", "+14155550100", "+919999900000", "Hi"))

    assert refused.value.code == "unreadable_answer"
    assert refused.value.outcome_unknown
    assert not refused.value.temporary  # Plivo may have it: never retried blindly
    assert f"Plivo answered {case.status}" in refused.value.message


async def test_wrong_credentials_are_a_permanent_error(make_plivo: Any) -> None:
    plivo = await make_plivo(auth_token="not-the-token")

    with pytest.raises(SubmitError) as refused:
        await plivo.submit(OutboundSMS("msg_1", "+14155550100", "+919999900000", "Hi"))

    assert (refused.value.code, refused.value.temporary) == ("unauthorized", False)
    assert refused.value.message == "Plivo HTTP 401: authentication failed"


async def test_a_recipient_list_is_refused_before_plivo(
    make_plivo: Any, plivo_api: FakePlivo
) -> None:
    plivo = await make_plivo()

    with pytest.raises(SubmitError) as refused:
        await plivo.submit(OutboundSMS("msg_1", "+14155550100", "919999900000<14155550111", "Hi"))

    assert (refused.value.code, refused.value.temporary) == ("invalid_recipient", False)
    assert plivo_api.received == []


async def test_unreachable_plivo_is_temporary(make_plivo: Any, closed_port_url: str) -> None:
    plivo = await make_plivo(base_url=closed_port_url)

    with pytest.raises(SubmitError) as refused:
        await plivo.submit(OutboundSMS("msg_1", "+14155550100", "+919999900000", "Hi"))

    assert (refused.value.code, refused.value.temporary) == ("connection_error", True)


# --- status callbacks ------------------------------------------------------------------------


def report(status: str, code: str | None = None, message: str | None = None) -> DeliveryReport:
    return DeliveryReport("plivo-in", "db3ce55a-7f1d-11e1-8ea7-1231380bc196", status, code, message)


STATUS_CASES = [
    ("queued", "", None),
    ("sent", "", None),
    ("delivered", "000", report("delivered")),
    ("undelivered", "20", report("undelivered", "network_error", "Plivo 20: network error")),
    ("undelivered", "30", report("undelivered", "rejected", "Plivo 30: spam detected")),
    ("failed", "40", report("failed", "invalid_sender", "Plivo 40: invalid source number")),
    (
        "failed",
        "50",
        report("failed", "invalid_recipient", "Plivo 50: invalid destination number"),
    ),
    ("failed", "900", report("failed", "carrier_error", "Plivo error 900")),
    ("rejected", "10", report("failed", "rejected", "Plivo 10: invalid message")),
]


@pytest.mark.parametrize(("status", "error_code", "expected"), STATUS_CASES)
async def test_status_callbacks_map_to_reports(
    status: str,
    error_code: str,
    expected: DeliveryReport | None,
    make_plivo: Any,
    events: RecordingEvents,
) -> None:
    plivo = await make_plivo()
    params = {
        "MessageUUID": "db3ce55a-7f1d-11e1-8ea7-1231380bc196",
        "ParentMessageUUID": "db3ce55a-7f1d-11e1-8ea7-1231380bc196",
        "From": "14155550100",
        "To": "919999900000",
        "Type": "sms",
        "Status": status,
        "Units": "1",
        "TotalRate": "0.0035",
        "TotalAmount": "0.0035",
        "MCC": "404",
        "MNC": "10",
        "Sequence": "2",
    }
    if error_code:
        params["ErrorCode"] = error_code

    answer = await plivo.handle_webhook(
        "status", form_webhook(STATUS_URL, params, signed(STATUS_URL, params))
    )

    assert answer.status == 200
    assert events.reports == ([expected] if expected else [])


# --- inbound ---------------------------------------------------------------------------------

SMS_PARAMS = {
    "From": "919999900000",
    "To": "14155550100",
    "Type": "sms",
    "Text": "PARAR",
    "MessageUUID": "3c8a1a2e-0000-4000-8000-000000000001",
    "Units": "1",
    "TotalRate": "0",
    "TotalAmount": "0",
    "MessageIntent": "optout",
}


@pytest.mark.parametrize(
    ("params", "sms"),
    [
        (
            SMS_PARAMS,
            InboundSMS(
                "plivo-in", "+919999900000", "+14155550100", "PARAR", SMS_PARAMS["MessageUUID"]
            ),
        ),
        (
            {
                "From": "14155550111",
                "To": "14155550100",
                "Type": "mms",
                "Body": "Foto",
                "MessageUUID": "3c8a1a2e-0000-4000-8000-000000000002",
                "MediaCount": "2",
                "Media1": "https://media.plivo.com/1.jpg",
                "Media2": "https://media.plivo.com/2.jpg",
            },
            InboundSMS(
                "plivo-in",
                "+14155550111",
                "+14155550100",
                "Foto",
                "3c8a1a2e-0000-4000-8000-000000000002",
                ("https://media.plivo.com/1.jpg", "https://media.plivo.com/2.jpg"),
            ),
        ),
    ],
    ids=["sms", "mms"],
)
async def test_inbound_texts_are_read_and_answered_with_empty_xml(
    params: dict[str, str], sms: InboundSMS, make_plivo: Any, events: RecordingEvents
) -> None:
    plivo = await make_plivo()

    answer = await plivo.handle_webhook(
        "inbound", form_webhook(INBOUND_URL, params, signed(INBOUND_URL, params))
    )

    assert (answer.status, answer.body, answer.content_type) == (
        200,
        EMPTY_PLIVO_XML,
        "application/xml",
    )
    assert events.inbound_texts == [sms]


# --- signatures ------------------------------------------------------------------------------


@dataclass
class SignatureCase:
    name: str
    url: str
    headers: dict[str, str]
    accepted: bool


QUERY_URL = webhook_url("plivo-in", "inbound", {"b": "2", "a": "1"})
NONCE = "12345678901234567890"
GOOD = v3_signature("POST", INBOUND_URL, SMS_PARAMS, NONCE)

SIGNATURE_CASES = [
    SignatureCase("valid V3", INBOUND_URL, signed(INBOUND_URL, SMS_PARAMS, NONCE), True),
    SignatureCase(
        "valid main-account V3",
        INBOUND_URL,
        {"X-Plivo-Signature-Ma-V3": GOOD, "X-Plivo-Signature-V3-Nonce": NONCE},
        True,
    ),
    SignatureCase(
        "one of several comma-separated signatures",
        INBOUND_URL,
        {
            "X-Plivo-Signature-V3": f"c29tZXRoaW5nIGVsc2U=,{GOOD}",
            "X-Plivo-Signature-V3-Nonce": NONCE,
        },
        True,
    ),
    SignatureCase("a URL with a query", QUERY_URL, signed(QUERY_URL, SMS_PARAMS, NONCE), True),
    SignatureCase("no headers", INBOUND_URL, {}, False),
    SignatureCase("no nonce", INBOUND_URL, {"X-Plivo-Signature-V3": GOOD}, False),
    SignatureCase(
        "another nonce",
        INBOUND_URL,
        {"X-Plivo-Signature-V3": GOOD, "X-Plivo-Signature-V3-Nonce": "1"},
        False,
    ),
    SignatureCase(
        "signed with another token",
        INBOUND_URL,
        {
            "X-Plivo-Signature-V3": v3_signature("POST", INBOUND_URL, SMS_PARAMS, NONCE, "other"),
            "X-Plivo-Signature-V3-Nonce": NONCE,
        },
        False,
    ),
    SignatureCase(
        "signed for another URL",
        INBOUND_URL,
        signed(webhook_url("plivo-br", "inbound"), SMS_PARAMS),
        False,
    ),
]


@pytest.mark.parametrize("case", SIGNATURE_CASES, ids=lambda case: case.name)
async def test_only_valid_v3_signatures_are_accepted(
    case: SignatureCase, make_plivo: Any, events: RecordingEvents
) -> None:
    plivo = await make_plivo()

    answer = await plivo.handle_webhook("inbound", form_webhook(case.url, SMS_PARAMS, case.headers))

    assert answer.status == (200 if case.accepted else 403)
    assert len(events.inbound_texts) == (1 if case.accepted else 0)


async def test_a_parameter_changed_after_signing_is_refused(
    make_plivo: Any, events: RecordingEvents
) -> None:
    plivo = await make_plivo()
    headers = signed(INBOUND_URL, SMS_PARAMS)

    answer = await plivo.handle_webhook(
        "inbound", form_webhook(INBOUND_URL, SMS_PARAMS | {"Text": "HI"}, headers)
    )

    assert answer.status == 403
    assert events.nothing


async def test_a_signed_get_status_callback_is_accepted(
    make_plivo: Any, events: RecordingEvents
) -> None:
    plivo = await make_plivo()
    url = webhook_url(
        "plivo-in",
        "status",
        {"MessageUUID": "db3ce55a-7f1d-11e1-8ea7-1231380bc196", "Status": "delivered"},
    )
    headers = {
        "X-Plivo-Signature-V3": v3_signature("GET", url, {}, NONCE),
        "X-Plivo-Signature-V3-Nonce": NONCE,
    }

    answer = await plivo.handle_webhook("status", get_webhook(url, headers))

    assert answer.status == 200
    assert events.reports == [report("delivered")]


# --- through Recado's webhook route ----------------------------------------------------------


async def test_inbound_through_the_webhook_route(make_plivo: Any, events: RecordingEvents) -> None:
    plivo = await make_plivo()
    transport = httpx.ASGITransport(app=recado_webhook_app(plivo))

    async with httpx.AsyncClient(transport=transport, base_url="http://10.0.0.5:8000") as client:
        accepted = await client.post(
            "/carriers/plivo-in/inbound", data=SMS_PARAMS, headers=signed(INBOUND_URL, SMS_PARAMS)
        )
        unsigned = await client.post("/carriers/plivo-in/inbound", data=SMS_PARAMS)

    assert (accepted.status_code, unsigned.status_code) == (200, 403)
    assert accepted.headers["content-type"].startswith("application/xml")
    assert events.inbound_texts == [
        InboundSMS("plivo-in", "+919999900000", "+14155550100", "PARAR", SMS_PARAMS["MessageUUID"])
    ]
