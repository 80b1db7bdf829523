"""The SMPP connector against a real SMSC over loopback: what goes on the wire, what comes
back. Each table row says what the SMSC receives or sends and what Recado sees."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import smpp34

from recado.carriers.base import OutboundSMS, SubmitError
from recado.carriers.smpp.connector import SmppConnector, decode_text, source_address
from recado.carriers.smpp.nodelay import connections_to, nagle_disabled
from recado.carriers.smpp.smsc import LocalSmsc, ReceivedSubmit
from recado.domain.encoding import gsm7_septets, split_parts, ucs2_bytes

ConnectorFactory = Callable[..., Awaitable[SmppConnector]]
WaitUntil = Callable[..., Awaitable[None]]

HANDSET = "+15551234567"
OUR_NUMBER = "+15550001111"


def sms(body: str, *, sender: str | None = "Acme", message_id: str = "msg_1") -> OutboundSMS:
    return OutboundSMS(message_id=message_id, sender=sender, recipient=HANDSET, body=body)


def concatenation(submit: ReceivedSubmit) -> tuple[int, int, int, int, bytes]:
    """(IEI, reference, total, sequence, text octets) of a part, read straight off its UDH."""
    data = submit.short_message
    header, body = data[1 : 1 + data[0]], data[1 + data[0] :]
    if header[0] == 0x08:
        return 0x08, header[2] << 8 | header[3], header[4], header[5], body
    return header[0], header[2], header[3], header[4], body


def unpack(data: bytes, start_bit: int, count: int) -> bytes:
    value = int.from_bytes(data, "little")
    return bytes((value >> (start_bit + 7 * index)) & 0x7F for index in range(count))


# ---- outbound -----------------------------------------------------------------------------


async def test_a_short_gsm_text_goes_out_as_one_unpacked_part(
    connect: ConnectorFactory, smsc: LocalSmsc
) -> None:
    connector = await connect()

    result = await connector.submit(sms("Hello from Recado @ 10:30"))

    [submit] = smsc.submits
    assert submit.short_message == gsm7_septets("Hello from Recado @ 10:30")
    assert (submit.esm_class, submit.data_coding, submit.registered_delivery) == (0, 0, 1)
    assert (submit.source_addr, submit.source_addr_ton, submit.source_addr_npi) == ("Acme", 5, 0)
    assert (submit.destination_addr, submit.dest_addr_ton, submit.dest_addr_npi) == (
        HANDSET[1:],
        1,
        1,
    )
    # The SMSC answered in hex; Recado keeps the id in its one normalized spelling.
    assert result.carrier_message_id == str(int(submit.message_id or "", 16))
    assert result.part_ids == (result.carrier_message_id,)


async def test_a_portuguese_text_goes_out_as_ucs2(
    connect: ConnectorFactory, smsc: LocalSmsc
) -> None:
    connector = await connect()
    text = "Olá João! A promoção de verão começa amanhã."

    await connector.submit(sms(text))

    [submit] = smsc.submits
    assert submit.data_coding == 8
    assert submit.short_message == ucs2_bytes(text)


async def test_escape_characters_cost_two_septets(
    connect: ConnectorFactory, smsc: LocalSmsc
) -> None:
    connector = await connect()

    await connector.submit(sms("Only 5€ [today] {x}"))

    [submit] = smsc.submits
    assert submit.data_coding == 0
    assert b"\x1b\x65" in submit.short_message  # €
    assert b"\x1b\x3c" in submit.short_message and b"\x1b\x3e" in submit.short_message  # [ ]
    assert len(submit.short_message) == len("Only 5€ [today] {x}") + 5


LONG_TEXTS = {
    "three GSM parts": "Recado keeps your customers close. " * 12,
    "an escape at the part boundary": "a" * 152 + "€" + "b" * 200,
    "brackets across boundaries": "[x]" * 120,
    "Portuguese UCS-2": "Olá! A promoção de verão da loja do João começa já. " * 4,
    "an emoji at the part boundary": "ã" * 66 + "😀" + "x" * 80,
    "a flag made of two code points": "ç" * 65 + "🇧🇷" + "y" * 40,
}


@pytest.mark.parametrize("text", LONG_TEXTS.values(), ids=LONG_TEXTS.keys())
async def test_a_long_text_goes_out_as_the_parts_split_parts_makes(
    connect: ConnectorFactory, smsc: LocalSmsc, text: str
) -> None:
    connector = await connect()
    encoding, parts = split_parts(text)

    result = await connector.submit(sms(text))

    assert len(parts) > 1
    assert len(smsc.submits) == len(parts) == len(result.part_ids)
    wire = [concatenation(submit) for submit in smsc.submits]
    assert {iei for iei, *_ in wire} == {0x00}
    assert len({reference for _, reference, *_ in wire}) == 1
    assert [(total, sequence) for _, _, total, sequence, _ in wire] == [
        (len(parts), n) for n in range(1, len(parts) + 1)
    ]
    for submit, part, (*_, body) in zip(smsc.submits, parts, wire, strict=True):
        assert submit.esm_class == 0x40
        if encoding == "GSM-7":
            assert submit.data_coding == 0
            assert body == gsm7_septets(part)
            assert not body.endswith(b"\x1b")  # an escape never loses its character
        else:
            assert submit.data_coding == 8
            assert body == ucs2_bytes(part)
            assert not 0xD800 <= int.from_bytes(body[-2:], "big") <= 0xDBFF  # no lone surrogate
    decoded = [
        decode_text(s.data_coding, body) for s, (*_, body) in zip(smsc.submits, wire, strict=True)
    ]
    assert decoded == parts
    assert "".join(decoded) == text
    assert result.carrier_message_id == result.part_ids[0]
    assert len(set(result.part_ids)) == len(parts)


async def test_sixteen_bit_references_use_iei_08(
    connect: ConnectorFactory, smsc: LocalSmsc
) -> None:
    connector = await connect(udh_reference_bits=16)

    await connector.submit(sms("z" * 200))

    wire = [concatenation(submit) for submit in smsc.submits]
    assert [(iei, total, sequence) for iei, _, total, sequence, _ in wire] == [
        (0x08, 2, 1),
        (0x08, 2, 2),
    ]
    assert smsc.submits[0].short_message[:3] == bytes([6, 0x08, 4])


async def test_each_long_text_to_one_handset_gets_a_new_reference(
    connect: ConnectorFactory, smsc: LocalSmsc
) -> None:
    connector = await connect()

    for n in range(3):
        await connector.submit(sms("w" * 200, message_id=f"msg_{n}"))

    references = [concatenation(submit)[1] for submit in smsc.submits[::2]]
    assert len(set(references)) == 3
    assert references[1] == (references[0] + 1) % 256


async def test_packed_gsm7_puts_septets_end_to_end(
    connect: ConnectorFactory, smsc: LocalSmsc
) -> None:
    connector = await connect(gsm7_packing="packed")
    single = "Hello [packed] world"
    long = "Packed parts start after the header and its fill bit. " * 4

    await connector.submit(sms(single, message_id="single"))
    await connector.submit(sms(long, message_id="long"))

    first, *parts = smsc.submits
    septets = gsm7_septets(single)
    assert len(first.short_message) == (7 * len(septets) + 7) // 8
    assert unpack(first.short_message, 0, len(septets)) == septets
    assert len(parts) == len(split_parts(long)[1])
    for submit, part in zip(parts, split_parts(long)[1], strict=True):
        body = submit.short_message[6:]
        # A 6-octet UDH ends one bit short of a septet boundary: one fill bit comes first.
        assert unpack(body, 1, len(gsm7_septets(part))) == gsm7_septets(part)


async def test_seven_spare_bits_are_padded_with_carriage_return(
    connect: ConnectorFactory, smsc: LocalSmsc
) -> None:
    connector = await connect(gsm7_packing="packed")

    await connector.submit(sms("1234567"))

    [submit] = smsc.submits
    assert len(submit.short_message) == 7
    assert unpack(submit.short_message, 0, 8) == gsm7_septets("1234567") + b"\r"


@pytest.mark.parametrize(
    ("sender", "address"),
    [
        ("+15551234567", ("15551234567", 1, 1)),
        ("+351912345678", ("351912345678", 1, 1)),
        ("15551234567", ("15551234567", 1, 1)),
        ("55555", ("55555", 3, 0)),
        ("12345678", ("12345678", 3, 0)),
        ("Acme", ("Acme", 5, 0)),
        ("Loja 24h", ("Loja 24h", 5, 0)),
        (None, ("", 0, 0)),
    ],
)
def test_the_sender_shape_decides_ton_and_npi(
    sender: str | None, address: tuple[str, int, int]
) -> None:
    assert source_address(sender) == address


async def test_configured_ton_and_npi_win_over_the_shape(
    connect: ConnectorFactory, smsc: LocalSmsc
) -> None:
    connector = await connect(source_ton=2, source_npi=8, registered_delivery=0)

    await connector.submit(sms("hi", sender="55555"))

    [submit] = smsc.submits
    assert (submit.source_addr_ton, submit.source_addr_npi, submit.registered_delivery) == (2, 8, 0)


# ---- refusals -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "temporary", "throttled"),
    [
        (0x58, "throttled", True, True),  # ESME_RTHROTTLED
        (0x14, "queue_full", True, True),  # ESME_RMSGQFUL
        (0x08, "carrier_error", True, False),  # ESME_RSYSERR
        (0x0B, "invalid_recipient", False, False),  # ESME_RINVDSTADR
        (0x0A, "invalid_sender", False, False),  # ESME_RINVSRCADR
    ],
)
async def test_a_refused_submit_raises_the_mapped_error(
    connect: ConnectorFactory,
    smsc: LocalSmsc,
    status: int,
    code: str,
    temporary: bool,
    throttled: bool,
) -> None:
    connector = await connect()
    smsc.reject_destinations[HANDSET[1:]] = status

    with pytest.raises(SubmitError) as refused:
        await connector.submit(sms("hi"))

    error = refused.value
    assert (error.code, error.temporary, error.throttled) == (code, temporary, throttled)
    assert connector.connected


async def test_every_nth_submit_throttled_slows_only_those(
    connect: ConnectorFactory, smsc: LocalSmsc
) -> None:
    connector = await connect()
    smsc.reject_every = 3
    outcomes = []

    for n in range(6):
        try:
            await connector.submit(sms("hi", message_id=f"msg_{n}"))
            outcomes.append("sent")
        except SubmitError as error:
            outcomes.append("throttled" if error.throttled else error.code)

    assert outcomes == ["sent", "sent", "throttled", "sent", "sent", "throttled"]


async def test_a_status_the_connection_declares_throttled_is_throttled(
    connect: ConnectorFactory, smsc: LocalSmsc
) -> None:
    # Some carriers answer ESME_RSUBMITFAIL when a sender goes too fast. (Vendor statuses
    # 0x400+ are covered in test_receipts: the smpp34 server sends them as ESME_RSYSERR.)
    connector = await connect(throttle_statuses=[0x45])
    smsc.reject_destinations[HANDSET[1:]] = 0x45

    with pytest.raises(SubmitError) as refused:
        await connector.submit(sms("hi"))

    assert (refused.value.code, refused.value.throttled) == ("carrier_error", True)


async def test_a_retry_after_a_refused_part_resumes_with_the_same_reference(
    connect: ConnectorFactory, smsc: LocalSmsc
) -> None:
    connector = await connect()
    text = "A long text whose second part is throttled the first time. " * 7
    smsc.reject_every = 2

    with pytest.raises(SubmitError) as refused:
        await connector.submit(sms(text))
    smsc.reject_every = 0
    result = await connector.submit(sms(text))

    assert refused.value.throttled
    wire = [concatenation(submit) for submit in smsc.submits]
    assert [sequence for _, _, _, sequence, _ in wire] == [1, 2, 2, 3]  # part 1 went once
    assert len({reference for _, reference, *_ in wire}) == 1
    accepted = [s for s in smsc.submits if s.message_id]
    assert result.part_ids == tuple(str(int(s.message_id or "", 16)) for s in accepted)


async def test_a_text_of_more_than_255_parts_is_refused_before_anything_is_sent(
    connect: ConnectorFactory, smsc: LocalSmsc
) -> None:
    connector = await connect()

    with pytest.raises(SubmitError) as refused:
        await connector.submit(sms("x" * 153 * 256))

    assert (refused.value.code, refused.value.temporary) == ("too_long", False)
    assert smsc.submits == []


async def test_no_answer_within_the_submit_timeout_is_a_temporary_unknown_outcome(
    connect: ConnectorFactory, smsc: LocalSmsc
) -> None:
    connector = await connect(submit_timeout_seconds=0.1)
    smsc.answer_delay = 1.0

    with pytest.raises(SubmitError) as refused:
        await connector.submit(sms("hi"))

    assert (refused.value.code, refused.value.temporary) == ("no_response", True)
    assert connector.connected


# ---- delivery receipts ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("smsc_ids", "receipt_ids", "tlvs"),
    [
        ("hex", "hex", False),
        ("hex", "decimal", False),
        ("decimal", "hex", False),
        ("decimal", "decimal", False),
        ("hex", "decimal", True),  # receipted_message_id is written like the submit answer
    ],
)
async def test_receipts_match_the_submit_id_whichever_base_they_are_written_in(
    connect: ConnectorFactory,
    smsc: LocalSmsc,
    events: Any,
    smsc_ids: str,
    receipt_ids: str,
    tlvs: bool,
) -> None:
    smsc.id_format, smsc.receipt_id_format, smsc.receipt_tlvs = smsc_ids, receipt_ids, tlvs
    connector = await connect(submit_id_format=smsc_ids, receipt_id_format=receipt_ids)

    result = await connector.submit(sms("hi"))
    [report] = await events.wait_for_reports(1)

    assert report.carrier_message_id == result.carrier_message_id
    assert (report.connector, report.status) == ("smpp-test", "delivered")


@pytest.mark.parametrize(
    ("stat", "err", "status", "code"),
    [
        ("DELIVRD", "000", "delivered", None),
        ("UNDELIV", "027", "undelivered", "absent_subscriber"),
        ("EXPIRED", "000", "undelivered", "expired"),
        ("REJECTD", "000", "failed", "rejected"),
        ("DELETED", "000", "failed", "deleted"),
        ("UNKNOWN", "000", "undelivered", "unknown"),
    ],
)
async def test_receipt_states_become_report_statuses(
    connect: ConnectorFactory,
    smsc: LocalSmsc,
    events: Any,
    stat: str,
    err: str,
    status: str,
    code: str | None,
) -> None:
    smsc.receipt_stat, smsc.receipt_err = stat, err
    connector = await connect()

    result = await connector.submit(sms("hi"))
    [report] = await events.wait_for_reports(1)

    assert (report.carrier_message_id, report.status, report.error_code) == (
        result.carrier_message_id,
        status,
        code,
    )


async def test_each_part_of_a_long_text_gets_its_own_receipt(
    connect: ConnectorFactory, events: Any
) -> None:
    connector = await connect()

    result = await connector.submit(sms("q" * 400))
    reports = await events.wait_for_reports(3)

    assert sorted(r.carrier_message_id for r in reports) == sorted(result.part_ids)


async def test_a_malformed_receipt_is_skipped_and_the_bind_stays_up(
    connect: ConnectorFactory, smsc: LocalSmsc, events: Any, wait_until: WaitUntil
) -> None:
    connector = await connect()

    await smsc.push("15550001111", b"this is no receipt", source="15551234567", esm_class=0x04)
    await smsc.send_receipt("1a2b", "ENROUTE")  # not final: nothing to report yet
    await smsc.send_receipt("1a2b", "DELIVRD")
    [report] = await events.wait_for_reports(1)

    assert (report.carrier_message_id, report.status) == ("6699", "delivered")
    assert connector.connected
    assert events.texts == []


class BusyEvents:
    """Carrier events whose delivery reports wait until the test lets them through, as
    they wait for the database when it is busy."""

    def __init__(self) -> None:
        self.open = asyncio.Event()
        self.reports: list[Any] = []

    async def delivery_report(self, report: Any) -> None:
        await self.open.wait()
        self.reports.append(report)

    async def inbound(self, sms: Any) -> None:
        await self.open.wait()


async def test_a_burst_of_receipts_while_recado_is_busy_is_held_and_the_bind_stays_up(
    smsc: LocalSmsc, wait_until: WaitUntil
) -> None:
    busy = BusyEvents()
    connector = SmppConnector(
        "smpp-busy",
        {"host": smsc.host, "port": smsc.port, "system_id": "recado", "submit_id_format": "hex"},
    )
    await connector.start(busy)
    try:
        # More receipts than Recado handles at once (it stops reading at MAX_EVENT_TASKS):
        # the rest wait in the bind's inbound queue, acknowledged, none refused.
        answers = await asyncio.gather(
            *(smsc.send_receipt(f"{n:x}", "DELIVRD") for n in range(1, 5001))
        )
        assert set(answers) == {0}
        busy.open.set()
        await wait_until(lambda: len(busy.reports) == 5000, 20, "5,000 reports")
        assert {r.carrier_message_id for r in busy.reports} == {str(n) for n in range(1, 5001)}
        assert connector.connected
        await connector.submit(sms("still bound"))
    finally:
        await connector.stop()


class SlowEvents:
    """Carrier events that store one delivery report at a time, slower than texts go out."""

    def __init__(self) -> None:
        self.reports: list[Any] = []
        self._one_at_a_time = asyncio.Lock()

    async def delivery_report(self, report: Any) -> None:
        async with self._one_at_a_time:
            await asyncio.sleep(0.002)
        self.reports.append(report)

    async def inbound(self, sms: Any) -> None:
        pass


async def test_submits_wait_while_reports_pile_up_so_none_is_refused(
    smsc: LocalSmsc, wait_until: WaitUntil
) -> None:
    slow = SlowEvents()
    connector = SmppConnector(
        "smpp-slow",
        {
            "host": smsc.host,
            "port": smsc.port,
            "system_id": "recado",
            "submit_id_format": "hex",
            "inbound_queue": 100,  # a small queue in the core: easy to overflow
        },
    )
    await connector.start(slow)
    try:
        # Every submit gets a receipt at once. Were the submits not held back while the
        # reports wait, the receipts would overflow the core's queue and be refused.
        answers = await asyncio.gather(
            *(connector.submit(sms(f"text {n}", message_id=f"msg_{n}")) for n in range(1000))
        )
        await wait_until(lambda: len(slow.reports) == 1000, 30, "1,000 reports")
        ids = {answer.carrier_message_id for answer in answers}
        assert {r.carrier_message_id for r in slow.reports} == ids
        assert connector.connected
    finally:
        await connector.stop()


async def test_the_bind_sends_each_pdu_without_waiting_for_an_ack(
    connect: ConnectorFactory, smsc: LocalSmsc
) -> None:
    # Nagle's algorithm off: a submit written while the last one is unacknowledged goes out
    # at once instead of waiting up to 40 ms for the SMSC's delayed ACK.
    await connect()

    sockets = connections_to({smsc.host}, smsc.port)

    assert sockets
    assert all(nagle_disabled(fd) for fd in sockets)


# ---- texts from handsets --------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["STOP", "Quero saber mais sobre a promoção 😀", "Price? 10€ [ok]", "Stop {please} \\ ~ ^ |"],
)
async def test_a_text_from_a_handset_reaches_inbound(
    connect: ConnectorFactory, smsc: LocalSmsc, events: Any, text: str
) -> None:
    await connect()

    await smsc.deliver(HANDSET[1:], OUR_NUMBER[1:], text)
    [received] = await events.wait_for_texts(1)

    assert (received.sender, received.recipient, received.body) == (HANDSET, OUR_NUMBER, text)
    assert received.connector == "smpp-test"
    assert received.carrier_message_id


LONG_REPLIES = {
    "GSM parts": ("Sure, tell me more about it. " * 12, {}),
    "UCS-2 parts": ("Sim, quero participar da promoção de verão! " * 4, {}),
    "parts out of order": ("Backwards we go, part by part. " * 12, {"order": [3, 1, 2]}),
    "16-bit references": ("Sixteen bits of reference here. " * 8, {"reference_bits": 16}),
}


@pytest.mark.parametrize(("text", "how"), LONG_REPLIES.values(), ids=LONG_REPLIES.keys())
async def test_a_long_text_from_a_handset_is_reassembled(
    connect: ConnectorFactory, smsc: LocalSmsc, events: Any, text: str, how: dict[str, object]
) -> None:
    await connect()

    parts = await smsc.deliver(HANDSET[1:], OUR_NUMBER[1:], text, **how)
    [received] = await events.wait_for_texts(1)

    assert parts > 1
    assert received.body == text


async def test_packed_parts_from_a_handset_are_reassembled(
    connect: ConnectorFactory, smsc: LocalSmsc, events: Any
) -> None:
    await connect(gsm7_packing="packed")
    text = "Packed reply, all of it; @ signs too @@. " * 6

    await smsc.deliver(HANDSET[1:], OUR_NUMBER[1:], text, packed=True)
    await smsc.deliver(HANDSET[1:], OUR_NUMBER[1:], "1234567", packed=True)  # 7 spare bits
    received = await events.wait_for_texts(2)

    assert [r.body for r in received] == [text, "1234567"]


async def test_two_handsets_reusing_a_reference_do_not_mix(
    connect: ConnectorFactory, smsc: LocalSmsc, events: Any
) -> None:
    await connect()

    await smsc.deliver("15557770001", OUR_NUMBER[1:], "First handset speaking. " * 8, reference=9)
    await smsc.deliver("15557770002", OUR_NUMBER[1:], "Second handset here! " * 9, reference=9)
    received = await events.wait_for_texts(2)

    assert {(r.sender, r.body) for r in received} == {
        ("+15557770001", "First handset speaking. " * 8),
        ("+15557770002", "Second handset here! " * 9),
    }


@pytest.mark.parametrize(
    ("data_coding", "first", "second", "text"),
    [
        # The handset split "😀" between the high and the low surrogate.
        (
            8,
            "Olá ".encode("utf-16-be") + b"\xd8\x3d",
            b"\xde\x00" + " tchau".encode("utf-16-be"),
            "Olá 😀 tchau",
        ),
        # ... or "€" between the escape and its code.
        (0, gsm7_septets("Only 5") + b"\x1b", b"\x65 today", "Only 5€ today"),
    ],
)
async def test_a_pair_split_between_two_parts_is_joined(
    connect: ConnectorFactory,
    smsc: LocalSmsc,
    events: Any,
    data_coding: int,
    first: bytes,
    second: bytes,
    text: str,
) -> None:
    await connect()

    for sequence, piece in ((1, first), (2, second)):
        await smsc.push(
            OUR_NUMBER[1:],
            bytes([5, 0, 3, 77, 2, sequence]) + piece,
            source=HANDSET[1:],
            esm_class=0x40,
            data_coding=data_coding,
        )
    [received] = await events.wait_for_texts(1)

    assert received.body == text


async def test_parts_still_missing_after_the_wait_are_delivered_as_far_as_they_go(
    connect: ConnectorFactory, smsc: LocalSmsc, events: Any
) -> None:
    await connect(inbound_reassembly_seconds=0.2)
    text = "One part of this will never arrive, sadly. " * 8
    _, parts = split_parts(text)

    await smsc.deliver(HANDSET[1:], OUR_NUMBER[1:], text, order=[1, 3])
    [received] = await events.wait_for_texts(1)

    assert received.body == parts[0] + parts[2]


async def test_sar_parameters_also_join_parts(
    connect: ConnectorFactory, smsc: LocalSmsc, events: Any
) -> None:
    await connect()

    for sequence, piece in ((2, "world"), (1, "hello ")):
        await smsc.push(
            OUR_NUMBER[1:],
            gsm7_septets(piece),
            source=HANDSET[1:],
            tlvs=[
                smpp34.Tlv(0x020C, (513).to_bytes(2, "big")),
                smpp34.Tlv(0x020E, bytes([2])),
                smpp34.Tlv(0x020F, bytes([sequence])),
            ],
        )
    [received] = await events.wait_for_texts(1)

    assert received.body == "hello world"


@pytest.mark.parametrize(
    ("data_coding", "payload", "text"),
    [
        (3, "Olá, é já!".encode("latin-1"), "Olá, é já!"),
        (1, b"plain ascii", "plain ascii"),
        (0, "Größe".encode("latin-1"), "Größe"),  # not septets after all: read as Latin-1
    ],
)
async def test_other_data_codings_are_read_as_well_as_they_can_be(
    connect: ConnectorFactory,
    smsc: LocalSmsc,
    events: Any,
    data_coding: int,
    payload: bytes,
    text: str,
) -> None:
    await connect()

    await smsc.push(OUR_NUMBER[1:], payload, source=HANDSET[1:], data_coding=data_coding)
    [received] = await events.wait_for_texts(1)

    assert received.body == text


# ---- the bind -----------------------------------------------------------------------------


async def test_the_smsc_disappears_and_comes_back(
    connect: ConnectorFactory, smsc: LocalSmsc, wait_until: WaitUntil
) -> None:
    connector = await connect(
        reconnect_min_seconds=0.05, reconnect_max_seconds=0.2, connect_timeout_seconds=1
    )
    assert connector.connected

    await smsc.stop()
    await wait_until(lambda: not connector.connected, 5, "the connector to notice")
    with pytest.raises(SubmitError) as refused:
        await connector.submit(sms("hi"))
    await asyncio.sleep(0.5)  # a few refused bind attempts
    await smsc.start()
    await wait_until(lambda: connector.connected, 5, "the connector to bind again")
    result = await connector.submit(sms("hi again"))

    assert (refused.value.code, refused.value.temporary) == ("not_connected", True)
    assert result.carrier_message_id
    assert connector.binds == 2
    assert [s.short_message for s in smsc.submits] == [gsm7_septets("hi again")]


async def test_a_window_of_concurrent_submits_all_complete(
    connect: ConnectorFactory, smsc: LocalSmsc
) -> None:
    connector = await connect(window=10)
    smsc.answer_delay = 0.002

    results = await asyncio.gather(
        *(connector.submit(sms(f"text {n}", message_id=f"msg_{n}")) for n in range(500))
    )

    assert len({r.carrier_message_id for r in results}) == 500
    assert smsc.submit_count == 500
    assert 1 < smsc.max_outstanding <= 10  # never more than the window on the wire


async def test_a_transmitter_and_receiver_pair_sends_and_hears(
    connect: ConnectorFactory, smsc: LocalSmsc, events: Any
) -> None:
    connector = await connect(bind_mode="transmitter_receiver")

    result = await connector.submit(sms("hi"))
    [report] = await events.wait_for_reports(1)
    # smpp34 clients bound as receiver only never answer deliver_sm: do not wait for it.
    await smsc.deliver(HANDSET[1:], OUR_NUMBER[1:], "YES", wait=False)
    [received] = await events.wait_for_texts(1)

    assert smsc.bound_sessions == 2
    assert report.carrier_message_id == result.carrier_message_id
    assert received.body == "YES"


async def test_stop_unbinds_and_later_submits_are_refused_as_not_sent(
    connect: ConnectorFactory, smsc: LocalSmsc, wait_until: WaitUntil
) -> None:
    connector = await connect()
    await smsc.wait_for_binds(1)

    await connector.stop()

    assert not connector.connected
    await wait_until(lambda: smsc.bound_sessions == 0, 5, "the SMSC to see the unbind")
    with pytest.raises(SubmitError) as refused:
        await connector.submit(sms("hi"))
    assert refused.value.code == "not_connected"


async def test_a_connector_that_cannot_bind_starts_anyway_and_refuses_submits() -> None:
    async with LocalSmsc() as smsc:
        port = smsc.port
    connector = SmppConnector("smpp-test", {"host": "127.0.0.1", "port": port, "system_id": "x"})

    await connector.start(events=None)  # type: ignore[arg-type]
    try:
        assert not connector.connected
        with pytest.raises(SubmitError) as refused:
            await connector.submit(sms("hi"))
        assert refused.value.temporary
    finally:
        await connector.stop()


@pytest.mark.parametrize(
    ("config", "complaint"),
    [
        ({}, "host"),
        ({"host": "h", "port": 1, "system_id": "s", "bind_mode": "receiver"}, "bind_mode"),
        ({"host": "h", "port": 1, "system_id": "s", "gsm7_packing": "zip"}, "gsm7_packing"),
        ({"host": "h", "port": 1, "system_id": "s", "submit_id_format": "b64"}, "formats"),
        (
            {"host": "h", "port": 1, "system_id": "s", "udh_reference_bits": 12},
            "udh_reference_bits",
        ),
        ({"host": "h", "port": 1, "system_id": "s", "window": 0}, "window"),
        ({"host": "h", "port": 1, "system_id": "s", "inbound_queue": 0}, "inbound_queue"),
    ],
)
def test_a_bad_config_is_refused_with_what_is_wrong(
    config: dict[str, object], complaint: str
) -> None:
    with pytest.raises(ValueError, match=complaint):
        SmppConnector("smpp-test", config)
