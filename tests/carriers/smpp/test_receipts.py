"""Delivery receipts and SMPP statuses, read without a network: one table per rule."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from recado.carriers.smpp.errors import outcome_of, refusal_for
from recado.carriers.smpp.receipts import (
    MalformedReceipt,
    normalize_message_id,
    parse_receipt_date,
    parse_receipt_fields,
    read_receipt,
)

STANDARD = (
    b"id:1A2B3C01 sub:001 dlvrd:001 submit date:2403151230 done date:240315123145 "
    b"stat:DELIVRD err:000 text:Hello there"
)


def test_a_standard_receipt_reads_field_by_field() -> None:
    receipt = read_receipt(STANDARD)

    assert receipt.message_id == "1A2B3C01"
    assert not receipt.id_from_tlv
    assert receipt.stat == "DELIVRD"
    assert receipt.err == "000"
    assert receipt.submitted_at == datetime(2024, 3, 15, 12, 30, tzinfo=UTC)
    assert receipt.done_at == datetime(2024, 3, 15, 12, 31, 45, tzinfo=UTC)
    assert receipt.text == "Hello there"


def test_the_standard_layout_reads_the_same_on_its_fast_path() -> None:
    standard = STANDARD.decode()
    spaced = standard.replace(" sub:", "  sub:")  # one extra space: the general path

    assert parse_receipt_fields(standard) == parse_receipt_fields(spaced)


@pytest.mark.parametrize(
    ("raw", "id_format", "normalized"),
    [
        ("1F4", "hex", "500"),
        ("1f4", "hex", "500"),
        ("000001F4", "hex", "500"),
        ("500", "decimal", "500"),
        ("0000500", "decimal", "500"),
        (" 500\x00", "decimal", "500"),
        ("abc-DEF-1", "text", "abc-DEF-1"),
        (" 0042 \x00", "text", "0042"),
        ("not-hex", "hex", "not-hex"),  # kept rather than lost
        ("", "hex", ""),
    ],
)
def test_message_ids_normalize_to_one_spelling(raw: str, id_format: str, normalized: str) -> None:
    assert normalize_message_id(raw, id_format) == normalized  # type: ignore[arg-type]


def test_a_hex_submit_id_and_a_decimal_receipt_id_meet() -> None:
    from_submit = normalize_message_id("1a2b3c01", "hex")
    from_receipt = normalize_message_id(
        read_receipt(b"id:439041025 stat:DELIVRD").message_id, "decimal"
    )

    assert from_submit == from_receipt == "439041025"


@pytest.mark.parametrize(
    ("text", "message_id", "stat", "err", "body"),
    [
        (b"id:7 stat:UNDELIV err:027", "7", "UNDELIV", "027", ""),
        # Case and underscores vary between SMSCs.
        (
            b"ID:7 Sub:001 Dlvrd:000 Submit_date:2403151230 Stat:expired Err:0 Text:x",
            "7",
            "EXPIRED",
            "0",
            "x",
        ),
        # The text runs to the end and may look like fields itself.
        (
            b"id:7 stat:DELIVRD err:000 text:stat:UNDELIV id:9 ok",
            "7",
            "DELIVRD",
            "000",
            "stat:UNDELIV id:9 ok",
        ),
        # Long spellings of the states.
        (b"id:7 stat:DELIVERED", "7", "DELIVRD", None, ""),
        (b"id:7 stat:REJECTED err:", "7", "REJECTD", None, ""),
    ],
)
def test_receipt_texts_in_their_variants(
    text: bytes, message_id: str, stat: str, err: str | None, body: str
) -> None:
    receipt = read_receipt(text)

    assert (receipt.message_id, receipt.stat, receipt.err, receipt.text) == (
        message_id,
        stat,
        err,
        body,
    )


def test_receipt_parameters_win_over_the_text() -> None:
    tlvs = {0x001E: b"1a2b\x00", 0x0427: bytes([5]), 0x0423: bytes([3, 0, 27])}

    receipt = read_receipt(b"id:6699 stat:DELIVRD", tlvs)

    assert receipt.message_id == "1a2b"
    assert receipt.id_from_tlv
    assert receipt.stat == "UNDELIV"
    assert receipt.err == "27"  # the text names no err: network_error_code's
    assert read_receipt(b"id:1 stat:UNDELIV err:001", tlvs).err == "001"


@pytest.mark.parametrize(
    "text",
    [
        b"",
        b"hello, this is not a receipt",
        b"id:123 sub:001",
        b"stat:DELIVRD err:000",
        b"id: stat:",
    ],
)
def test_a_receipt_without_id_or_state_is_malformed(text: bytes) -> None:
    with pytest.raises(MalformedReceipt):
        read_receipt(text)


@pytest.mark.parametrize(
    ("stat", "err", "status", "code"),
    [
        ("DELIVRD", "000", "delivered", None),
        ("DELIVRD", "027", "delivered", None),  # delivered is delivered, whatever err says
        ("UNDELIV", "000", "undelivered", "undeliverable"),
        ("UNDELIV", "027", "undelivered", "absent_subscriber"),
        ("UNDELIV", "001", "undelivered", "unknown_subscriber"),
        ("UNDELIV", "999", "undelivered", "undeliverable"),
        ("EXPIRED", "000", "undelivered", "expired"),
        ("UNKNOWN", "000", "undelivered", "unknown"),
        ("REJECTD", "000", "failed", "rejected"),
        ("REJECTD", "013", "failed", "call_barred"),
        ("DELETED", "000", "failed", "deleted"),
        ("ENROUTE", "000", None, None),
        ("ACCEPTD", "000", None, None),
        ("GARBLED", "000", "undelivered", "unknown"),
    ],
)
def test_receipt_states_map_to_report_statuses(
    stat: str, err: str, status: str | None, code: str | None
) -> None:
    outcome = outcome_of(stat, err)

    assert (outcome.status, outcome.code) == (status, code)
    if code:
        assert outcome.reason


@pytest.mark.parametrize(
    ("status", "code", "temporary", "throttled"),
    [
        (0x58, "throttled", True, True),  # ESME_RTHROTTLED
        (0x14, "queue_full", True, True),  # ESME_RMSGQFUL
        (0x08, "carrier_error", True, False),  # ESME_RSYSERR
        (0xFF, "carrier_error", True, False),  # ESME_RUNKNOWNERR
        (0x0B, "invalid_recipient", False, False),  # ESME_RINVDSTADR
        (0x0A, "invalid_sender", False, False),  # ESME_RINVSRCADR
        (0x01, "invalid_message_length", False, False),
        (0x0401, "rejected", False, False),  # a vendor's status nobody declared
    ],
)
def test_submit_statuses_map_to_refusals(
    status: int, code: str, temporary: bool, throttled: bool
) -> None:
    refusal = refusal_for(status)

    assert (refusal.code, refusal.temporary, refusal.throttled) == (code, temporary, throttled)


def test_a_connection_can_declare_vendor_statuses_throttled_or_temporary() -> None:
    assert refusal_for(0x0401, throttled={0x0401}).throttled
    assert refusal_for(0x0402, temporary={0x0402}).temporary
    assert not refusal_for(0x0402, temporary={0x0402}).throttled
    assert refusal_for(0x0B, temporary={0x0B}).code == "invalid_recipient"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2403151230", datetime(2024, 3, 15, 12, 30, tzinfo=UTC)),
        ("240315123059", datetime(2024, 3, 15, 12, 30, 59, tzinfo=UTC)),
        ("2413151230", None),  # month 13
        ("24031512", None),
        ("", None),
    ],
)
def test_receipt_dates(value: str, expected: datetime | None) -> None:
    assert parse_receipt_date(value) == expected
