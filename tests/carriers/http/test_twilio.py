"""Twilio connector: each case says what Twilio receives or sends, and what Recado makes of it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fake_providers import (
    PUBLIC_URL,
    TWILIO_SID,
    TWILIO_TOKEN,
    FakeTwilio,
    RecordingEvents,
    form_webhook,
    get_webhook,
    recado_webhook_app,
    webhook_url,
)
from twilio.request_validator import RequestValidator

from recado.carriers.base import DeliveryReport, InboundSMS, OutboundSMS, SubmitError
from recado.carriers.twilio import TwilioConnector

MESSAGES_PATH = f"/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
STATUS_URL = webhook_url("twilio-us", "status")
INBOUND_URL = webhook_url("twilio-us", "inbound")
EMPTY_TWIML = b'<?xml version="1.0" encoding="UTF-8"?><Response/>'


def signed(url: str, params: dict[str, str], token: str = TWILIO_TOKEN) -> dict[str, str]:
    """The X-Twilio-Signature header Twilio sends, computed with Twilio's own library."""
    return {"X-Twilio-Signature": RequestValidator(token).compute_signature(url, params)}


# --- submit ----------------------------------------------------------------------------------


@dataclass
class SubmitCase:
    name: str
    sms: OutboundSMS
    sent: dict[str, list[str]]  # the form Twilio receives
    config: dict[str, Any] = field(default_factory=dict)


SUBMIT_CASES = [
    SubmitCase(
        "plain text from a number",
        OutboundSMS("msg_1", "+15005550006", "+14155550100", "Your code is 1234"),
        {
            "To": ["+14155550100"],
            "From": ["+15005550006"],
            "Body": ["Your code is 1234"],
            "StatusCallback": [STATUS_URL],
        },
    ),
    SubmitCase(
        "unicode text travels unchanged",
        OutboundSMS("msg_2", "+15005550006", "+5511999990000", "Olá, ação confirmada 👍"),
        {
            "To": ["+5511999990000"],
            "From": ["+15005550006"],
            "Body": ["Olá, ação confirmada 👍"],
            "StatusCallback": [STATUS_URL],
        },
    ),
    SubmitCase(
        "media urls go as repeated MediaUrl",
        OutboundSMS(
            "msg_3",
            "+15005550006",
            "+14155550100",
            "See the menu",
            ("https://cdn.example/a.jpg", "https://cdn.example/b.png"),
        ),
        {
            "To": ["+14155550100"],
            "From": ["+15005550006"],
            "Body": ["See the menu"],
            "MediaUrl": ["https://cdn.example/a.jpg", "https://cdn.example/b.png"],
            "StatusCallback": [STATUS_URL],
        },
    ),
    SubmitCase(
        "a messaging service replaces From",
        OutboundSMS("msg_4", "+15005550006", "+14155550100", "Hi"),
        {
            "To": ["+14155550100"],
            "MessagingServiceSid": ["MG0123456789abcdef0123456789abcdef"],
            "Body": ["Hi"],
            "StatusCallback": [STATUS_URL],
        },
        {"messaging_service_sid": "MG0123456789abcdef0123456789abcdef"},
    ),
    SubmitCase(
        "no public url, no StatusCallback",
        OutboundSMS("msg_5", "+15005550006", "+14155550100", "Hi"),
        {"To": ["+14155550100"], "From": ["+15005550006"], "Body": ["Hi"]},
        {"public_url": ""},
    ),
]


@pytest.mark.parametrize("case", SUBMIT_CASES, ids=lambda case: case.name)
async def test_submit_posts_the_documented_request(
    case: SubmitCase, make_twilio: Any, twilio_api: FakeTwilio
) -> None:
    twilio = await make_twilio(**case.config)

    result = await twilio.submit(case.sms)

    request = twilio_api.last
    assert (request.method, request.path) == ("POST", MESSAGES_PATH)
    assert request.basic_auth == (TWILIO_SID, TWILIO_TOKEN)
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert request.form == case.sent
    assert result.carrier_message_id.startswith("SM") and len(result.carrier_message_id) == 34
    assert result.part_ids == ()


@dataclass
class RefusalCase:
    name: str
    status: int
    body: Any
    code: str  # in Recado's words; Twilio's own code stays in the message
    message: str
    temporary: bool
    throttled: bool = False


def twilio_error(status: int, code: int, message: str) -> dict[str, Any]:
    """An error body as Twilio's REST API sends it."""
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


REFUSAL_CASES = [
    RefusalCase(
        "invalid number is permanent: invalid_recipient, Twilio's code in the message",
        400,
        twilio_error(400, 21211, "The 'To' number +1555 is not a valid phone number."),
        "invalid_recipient",
        "Twilio 21211: The 'To' number +1555 is not a valid phone number.",
        temporary=False,
    ),
    RefusalCase(
        "a landline is an invalid recipient",
        400,
        twilio_error(400, 21614, "'To' number is not a valid mobile number"),
        "invalid_recipient",
        "Twilio 21614: 'To' number is not a valid mobile number",
        temporary=False,
    ),
    RefusalCase(
        "a From that is not the account's is an invalid sender",
        400,
        twilio_error(400, 21606, "The From phone number is not a valid, SMS-capable number."),
        "invalid_sender",
        "Twilio 21606: The From phone number is not a valid, SMS-capable number.",
        temporary=False,
    ),
    RefusalCase(
        "a recipient who replied STOP to Twilio is rejected",
        400,
        twilio_error(400, 21610, "Attempt to send to unsubscribed recipient"),
        "rejected",
        "Twilio 21610: Attempt to send to unsubscribed recipient",
        temporary=False,
    ),
    RefusalCase(
        "a body over 1600 characters is too long",
        400,
        twilio_error(400, 21617, "The concatenated message body exceeds the 1600 character limit"),
        "invalid_message_length",
        "Twilio 21617: The concatenated message body exceeds the 1600 character limit",
        temporary=False,
    ),
    RefusalCase(
        "a code Recado does not know is a carrier_error that keeps it",
        400,
        twilio_error(400, 21408, "Permission to send an SMS has not been enabled"),
        "carrier_error",
        "Twilio 21408: Permission to send an SMS has not been enabled",
        temporary=False,
    ),
    RefusalCase(
        "too many requests throttles",
        429,
        twilio_error(429, 20429, "Too Many Requests"),
        "throttled",
        "Twilio 20429: Too Many Requests",
        temporary=True,
        throttled=True,
    ),
    RefusalCase(
        "server error is temporary",
        500,
        twilio_error(500, 20500, "Internal Server Error"),
        "carrier_error",
        "Twilio 20500: Internal Server Error",
        temporary=True,
    ),
    RefusalCase(
        "a proxy's html error page is temporary",
        503,
        "<html><body>Service Unavailable</body></html>",
        "carrier_error",
        "Twilio HTTP 503: <html><body>Service Unavailable</body></html>",
        temporary=True,
    ),
]


@pytest.mark.parametrize("case", REFUSAL_CASES, ids=lambda case: case.name)
async def test_refusals_map_to_submit_errors(
    case: RefusalCase, make_twilio: Any, twilio_api: FakeTwilio
) -> None:
    twilio = await make_twilio()
    twilio_api.answer_next(case.status, case.body)

    with pytest.raises(SubmitError) as refused:
        await twilio.submit(OutboundSMS("msg_1", "+15005550006", "+1555", "Hi"))

    assert (refused.value.code, refused.value.message) == (case.code, case.message)
    assert (refused.value.temporary, refused.value.throttled) == (case.temporary, case.throttled)
    assert not refused.value.outcome_unknown


@dataclass
class UnreadableCase:
    name: str
    status: int
    body: Any  # a JSON value, or text


UNREADABLE_CASES = [
    UnreadableCase("201 with an html page", 201, "<html>Created</html>"),
    UnreadableCase("201 with JSON but no sid", 201, {"status": "queued"}),
    UnreadableCase("200 with an empty sid", 200, {"sid": ""}),
    UnreadableCase("201 with a JSON list", 201, ["SM123"]),
]


@pytest.mark.parametrize("case", UNREADABLE_CASES, ids=lambda case: case.name)
async def test_a_2xx_without_a_readable_sid_is_an_unknown_outcome_never_resent(
    case: UnreadableCase, make_twilio: Any, twilio_api: FakeTwilio
) -> None:
    twilio = await make_twilio()
    twilio_api.answer_next(case.status, case.body)

    with pytest.raises(SubmitError) as refused:
        await twilio.submit(OutboundSMS("msg_1", "+15005550006", "+14155550100", "Hi"))

    assert refused.value.code == "unreadable_answer"
    assert refused.value.outcome_unknown
    assert not refused.value.temporary  # Twilio may have it: never retried blindly
    assert f"Twilio answered {case.status}" in refused.value.message


async def test_wrong_credentials_are_a_permanent_error(make_twilio: Any) -> None:
    twilio = await make_twilio(auth_token="not-the-token")

    with pytest.raises(SubmitError) as refused:
        await twilio.submit(OutboundSMS("msg_1", "+15005550006", "+14155550100", "Hi"))

    assert (refused.value.code, refused.value.temporary) == ("unauthorized", False)
    assert refused.value.message == "Twilio 20003: Authenticate"


async def test_unreachable_twilio_is_temporary(make_twilio: Any, closed_port_url: str) -> None:
    twilio = await make_twilio(base_url=closed_port_url)

    with pytest.raises(SubmitError) as refused:
        await twilio.submit(OutboundSMS("msg_1", "+15005550006", "+14155550100", "Hi"))

    assert (refused.value.code, refused.value.temporary) == ("connection_error", True)


async def test_slow_answer_is_a_temporary_timeout(make_twilio: Any, twilio_api: FakeTwilio) -> None:
    twilio = await make_twilio(timeout_seconds=0.2)
    twilio_api.answer_next(201, {"sid": "SMlate"}, delay=1.0)

    with pytest.raises(SubmitError) as refused:
        await twilio.submit(OutboundSMS("msg_1", "+15005550006", "+14155550100", "Hi"))

    assert (refused.value.code, refused.value.temporary) == ("timeout", True)


async def test_a_stopped_connector_refuses_temporarily() -> None:
    twilio = TwilioConnector("twilio-us", {"account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN})

    with pytest.raises(SubmitError) as refused:
        await twilio.submit(OutboundSMS("msg_1", "+15005550006", "+14155550100", "Hi"))

    assert (refused.value.code, refused.value.temporary) == ("not_connected", True)
    assert not twilio.connected


def test_missing_credentials_are_named() -> None:
    with pytest.raises(ValueError, match="account_sid, auth_token"):
        TwilioConnector("twilio-us", {})


# --- status callbacks ------------------------------------------------------------------------


@dataclass
class StatusCase:
    status: str
    error_code: str | None
    report: DeliveryReport | None  # None: acknowledged, nothing reported


def report(status: str, code: str | None = None, message: str | None = None) -> DeliveryReport:
    return DeliveryReport("twilio-us", "SM1234", status, code, message)


STATUS_CASES = [
    StatusCase("accepted", None, None),
    StatusCase("queued", None, None),
    StatusCase("sending", None, None),
    StatusCase("sent", None, None),
    StatusCase("delivered", None, report("delivered")),
    StatusCase("read", None, report("delivered")),
    StatusCase(
        "undelivered",
        "30003",
        report("undelivered", "absent_subscriber", "Twilio 30003: unreachable destination handset"),
    ),
    StatusCase(
        "undelivered",
        "30005",
        report("undelivered", "unknown_subscriber", "Twilio 30005: unknown destination handset"),
    ),
    StatusCase(
        "undelivered",
        "30006",
        report("undelivered", "not_provisioned", "Twilio 30006: landline or unreachable carrier"),
    ),
    StatusCase(
        "undelivered",
        "30007",
        report("undelivered", "rejected", "Twilio 30007: message filtered by the carrier"),
    ),
    StatusCase("failed", "30008", report("failed", "carrier_error", "Twilio 30008: unknown error")),
    StatusCase("failed", "12345", report("failed", "carrier_error", "Twilio error 12345")),
    StatusCase("canceled", None, report("failed")),
]


@pytest.mark.parametrize(
    "case", STATUS_CASES, ids=lambda case: f"{case.status}-{case.error_code or 'ok'}"
)
async def test_status_callbacks_map_to_reports(
    case: StatusCase, make_twilio: Any, events: RecordingEvents
) -> None:
    twilio = await make_twilio()
    params = {
        "AccountSid": TWILIO_SID,
        "MessageSid": "SM1234",
        "SmsSid": "SM1234",
        "MessageStatus": case.status,
        "SmsStatus": case.status,
        "From": "+15005550006",
        "To": "+14155550100",
        "ApiVersion": "2010-04-01",
    }
    if case.error_code:
        params["ErrorCode"] = case.error_code

    answer = await twilio.handle_webhook(
        "status", form_webhook(STATUS_URL, params, signed(STATUS_URL, params))
    )

    assert answer.status == 200
    assert events.reports == ([case.report] if case.report else [])


# --- inbound ---------------------------------------------------------------------------------


@dataclass
class InboundCase:
    name: str
    params: dict[str, str]
    sms: InboundSMS


INBOUND_CASES = [
    InboundCase(
        "plain text",
        {
            "MessageSid": "SMin1",
            "SmsSid": "SMin1",
            "AccountSid": TWILIO_SID,
            "From": "+14155550100",
            "To": "+15005550006",
            "Body": "STOP",
            "NumMedia": "0",
            "NumSegments": "1",
        },
        InboundSMS("twilio-us", "+14155550100", "+15005550006", "STOP", "SMin1"),
    ),
    InboundCase(
        "picture message",
        {
            "MessageSid": "MMin2",
            "AccountSid": TWILIO_SID,
            "From": "+14155550100",
            "To": "+15005550006",
            "Body": "Olá 👋",
            "NumMedia": "2",
            "MediaUrl0": "https://api.twilio.com/media/ME1",
            "MediaContentType0": "image/jpeg",
            "MediaUrl1": "https://api.twilio.com/media/ME2",
            "MediaContentType1": "image/png",
        },
        InboundSMS(
            "twilio-us",
            "+14155550100",
            "+15005550006",
            "Olá 👋",
            "MMin2",
            ("https://api.twilio.com/media/ME1", "https://api.twilio.com/media/ME2"),
        ),
    ),
]


@pytest.mark.parametrize("case", INBOUND_CASES, ids=lambda case: case.name)
async def test_inbound_texts_are_read_and_answered_with_empty_twiml(
    case: InboundCase, make_twilio: Any, events: RecordingEvents
) -> None:
    twilio = await make_twilio()

    answer = await twilio.handle_webhook(
        "inbound", form_webhook(INBOUND_URL, case.params, signed(INBOUND_URL, case.params))
    )

    assert (answer.status, answer.body, answer.content_type) == (200, EMPTY_TWIML, "text/xml")
    assert events.inbound_texts == [case.sms]


# --- signatures ------------------------------------------------------------------------------

INBOUND_PARAMS = INBOUND_CASES[0].params


@dataclass
class SignatureCase:
    name: str
    headers: dict[str, str]
    params: dict[str, str] = field(default_factory=lambda: dict(INBOUND_PARAMS))


SIGNATURE_CASES = [
    SignatureCase("no signature header", {}),
    SignatureCase("signed with another token", signed(INBOUND_URL, INBOUND_PARAMS, "other-token")),
    SignatureCase(
        "a parameter changed after signing",
        signed(INBOUND_URL, INBOUND_PARAMS),
        INBOUND_PARAMS | {"Body": "START"},
    ),
    SignatureCase(
        "signed for another connection's URL",
        signed(webhook_url("twilio-br", "inbound"), INBOUND_PARAMS),
    ),
    SignatureCase("garbage", {"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"}),
]


@pytest.mark.parametrize("case", SIGNATURE_CASES, ids=lambda case: case.name)
async def test_unsigned_or_forged_webhooks_are_refused_and_not_recorded(
    case: SignatureCase, make_twilio: Any, events: RecordingEvents
) -> None:
    twilio = await make_twilio()

    answer = await twilio.handle_webhook(
        "inbound", form_webhook(INBOUND_URL, case.params, case.headers)
    )

    assert answer.status == 403
    assert events.nothing


async def test_a_signed_get_webhook_is_accepted(make_twilio: Any, events: RecordingEvents) -> None:
    twilio = await make_twilio()
    url = webhook_url("twilio-us", "status", {"MessageSid": "SM1234", "MessageStatus": "delivered"})

    answer = await twilio.handle_webhook("status", get_webhook(url, signed(url, {})))

    assert answer.status == 200
    assert events.reports == [report("delivered")]


async def test_unknown_webhook_kind_is_not_found(make_twilio: Any) -> None:
    twilio = await make_twilio()

    answer = await twilio.handle_webhook(
        "voice", form_webhook(INBOUND_URL, INBOUND_PARAMS, signed(INBOUND_URL, INBOUND_PARAMS))
    )

    assert answer.status == 404


# --- through Recado's webhook route ----------------------------------------------------------


async def test_inbound_through_the_webhook_route(make_twilio: Any, events: RecordingEvents) -> None:
    twilio = await make_twilio()
    app = recado_webhook_app(twilio)
    params = INBOUND_PARAMS | {"Body": "Quero sair"}
    transport = httpx.ASGITransport(app=app)

    async with httpx.AsyncClient(transport=transport, base_url="http://10.0.0.5:8000") as client:
        accepted = await client.post(
            "/carriers/twilio-us/inbound", data=params, headers=signed(INBOUND_URL, params)
        )
        forged = await client.post(
            "/carriers/twilio-us/inbound",
            data=params | {"Body": "x"},
            headers=signed(INBOUND_URL, params),
        )

    assert accepted.status_code == 200
    assert accepted.headers["content-type"].startswith("text/xml")
    assert accepted.content == EMPTY_TWIML
    assert forged.status_code == 403
    assert events.inbound_texts == [
        InboundSMS("twilio-us", "+14155550100", "+15005550006", "Quero sair", "SMin1")
    ]
    assert PUBLIC_URL in INBOUND_URL  # the signature covers the public URL, not the local one
