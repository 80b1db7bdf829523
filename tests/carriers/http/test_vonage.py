"""Vonage SMS API connector: each case says what Vonage receives or sends, and what Recado
makes of it."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from fake_providers import (
    VONAGE_KEY,
    VONAGE_SECRET,
    VONAGE_SIGNATURE_SECRET,
    FakeVonage,
    RecordingEvents,
    form_webhook,
    get_webhook,
    recado_webhook_app,
    webhook_url,
)

from recado.carriers.base import (
    DeliveryReport,
    InboundSMS,
    OutboundSMS,
    SubmitError,
    WebhookRequest,
)
from recado.carriers.vonage import signing

STATUS_URL = webhook_url("vonage-eu", "status")
INBOUND_URL = webhook_url("vonage-eu", "inbound")


def sign(
    params: dict[str, str], secret: str = VONAGE_SIGNATURE_SECRET, method: str = "md5hash"
) -> dict[str, str]:
    """`params` with a fresh timestamp, a nonce and the `sig` Vonage computes, per Vonage's
    signing documentation: sorted `&name=value` (with & and = in values made _), then MD5 of
    that plus the secret, or an HMAC of it keyed with the secret (hex, upper-case)."""
    params = {"timestamp": str(int(time.time())), "nonce": "a1b2c3d4-e5f6"} | params
    text = "".join(
        "&{}={}".format(name, value.replace("&", "_").replace("=", "_"))
        for name, value in sorted(params.items())
    )
    if method == "md5hash":
        sig = hashlib.md5((text + secret).encode()).hexdigest()
    else:
        sig = hmac.new(secret.encode(), text.encode(), method).hexdigest().upper()
    return params | {"sig": sig}


def dlr(status: str, err_code: str = "0", message_id: str = "0A0000001234567B") -> dict[str, str]:
    return {
        "msisdn": "447700900000",
        "to": "AcmeInc",
        "network-code": "23410",
        "messageId": message_id,
        "price": "0.03330000",
        "status": status,
        "scts": "2001011400",
        "err-code": err_code,
        "api-key": VONAGE_KEY,
        "client-ref": "msg_1",
        "message-timestamp": "2020-01-01 12:00:00",
    }


def inbound(text: str, message_id: str = "0B00000053FFB40F", **extra: str) -> dict[str, str]:
    return {
        "api-key": VONAGE_KEY,
        "msisdn": "447700900001",
        "to": "447700900000",
        "messageId": message_id,
        "text": text,
        "type": "text",
        "keyword": text.split(" ")[0].upper(),
        "message-timestamp": "2020-01-01 12:00:00",
    } | extra


# --- submit ----------------------------------------------------------------------------------


@dataclass
class SubmitCase:
    name: str
    sms: OutboundSMS
    sent: dict[str, str]  # the form fields Vonage receives (besides credentials)
    parts: int = 1


SUBMIT_CASES = [
    SubmitCase(
        "gsm text, numbers without +",
        OutboundSMS("msg_1", "+447700900001", "+447700900000", "Your code is 1234"),
        {"from": "447700900001", "to": "447700900000", "text": "Your code is 1234", "type": "text"},
    ),
    SubmitCase(
        "an alphanumeric sender stays as it is",
        OutboundSMS("msg_2", "AcmeInc", "+447700900000", "Sale today"),
        {"from": "AcmeInc", "to": "447700900000", "text": "Sale today", "type": "text"},
    ),
    SubmitCase(
        "text outside GSM-7 goes as unicode",
        OutboundSMS("msg_3", "AcmeInc", "+5511999990000", "Olá, ação confirmada 👍"),
        {
            "from": "AcmeInc",
            "to": "5511999990000",
            "text": "Olá, ação confirmada 👍",
            "type": "unicode",
        },
    ),
    SubmitCase(
        "lowercase ç goes as unicode (GSM 0x09 is capital Ç)",
        OutboundSMS("msg_4", "AcmeInc", "+5511999990000", "Promoção"),
        {"from": "AcmeInc", "to": "5511999990000", "text": "Promoção", "type": "unicode"},
    ),
    SubmitCase(
        "a long text answers one message-id per part",
        OutboundSMS("msg_5", "AcmeInc", "+447700900000", "x" * 320),
        {"from": "AcmeInc", "to": "447700900000", "text": "x" * 320, "type": "text"},
        parts=3,
    ),
]


@pytest.mark.parametrize("case", SUBMIT_CASES, ids=lambda case: case.name)
async def test_submit_posts_the_documented_request(
    case: SubmitCase, make_vonage: Any, vonage_api: FakeVonage
) -> None:
    vonage = await make_vonage()

    result = await vonage.submit(case.sms)

    request = vonage_api.last
    assert (request.method, request.path) == ("POST", "/sms/json")
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert request.form == {
        "api_key": [VONAGE_KEY],
        "api_secret": [VONAGE_SECRET],
        "client-ref": [case.sms.message_id],
        "status-report-req": ["true"],
        "callback": [STATUS_URL],
    } | {name: [value] for name, value in case.sent.items()}
    assert len(result.part_ids) == case.parts
    assert result.carrier_message_id == result.part_ids[0]
    assert len(set(result.part_ids)) == case.parts


async def test_a_callback_url_over_100_characters_is_left_to_the_dashboard(
    make_vonage: Any, vonage_api: FakeVonage
) -> None:
    vonage = await make_vonage(public_url="https://recado.example.org/" + "x" * 80)

    await vonage.submit(OutboundSMS("msg_1", "AcmeInc", "+447700900000", "Hi"))

    assert "callback" not in vonage_api.last.form


def vonage_error(status: str, text: str) -> dict[str, Any]:
    return {"message-count": "1", "messages": [{"status": status, "error-text": text}]}


@dataclass
class RefusalCase:
    name: str
    http_status: int
    body: Any
    code: str  # in Recado's words; Vonage's own status stays in the message
    message: str
    temporary: bool
    throttled: bool = False


REFUSAL_CASES = [
    RefusalCase(
        "status 1 throttles",
        200,
        vonage_error("1", "Throughput Rate Exceeded"),
        "throttled",
        "Vonage 1: Throughput Rate Exceeded",
        True,
        True,
    ),
    RefusalCase(
        "status 3 invalid parameters is permanent",
        200,
        vonage_error("3", "Invalid to param"),
        "invalid_parameter",
        "Vonage 3: Invalid to param",
        False,
    ),
    RefusalCase(
        "status 5 internal error is temporary",
        200,
        vonage_error("5", "Internal Error"),
        "carrier_error",
        "Vonage 5: Internal Error",
        True,
    ),
    RefusalCase(
        "status 9 out of credit is temporary",
        200,
        vonage_error("9", "Quota Exceeded"),
        "carrier_error",
        "Vonage 9: Quota Exceeded",
        True,
    ),
    RefusalCase(
        "status 12 is a message too long",
        200,
        vonage_error("12", "Message too long"),
        "invalid_message_length",
        "Vonage 12: Message too long",
        False,
    ),
    RefusalCase(
        "status 15 invalid sender is permanent",
        200,
        vonage_error("15", "Illegal Sender Address"),
        "invalid_sender",
        "Vonage 15: Illegal Sender Address",
        False,
    ),
    RefusalCase(
        "a status without error-text is described",
        200,
        {"message-count": "1", "messages": [{"status": "7"}]},
        "carrier_error",
        "Vonage 7: number barred",
        False,
    ),
    RefusalCase(
        "http 429 throttles",
        429,
        {"title": "Too Many Requests", "detail": "slow down"},
        "throttled",
        "Vonage HTTP 429: Too Many Requests: slow down",
        True,
        True,
    ),
    RefusalCase(
        "http 500 is temporary",
        500,
        "<html>Internal Server Error</html>",
        "carrier_error",
        "Vonage HTTP 500: <html>Internal Server Error</html>",
        True,
    ),
    RefusalCase(
        "http 401 is permanent",
        401,
        {"title": "Unauthorized", "detail": "bad key"},
        "unauthorized",
        "Vonage HTTP 401: Unauthorized: bad key",
        False,
    ),
    RefusalCase(
        "some parts accepted is permanent (a retry would send them twice)",
        200,
        {
            "message-count": "2",
            "messages": [
                {"to": "447700900000", "message-id": "0A01", "status": "0"},
                {"status": "5", "error-text": "Internal Error"},
            ],
        },
        "carrier_error",
        "Vonage 5: Internal Error (1 of 2 parts were accepted)",
        False,
    ),
]


@pytest.mark.parametrize("case", REFUSAL_CASES, ids=lambda case: case.name)
async def test_refusals_map_to_submit_errors(
    case: RefusalCase, make_vonage: Any, vonage_api: FakeVonage
) -> None:
    vonage = await make_vonage()
    vonage_api.answer_next(case.http_status, case.body)

    with pytest.raises(SubmitError) as refused:
        await vonage.submit(OutboundSMS("msg_1", "AcmeInc", "+447700900000", "Hi"))

    assert (refused.value.code, refused.value.message) == (case.code, case.message)
    assert (refused.value.temporary, refused.value.throttled) == (case.temporary, case.throttled)
    assert not refused.value.outcome_unknown


@dataclass
class UnreadableCase:
    name: str
    status: int
    body: Any  # a JSON value, or text


UNREADABLE_CASES = [
    UnreadableCase("200 with an html page", 200, "<html>OK</html>"),
    UnreadableCase("200 with JSON but no messages", 200, {"message-count": "1"}),
    UnreadableCase(
        "200 with an accepted part without its message-id",
        200,
        {"message-count": "1", "messages": [{"to": "447700900000", "status": "0"}]},
    ),
]


@pytest.mark.parametrize("case", UNREADABLE_CASES, ids=lambda case: case.name)
async def test_a_2xx_without_readable_message_ids_is_an_unknown_outcome_never_resent(
    case: UnreadableCase, make_vonage: Any, vonage_api: FakeVonage
) -> None:
    vonage = await make_vonage()
    vonage_api.answer_next(case.status, case.body)

    with pytest.raises(SubmitError) as refused:
        await vonage.submit(OutboundSMS("msg_1", "AcmeInc", "+447700900000", "Hi"))

    assert refused.value.code == "unreadable_answer"
    assert refused.value.outcome_unknown
    assert not refused.value.temporary  # Vonage may have it: never retried blindly
    assert f"Vonage answered {case.status}" in refused.value.message


async def test_wrong_secret_is_refused_with_vonage_status_4(make_vonage: Any) -> None:
    vonage = await make_vonage(api_secret="wrong")

    with pytest.raises(SubmitError) as refused:
        await vonage.submit(OutboundSMS("msg_1", "AcmeInc", "+447700900000", "Hi"))

    assert (refused.value.code, refused.value.message, refused.value.temporary) == (
        "unauthorized",
        "Vonage 4: Bad Credentials",
        False,
    )


async def test_unreachable_vonage_is_temporary(make_vonage: Any, closed_port_url: str) -> None:
    vonage = await make_vonage(base_url=f"{closed_port_url}/sms/json")

    with pytest.raises(SubmitError) as refused:
        await vonage.submit(OutboundSMS("msg_1", "AcmeInc", "+447700900000", "Hi"))

    assert (refused.value.code, refused.value.temporary) == ("connection_error", True)


async def test_slow_answer_is_a_temporary_timeout(make_vonage: Any, vonage_api: FakeVonage) -> None:
    vonage = await make_vonage(timeout_seconds=0.2)
    vonage_api.answer_next(200, vonage_error("0", ""), delay=1.0)

    with pytest.raises(SubmitError) as refused:
        await vonage.submit(OutboundSMS("msg_1", "AcmeInc", "+447700900000", "Hi"))

    assert (refused.value.code, refused.value.temporary) == ("timeout", True)


# --- delivery receipts -----------------------------------------------------------------------


def report(status: str, code: str | None = None, message: str | None = None) -> DeliveryReport:
    return DeliveryReport("vonage-eu", "0A0000001234567B", status, code, message)


DLR_CASES = [
    ("accepted", "0", None),
    ("buffered", "0", None),
    ("delivered", "0", report("delivered")),
    ("expired", "1", report("undelivered", "carrier_error", "Vonage 1: unknown")),
    (
        "failed",
        "2",
        report("undelivered", "absent_subscriber", "Vonage 2: absent subscriber (temporary)"),
    ),
    ("failed", "4", report("undelivered", "call_barred", "Vonage 4: call barred by user")),
    ("failed", "6", report("undelivered", "rejected", "Vonage 6: anti-spam rejection")),
    ("failed", "7", report("undelivered", "subscriber_busy", "Vonage 7: handset busy")),
    ("failed", "9", report("undelivered", "unknown_subscriber", "Vonage 9: illegal number")),
    ("unknown", "99", report("undelivered", "carrier_error", "Vonage 99: general error")),
    ("rejected", "11", report("failed", "carrier_error", "Vonage 11: unroutable")),
    ("rejected", "77", report("failed", "carrier_error", "Vonage error 77")),
]


@pytest.mark.parametrize(("status", "err_code", "expected"), DLR_CASES)
async def test_delivery_receipts_map_to_reports(
    status: str,
    err_code: str,
    expected: DeliveryReport | None,
    make_vonage: Any,
    events: RecordingEvents,
) -> None:
    vonage = await make_vonage()

    answer = await vonage.handle_webhook(
        "status", form_webhook(STATUS_URL, sign(dlr(status, err_code)), {})
    )

    assert answer.status == 200
    assert events.reports == ([expected] if expected else [])


def json_webhook(url: str, params: dict[str, str]) -> WebhookRequest:
    return WebhookRequest(
        "POST", url, {"content-type": "application/json"}, json.dumps(params).encode(), {}, {}
    )


@pytest.mark.parametrize(
    "build",
    [
        lambda params: get_webhook(f"{STATUS_URL}?{urlencode(params)}"),
        lambda params: form_webhook(STATUS_URL, params, {}),
        lambda params: json_webhook(STATUS_URL, params),
    ],
    ids=["GET", "POST", "POST-JSON"],
)
async def test_receipts_arrive_by_every_webhook_method(
    build: Any, make_vonage: Any, events: RecordingEvents
) -> None:
    vonage = await make_vonage()

    answer = await vonage.handle_webhook("status", build(sign(dlr("delivered"))))

    assert answer.status == 200
    assert events.reports == [report("delivered")]


# --- inbound ---------------------------------------------------------------------------------


async def test_inbound_text_is_read_with_e164_numbers(
    make_vonage: Any, events: RecordingEvents
) -> None:
    vonage = await make_vonage()

    answer = await vonage.handle_webhook(
        "inbound", form_webhook(INBOUND_URL, sign(inbound("STOP now")), {})
    )

    assert answer.status == 200
    assert events.inbound_texts == [
        InboundSMS("vonage-eu", "+447700900001", "+447700900000", "STOP now", "0B00000053FFB40F")
    ]


def part(number: int, text: str, ref: str = "7") -> dict[str, str]:
    return inbound(
        text,
        message_id=f"0B0{number}",
        concat="true",
        **{"concat-ref": ref, "concat-total": "3", "concat-part": str(number)},
    )


async def test_long_inbound_text_is_joined_from_parts_in_any_order(
    make_vonage: Any, events: RecordingEvents
) -> None:
    vonage = await make_vonage()
    parts = {2: part(2, "second, "), 3: part(3, "third"), 1: part(1, "first, ")}

    for number, params in parts.items():
        answer = await vonage.handle_webhook("inbound", form_webhook(INBOUND_URL, sign(params), {}))
        assert answer.status == 200
        if number != 1:
            assert events.inbound_texts == []

    assert events.inbound_texts == [
        InboundSMS("vonage-eu", "+447700900001", "+447700900000", "first, second, third", "0B01")
    ]


async def test_a_long_text_missing_parts_is_delivered_as_far_as_it_goes(
    make_vonage: Any, events: RecordingEvents
) -> None:
    vonage = await make_vonage(concat_wait_seconds=0.05)

    await vonage.handle_webhook("inbound", form_webhook(INBOUND_URL, sign(part(1, "first, ")), {}))
    await vonage.handle_webhook("inbound", form_webhook(INBOUND_URL, sign(part(3, "third")), {}))
    await asyncio.sleep(0.2)

    assert [sms.body for sms in events.inbound_texts] == ["first, third"]


async def test_stopping_delivers_unfinished_long_texts(
    make_vonage: Any, events: RecordingEvents
) -> None:
    vonage = await make_vonage()
    await vonage.handle_webhook("inbound", form_webhook(INBOUND_URL, sign(part(1, "first")), {}))

    await vonage.stop()

    assert [sms.body for sms in events.inbound_texts] == ["first"]


# --- signatures ------------------------------------------------------------------------------


def test_signing_matches_vonage_published_vector() -> None:
    # The vector in Vonage's own SDK tests: md5hash of a=1, b=2 and a timestamp, secret "secret".
    params = {"a": "1", "b": "2", "timestamp": "1461605396"}
    assert signing.signature(params, "secret") == "6af838ef94998832dbfc29020b564830"
    assert signing.signature_matches(params | {"sig": "6af838ef94998832dbfc29020b564830"}, "secret")


@pytest.mark.parametrize("method", ["md5hash", "md5", "sha1", "sha256", "sha512"])
async def test_each_signature_method_is_verified(
    method: str, make_vonage: Any, events: RecordingEvents
) -> None:
    vonage = await make_vonage(signature_method=method)
    text = "Olá & bem-vindo = sim"

    accepted = await vonage.handle_webhook(
        "inbound", form_webhook(INBOUND_URL, sign(inbound(text), method=method), {})
    )
    forged = await vonage.handle_webhook(
        "inbound", form_webhook(INBOUND_URL, sign(inbound(text), "other-secret", method), {})
    )

    assert (accepted.status, forged.status) == (200, 403)
    assert [sms.body for sms in events.inbound_texts] == [text]


def tampered(params: dict[str, str]) -> dict[str, str]:
    return params | {"text": "START"}


def stale(params: dict[str, str]) -> dict[str, str]:
    return sign(params | {"timestamp": str(int(time.time()) - 3600)})


@dataclass
class ForgedCase:
    name: str
    params: dict[str, str]
    config: dict[str, Any] = field(default_factory=dict)


FORGED_CASES = [
    ForgedCase("no sig", inbound("STOP")),
    ForgedCase("signed with another secret", sign(inbound("STOP"), "other-secret")),
    ForgedCase("text changed after signing", tampered(sign(inbound("STOP")))),
    ForgedCase("signed an hour ago (a replay)", stale(inbound("STOP"))),
    ForgedCase(
        "md5hash sig when sha256 is configured",
        sign(inbound("STOP")),
        {"signature_method": "sha256"},
    ),
    ForgedCase("no signature secret configured", sign(inbound("STOP")), {"signature_secret": ""}),
]


@pytest.mark.parametrize("case", FORGED_CASES, ids=lambda case: case.name)
async def test_unsigned_or_forged_webhooks_are_refused_and_not_recorded(
    case: ForgedCase, make_vonage: Any, events: RecordingEvents
) -> None:
    vonage = await make_vonage(**case.config)

    answer = await vonage.handle_webhook("inbound", form_webhook(INBOUND_URL, case.params, {}))

    assert answer.status == 403
    assert events.nothing


async def test_unsigned_webhooks_pass_only_when_explicitly_allowed(
    make_vonage: Any, events: RecordingEvents
) -> None:
    vonage = await make_vonage(signature_secret="", allow_unsigned_webhooks=True)

    answer = await vonage.handle_webhook("inbound", form_webhook(INBOUND_URL, inbound("HELLO"), {}))

    assert answer.status == 200
    assert [sms.body for sms in events.inbound_texts] == ["HELLO"]


async def test_freshness_check_can_be_turned_off(make_vonage: Any, events: RecordingEvents) -> None:
    vonage = await make_vonage(signature_max_age_seconds=0)

    answer = await vonage.handle_webhook(
        "status", form_webhook(STATUS_URL, stale(dlr("delivered")), {})
    )

    assert answer.status == 200
    assert events.reports == [report("delivered")]


# --- through Recado's webhook route ----------------------------------------------------------


async def test_receipt_through_the_webhook_route(make_vonage: Any, events: RecordingEvents) -> None:
    vonage = await make_vonage()
    transport = httpx.ASGITransport(app=recado_webhook_app(vonage))

    async with httpx.AsyncClient(transport=transport, base_url="http://10.0.0.5:8000") as client:
        accepted = await client.get("/carriers/vonage-eu/status", params=sign(dlr("delivered")))
        forged = await client.get(
            "/carriers/vonage-eu/status", params=tampered(sign(dlr("failed")))
        )
        by_json = await client.post("/carriers/vonage-eu/status", json=sign(dlr("rejected", "11")))

    assert (accepted.status_code, forged.status_code, by_json.status_code) == (200, 403, 200)
    assert events.reports == [
        report("delivered"),
        report("failed", "carrier_error", "Vonage 11: unroutable"),
    ]
