"""SMPP 3.4 connector: binds to a carrier's SMSC over TCP and submits texts as submit_sm.

Config (the carrier connection's JSON):
  host, port, system_id, password, system_type ("")  where and who to bind as
  bind_mode            "transceiver" (default) or "transmitter_receiver" (a TX and an RX bind;
                       smpp34 1.5.0 never answers deliver_sm on a receiver-only bind, so an
                       SMSC will resend receipts after its timeout: prefer transceiver)
  window (10)          submits outstanding on the wire at once; more wait in line
  enquire_link_seconds (30)  how often the bind's liveness is checked (the smpp34 core sends
                       its own enquire_link every 30 s and drops a bind that stops answering)
  reconnect_min_seconds (1), reconnect_max_seconds (30)  backoff between bind attempts
  connect_timeout_seconds (10), tls (false)
  submit_timeout_seconds (30)  at most 30: the smpp34 core gives up on an answer after 30 s
  gsm7_packing         "unpacked" (default: one septet per octet) or "packed" (7 bits each)
  registered_delivery  1 (default: ask for a receipt) or 0
  udh_reference_bits   8 (default, IEI 0x00) or 16 (IEI 0x08) for concatenated parts
  submit_id_format, receipt_id_format  "text" (default), "hex" or "decimal": how the SMSC
                       writes ids in submit_sm_resp and in receipt texts (receipt defaults to
                       the submit format); see receipts.normalize_message_id
  source_ton, source_npi  force the sender's TON/NPI instead of deriving it from its shape
  dest_ton (1), dest_npi (1), service_type ("")
  throttle_statuses, temporary_statuses  extra command_status values (vendor codes) to treat so
  inbound_reassembly_seconds (60)  how long parts of a long inbound text wait for the rest
  inbound_queue (10000)  deliver_sm the bind acknowledges and holds while Recado is busy
                       storing earlier ones; beyond it they are refused, for the SMSC to send
                       again. smpp34's default is far smaller (5,000 at once did not fit): a
                       burst of receipts while the database was busy was refused, and the bind
                       then dropped (bench/dispatch_smpp.py stalled so with window 30)

A long text goes out as one submit_sm per part, in order, each with a concatenation UDH
(esm_class 0x40) sharing one reference per message; the parts are exactly `split_parts`'s.
SubmitResult.part_ids holds each part's carrier id, normalized; receipts come per part. When a
part is refused after earlier parts were accepted, a retry of the same message resumes at the
refused part with the same reference instead of sending the accepted parts again.

SubmitError codes beyond the status table (errors.py): `not_connected` (nothing was sent) and
`no_response` (the bind dropped or the SMSC did not answer in time: the outcome is unknown).

Inbound deliver_sm: receipts (esm_class type 0x04) become DeliveryReports; acknowledgements
and intermediate notifications are ignored; anything else is a text from a handset. Parts of
a long inbound text are joined in this process by (sender, recipient, reference); when parts
are still missing after `inbound_reassembly_seconds`, or at stop(), the parts that arrived are
delivered joined, so that nothing a person sent is dropped. Parts held in memory are lost if
the process dies first. The smpp34 core acknowledges a deliver_sm before Recado handles it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, Literal

import smpp34

from recado.carriers.base import (
    CarrierEvents,
    Connector,
    DeliveryReport,
    InboundSMS,
    OutboundSMS,
    SubmitError,
    SubmitResult,
    register,
)
from recado.carriers.smpp.errors import outcome_of, refusal_for
from recado.carriers.smpp.nodelay import disable_nagle
from recado.carriers.smpp.receipts import (
    ID_FORMATS,
    IdFormat,
    MalformedReceipt,
    normalize_message_id,
    read_receipt,
)
from recado.domain.encoding import (
    Encoding,
    decode_gsm7_septets,
    gsm7_septets,
    pack_septets,
    split_parts,
    ucs2_bytes,
    unpack_septets,
)

log = logging.getLogger(__name__)

ESM_UDHI = 0x40
ESM_MESSAGE_TYPE = 0x3C  # bits 2-5 of esm_class
ESM_RECEIPT = 0x04
IEI_CONCAT_8 = 0x00
IEI_CONCAT_16 = 0x08
DATA_CODING_GSM7 = 0
DATA_CODING_UCS2 = 8
GSM7_CODINGS = frozenset({DATA_CODING_GSM7, 0xF0, 0xF1, 0xF2, 0xF3})  # 0xF_: GSM-7 with a class
TLV_MESSAGE_PAYLOAD = 0x0424
TLV_SAR_MSG_REF_NUM = 0x020C
TLV_SAR_TOTAL_SEGMENTS = 0x020E
TLV_SAR_SEGMENT_SEQNUM = 0x020F
GSM7_PADDING = 0x0D  # 3GPP TS 23.038: CR fills 7 spare bits, so they do not read as '@'
MAX_PARTS = 255  # the UDH counts parts in one octet
MAX_REFERENCE_DESTINATIONS = 65_536
MAX_PARTIAL_SUBMITS = 10_000
MAX_EVENT_TASKS = 256
# smpp34 hands over one inbound PDU per next(), and each costs a turn of the event loop; one
# reader fell behind the submits (850 reports a second read while 2,000 texts went out), and
# the reports piled up in the core's queue until it overflowed and the bind dropped. Readers
# pulling from the same session keep up; each report is still handled by a task of its own.
READERS_PER_SESSION = 4
# Submits wait while this many inbound events are being handled. Reports that wait for their
# submit's outcome to be recorded (delivery.in_flight) are at most a dispatcher group (100),
# so they alone never hold the submits of their own group back.
SUBMIT_BACKLOG = MAX_EVENT_TASKS // 2
CORE_RESPONSE_SECONDS = 30.0  # smpp34 fails a request unanswered this long
SETTLE_SECONDS = 0.05  # lets the smpp34 runtime finish its callbacks after a close

BindMode = Literal["transceiver", "transmitter_receiver"]


@dataclass(frozen=True)
class SmppSettings:
    """The connection config, checked once."""

    host: str
    port: int
    system_id: str
    password: str = ""
    system_type: str = ""
    bind_mode: BindMode = "transceiver"
    window: int = 10
    enquire_link_seconds: float = 30.0
    reconnect_min_seconds: float = 1.0
    reconnect_max_seconds: float = 30.0
    connect_timeout_seconds: float = 10.0
    submit_timeout_seconds: float = 30.0
    tls: bool = False
    gsm7_packed: bool = False
    registered_delivery: int = 1
    udh_reference_bits: int = 8
    submit_id_format: IdFormat = "text"
    receipt_id_format: IdFormat = "text"
    source_ton: int | None = None
    source_npi: int | None = None
    dest_ton: int = 1
    dest_npi: int = 1
    service_type: str = ""
    throttle_statuses: frozenset[int] = frozenset()
    temporary_statuses: frozenset[int] = frozenset()
    inbound_reassembly_seconds: float = 60.0
    inbound_queue: int = 10_000

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> SmppSettings:
        missing = [key for key in ("host", "port", "system_id") if not config.get(key)]
        if missing:
            raise ValueError(f"An SMPP connection needs the config keys: {', '.join(missing)}")
        bind_mode = config.get("bind_mode", "transceiver")
        if bind_mode not in ("transceiver", "transmitter_receiver"):
            raise ValueError("bind_mode is 'transceiver' or 'transmitter_receiver'")
        packing = config.get("gsm7_packing", "unpacked")
        if packing not in ("packed", "unpacked"):
            raise ValueError("gsm7_packing is 'packed' or 'unpacked'")
        submit_format = config.get("submit_id_format", "text")
        receipt_format = config.get("receipt_id_format", submit_format)
        if submit_format not in ID_FORMATS or receipt_format not in ID_FORMATS:
            raise ValueError(f"message id formats are one of {', '.join(ID_FORMATS)}")
        bits = int(config.get("udh_reference_bits", 8))
        if bits not in (8, 16):
            raise ValueError("udh_reference_bits is 8 or 16")
        window = int(config.get("window", 10))
        if window < 1:
            raise ValueError("window is at least 1")
        inbound_queue = int(config.get("inbound_queue", 10_000))
        if inbound_queue < 1:
            raise ValueError("inbound_queue is at least 1")

        def optional_int(key: str) -> int | None:
            return None if config.get(key) is None else int(config[key])

        return cls(
            host=str(config["host"]),
            port=int(config["port"]),
            system_id=str(config["system_id"]),
            password=str(config.get("password", "")),
            system_type=str(config.get("system_type", "")),
            bind_mode=bind_mode,
            window=window,
            enquire_link_seconds=float(config.get("enquire_link_seconds", 30)),
            reconnect_min_seconds=float(config.get("reconnect_min_seconds", 1)),
            reconnect_max_seconds=float(config.get("reconnect_max_seconds", 30)),
            connect_timeout_seconds=float(config.get("connect_timeout_seconds", 10)),
            submit_timeout_seconds=float(config.get("submit_timeout_seconds", 30)),
            tls=bool(config.get("tls", False)),
            gsm7_packed=packing == "packed",
            registered_delivery=int(config.get("registered_delivery", 1)),
            udh_reference_bits=bits,
            submit_id_format=submit_format,
            receipt_id_format=receipt_format,
            source_ton=optional_int("source_ton"),
            source_npi=optional_int("source_npi"),
            dest_ton=int(config.get("dest_ton", 1)),
            dest_npi=int(config.get("dest_npi", 1)),
            service_type=str(config.get("service_type", "")),
            throttle_statuses=frozenset(int(s) for s in config.get("throttle_statuses", ())),
            temporary_statuses=frozenset(int(s) for s in config.get("temporary_statuses", ())),
            inbound_reassembly_seconds=float(config.get("inbound_reassembly_seconds", 60)),
            inbound_queue=inbound_queue,
        )


# ---- addresses ---------------------------------------------------------------------------


def source_address(sender: str | None) -> tuple[str, int, int]:
    """A sender as SMPP source_addr, TON and NPI, from its shape.

    `+15551234567` is international E.164 (TON 1, NPI 1, sent without '+'); up to 8 digits is
    a short code (TON 3, NPI 0); a name like `Acme` is alphanumeric (TON 5, NPI 0).
    """
    if not sender:
        return "", 0, 0
    sender = sender.strip()
    if sender.startswith("+") and sender[1:].isdigit():
        return sender[1:], 1, 1
    if sender.isdigit():
        return (sender, 3, 0) if len(sender) <= 8 else (sender, 1, 1)
    return sender, 5, 0


def recado_address(address: str, ton: int) -> str:
    """An SMPP address as Recado writes it: international numbers get their '+'."""
    return f"+{address}" if ton == 1 and address.isdigit() else address


# ---- parts on the wire --------------------------------------------------------------------


def concat_udh(reference: int, total: int, sequence: int, reference_bits: int = 8) -> bytes:
    """The user data header of one part of a concatenated text (3GPP TS 23.040 9.2.3.24.1)."""
    if reference_bits == 16:
        return bytes(
            [6, IEI_CONCAT_16, 4, reference >> 8 & 0xFF, reference & 0xFF, total, sequence]
        )
    return bytes([5, IEI_CONCAT_8, 3, reference & 0xFF, total, sequence])


def fill_bits(header_octets: int) -> int:
    """Bits that align packed septets after a header of this many octets to a septet boundary."""
    return (7 - header_octets * 8 % 7) % 7


def pack_after_header(septets: bytes, header_octets: int = 0) -> bytes:
    """Packed GSM-7 that starts on the septet boundary after the header."""
    fill = fill_bits(header_octets)
    used = fill + 7 * len(septets)
    value = int.from_bytes(pack_septets(septets), "little") << fill
    if used % 8 == 1:  # 7 spare bits at the end
        value |= GSM7_PADDING << used
    return value.to_bytes((used + 7) // 8, "little")


def encode_part(encoding: Encoding, text: str, udh: bytes = b"", *, packed: bool = False) -> bytes:
    """short_message of one part: the UDH, then the text in the part's encoding."""
    if encoding == "UCS-2":
        return udh + ucs2_bytes(text)
    septets = gsm7_septets(text)
    return udh + (pack_after_header(septets, len(udh)) if packed else septets)


@dataclass(frozen=True)
class Concatenation:
    reference: int
    total: int
    sequence: int


def split_udh(payload: bytes) -> tuple[bytes, Concatenation | None]:
    """The text octets after a UDH, and the concatenation element it carries, if any."""
    if not payload:
        return payload, None
    length = payload[0]
    header, body = payload[1 : 1 + length], payload[1 + length :]
    position = 0
    while position + 2 <= len(header):
        iei, size = header[position], header[position + 1]
        value = header[position + 2 : position + 2 + size]
        position += 2 + size
        if iei == IEI_CONCAT_8 and len(value) == 3:
            return body, Concatenation(value[0], value[1], value[2])
        if iei == IEI_CONCAT_16 and len(value) == 4:
            return body, Concatenation(value[0] << 8 | value[1], value[2], value[3])
    return body, None


def decode_text(
    data_coding: int, data: bytes, *, packed: bool = False, header_octets: int = 0
) -> str:
    """The text of a deliver_sm: GSM-7 (0), IA5 (1), UCS-2 (8); Latin-1 (3) and otherwise."""
    return decode_units(data_coding, text_units(data_coding, data, packed, header_octets))


def text_units(
    data_coding: int, data: bytes, packed: bool = False, header_octets: int = 0
) -> bytes:
    """A part's text in units that join across parts: septets for GSM-7, else its octets.

    Parts are joined before decoding, as a handset may split an escape pair or a surrogate
    pair between two parts.
    """
    if packed and data_coding in GSM7_CODINGS:
        return _unpack(data, header_octets)
    return data


def decode_units(data_coding: int, units: bytes) -> str:
    if data_coding == DATA_CODING_UCS2:
        return units.decode("utf-16-be", "replace")
    if data_coding in GSM7_CODINGS:
        try:
            return decode_gsm7_septets(units)
        except ValueError:
            pass  # not septets after all
    if data_coding == 1:
        return units.decode("ascii", "replace")
    return units.decode("latin-1")


def _unpack(data: bytes, header_octets: int) -> bytes:
    fill = fill_bits(header_octets)
    bits = 8 * len(data) - fill
    count = bits // 7
    aligned = (int.from_bytes(data, "little") >> fill).to_bytes(len(data), "little")
    septets = unpack_septets(aligned, count)
    if bits % 7 == 0 and septets and septets[-1] in (0, GSM7_PADDING):
        septets = septets[:-1]  # 7 spare bits, read as a whole septet: padding, not text
    return septets


# ---- the connector ----------------------------------------------------------------------


@dataclass
class _Bind:
    clients: list[smpp34.Client]
    transmitter: smpp34.Smsc
    sessions: list[smpp34.Smsc]


@dataclass
class _PartialSubmit:
    body: str
    reference: int
    accepted: dict[int, str]


@dataclass
class _PendingText:
    parts: dict[int, tuple[int, bytes]] = field(default_factory=dict)  # data_coding, units
    timer: asyncio.TimerHandle | None = None


@register
class SmppConnector(Connector):
    code = "smpp"

    def __init__(self, name: str, config: dict[str, Any]) -> None:
        super().__init__(name, config)
        self.settings = SmppSettings.from_config(config)
        self._events: CarrierEvents | None = None
        self._transmitter: smpp34.Smsc | None = None
        self._window = asyncio.Semaphore(self.settings.window)
        self._supervisor: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._first_attempt = asyncio.Event()
        self._event_tasks: set[asyncio.Task[None]] = set()
        self._waiting_readers: set[asyncio.Task[Any] | None] = set()  # readers inside next()
        self._sources: dict[str | None, tuple[str, int, int]] = {}
        self._references: dict[str, int] = {}
        self._partial: dict[str, _PartialSubmit] = {}
        self._pending_texts: dict[tuple[str, str, int, int], _PendingText] = {}
        self.binds = 0  # successful binds so far, for tests and metrics

    # -- lifecycle

    async def start(self, events: CarrierEvents) -> None:
        """Bind in the background; returns after the first attempt, bound or not."""
        self._events = events
        self._stopping.clear()
        self._first_attempt.clear()
        self._supervisor = asyncio.create_task(self._supervise(), name=f"smpp:{self.name}")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.settings.connect_timeout_seconds + 5):
                await self._first_attempt.wait()

    async def stop(self) -> None:
        self._stopping.set()
        if self._supervisor is not None:
            try:
                async with asyncio.timeout(10):
                    await self._supervisor
            except TimeoutError:
                self._supervisor.cancel()
            self._supervisor = None
        for key in list(self._pending_texts):
            self._deliver_pending(key)
        if self._event_tasks:
            await asyncio.wait(self._event_tasks, timeout=10)
        self._events = None
        await asyncio.sleep(SETTLE_SECONDS)

    @property
    def connected(self) -> bool:
        return self._transmitter is not None

    # -- submit

    async def submit(self, sms: OutboundSMS) -> SubmitResult:
        if self._transmitter is None:
            raise SubmitError(
                "not_connected", f"{self.name} is not bound to its SMSC", temporary=True
            )
        encoding, texts = split_parts(sms.body)
        source = self._sources.get(sms.sender) or self._source_for(sms.sender)
        destination = sms.recipient[1:] if sms.recipient.startswith("+") else sms.recipient
        data_coding = DATA_CODING_UCS2 if encoding == "UCS-2" else DATA_CODING_GSM7
        packed = self.settings.gsm7_packed
        if len(texts) == 1:
            short_message = encode_part(encoding, texts[0], packed=packed)
            part_id = await self._submit_part(source, destination, short_message, 0, data_coding)
            return SubmitResult(part_id, (part_id,))

        if len(texts) > MAX_PARTS:
            raise SubmitError("too_long", f"{len(texts)} parts; a UDH counts at most {MAX_PARTS}")
        resumed = self._partial.pop(sms.message_id, None)
        if resumed is None or resumed.body != sms.body:
            resumed = _PartialSubmit(sms.body, self._next_reference(destination), {})
        total = len(texts)
        for sequence, text in enumerate(texts, start=1):
            if sequence in resumed.accepted:
                continue
            udh = concat_udh(resumed.reference, total, sequence, self.settings.udh_reference_bits)
            short_message = encode_part(encoding, text, udh, packed=packed)
            try:
                part_id = await self._submit_part(
                    source, destination, short_message, ESM_UDHI, data_coding
                )
            except SubmitError:
                if resumed.accepted:
                    self._remember_partial(sms.message_id, resumed)
                raise
            resumed.accepted[sequence] = part_id
        part_ids = tuple(resumed.accepted[sequence] for sequence in range(1, total + 1))
        return SubmitResult(part_ids[0], part_ids)

    async def _submit_part(
        self,
        source: tuple[str, int, int],
        destination: str,
        short_message: bytes,
        esm_class: int,
        data_coding: int,
    ) -> str:
        settings = self.settings
        # smpp34 puts every submit on the wire at once (its window_size does not hold them
        # back), so the window is kept here.
        async with self._window:
            # Inside the window, so the submits queued behind this one wait too.
            await self._fewer_events_than(SUBMIT_BACKLOG)
            transmitter = self._transmitter
            if transmitter is None:
                raise SubmitError(
                    "not_connected", f"{self.name} is not bound to its SMSC", temporary=True
                )
            sending = transmitter.submit_sm(
                destination,
                short_message,
                source_addr=source[0],
                source_addr_ton=source[1],
                source_addr_npi=source[2],
                dest_addr_ton=settings.dest_ton,
                dest_addr_npi=settings.dest_npi,
                service_type=settings.service_type,
                esm_class=esm_class,
                data_coding=data_coding,
                registered_delivery=settings.registered_delivery,
            )
            try:
                if settings.submit_timeout_seconds < CORE_RESPONSE_SECONDS:
                    async with asyncio.timeout(settings.submit_timeout_seconds):
                        response = await sending
                else:  # the core's own response timer fires first: no timer of ours to pay for
                    response = await sending
            except TimeoutError:
                raise SubmitError(
                    "no_response",
                    f"no submit_sm_resp within {settings.submit_timeout_seconds:g} s; "
                    "the SMSC may have accepted the text",
                    temporary=True,
                    outcome_unknown=True,
                ) from None
            except Exception as error:  # the bind dropped while the submit was out
                raise SubmitError(
                    "no_response",
                    f"the bind failed before the SMSC answered ({error}); "
                    "the SMSC may have accepted the text",
                    temporary=True,
                    outcome_unknown=True,
                ) from error
        status = response.command_status
        if status:
            refusal = refusal_for(
                status,
                throttled=settings.throttle_statuses,
                temporary=settings.temporary_statuses,
            )
            raise SubmitError(
                refusal.code,
                refusal.reason,
                temporary=refusal.temporary,
                throttled=refusal.throttled,
            )
        message_id = response.message_id or ""
        if not message_id:
            log.warning("%s: the SMSC accepted a submit without a message id", self.name)
        return normalize_message_id(message_id, settings.submit_id_format)

    def _source_for(self, sender: str | None) -> tuple[str, int, int]:
        address, ton, npi = source_address(sender)
        if self.settings.source_ton is not None:
            ton = self.settings.source_ton
        if self.settings.source_npi is not None:
            npi = self.settings.source_npi
        if len(self._sources) < 1024:
            self._sources[sender] = (address, ton, npi)
        return address, ton, npi

    def _next_reference(self, destination: str) -> int:
        """A rolling concatenation reference per destination, starting at a random value."""
        modulus = 1 << self.settings.udh_reference_bits
        previous = self._references.pop(destination, None)
        if previous is None:
            if len(self._references) >= MAX_REFERENCE_DESTINATIONS:
                del self._references[next(iter(self._references))]
            previous = uuid.uuid4().int % modulus
        reference = (previous + 1) % modulus
        self._references[destination] = reference
        return reference

    def _remember_partial(self, message_id: str, partial: _PartialSubmit) -> None:
        if len(self._partial) >= MAX_PARTIAL_SUBMITS:
            del self._partial[next(iter(self._partial))]
        self._partial[message_id] = partial

    # -- binding and keeping bound

    async def _supervise(self) -> None:
        """Bind, serve until the bind drops, bind again: backoff doubles while binds fail."""
        settings = self.settings
        delay = settings.reconnect_min_seconds
        while not self._stopping.is_set():
            try:
                bind = await self._bind()
            except Exception as error:
                log.warning(
                    "%s: bind to %s:%s failed (%s); next try in %g s",
                    self.name,
                    settings.host,
                    settings.port,
                    error,
                    delay,
                )
                self._first_attempt.set()
                await self._pause(delay)
                delay = min(delay * 2, settings.reconnect_max_seconds)
                continue
            delay = settings.reconnect_min_seconds
            self.binds += 1
            self._transmitter = bind.transmitter
            self._first_attempt.set()
            log.info("%s: bound to %s:%s", self.name, settings.host, settings.port)
            try:
                await self._serve(bind)
            except Exception:
                log.exception("%s: the bind failed", self.name)
            finally:
                self._transmitter = None
                await self._close(bind.clients)
            if not self._stopping.is_set():
                log.warning("%s: the bind dropped; binding again in %g s", self.name, delay)
                await self._pause(delay)

    async def _pause(self, seconds: float) -> None:
        """Sleep, unless stop() comes first."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._stopping.wait()

    async def _bind(self) -> _Bind:
        settings = self.settings
        bind_types = ["TRX"] if settings.bind_mode == "transceiver" else ["TX", "RX"]
        clients: list[smpp34.Client] = []
        sessions: list[smpp34.Smsc] = []
        try:
            for bind_type in bind_types:
                client = smpp34.Client(
                    settings.host,
                    settings.port,
                    settings.system_id,
                    settings.password,
                    bind_type=bind_type,
                    system_type=settings.system_type,
                    tls=settings.tls,
                    window_size=settings.window,
                    inbound_capacity=settings.inbound_queue,
                    connect_timeout_ms=int(settings.connect_timeout_seconds * 1000),
                )
                clients.append(client)
                # connect_timeout_ms covers the TCP connect only; this covers the bind too.
                async with asyncio.timeout(settings.connect_timeout_seconds):
                    sessions.append(await client.connect())
        except BaseException:
            await self._unbind(sessions)
            await self._close(clients)
            raise
        await disable_nagle(settings.host, settings.port)  # see nodelay.py
        return _Bind(clients, sessions[0], sessions)

    async def _serve(self, bind: _Bind) -> None:
        """Read inbound PDUs until a session drops, the bind looks dead, or stop() is called."""
        readers = {
            asyncio.ensure_future(self._read(session)): session
            for session in bind.sessions
            for _ in range(READERS_PER_SESSION)
        }
        watchers = [
            asyncio.ensure_future(self._watch(bind)),
            asyncio.ensure_future(self._stopping.wait()),
        ]
        try:
            await asyncio.wait([*readers, *watchers], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for watcher in watchers:
                watcher.cancel()
            self._transmitter = None
            await self._unbind(bind.sessions)
            await self._end_readers(readers)

    async def _end_readers(self, readers: dict[asyncio.Future[None], smpp34.Smsc]) -> None:
        """Unbinding ends one pending next() per session with Disconnected, after every PDU
        the core still held; a session's other pending next() never return. Those are
        cancelled once they are all that is left: cancelling earlier could lose a report the
        core already acknowledged, and a reader handing its last report over is awaited."""
        deadline = asyncio.get_running_loop().time() + 2
        while (pending := [r for r in readers if not r.done()]) and (
            asyncio.get_running_loop().time() < deadline
        ):
            finished = {readers[r] for r in readers if r.done()}
            if all(readers[r] in finished and r in self._waiting_readers for r in pending):
                break
            await asyncio.wait(pending, timeout=0.02, return_when=asyncio.FIRST_COMPLETED)
        for reader in readers:
            if not reader.done():
                reader.cancel()
            elif not reader.cancelled() and reader.exception() is not None:
                log.error("%s: reading failed", self.name, exc_info=reader.exception())

    async def _read(self, session: smpp34.Smsc) -> None:
        me = asyncio.current_task()
        while True:
            self._waiting_readers.add(me)
            try:
                event = await session.next()
            finally:
                self._waiting_readers.discard(me)
            if not isinstance(event, smpp34.DeliverSmEvent):
                return  # Disconnected
            try:
                work = self._on_deliver_sm(event)
            except Exception:
                log.exception("%s: could not read a deliver_sm", self.name)
                continue
            if work is not None:
                await self._fewer_events_than(MAX_EVENT_TASKS)
                self._spawn(work)

    async def _watch(self, bind: _Bind) -> None:
        while True:
            await asyncio.sleep(self.settings.enquire_link_seconds)
            for client in bind.clients:
                if not await client.is_alive():
                    log.warning("%s: the bind stopped answering", self.name)
                    return

    async def _unbind(self, sessions: list[smpp34.Smsc]) -> None:
        for session in sessions:
            # The smpp34 server closes the connection instead of answering unbind.
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2):
                    await session.unbind()

    async def _close(self, clients: list[smpp34.Client]) -> None:
        for client in clients:
            with contextlib.suppress(Exception):
                await client.stop()

    # -- inbound

    def _on_deliver_sm(self, event: smpp34.DeliverSmEvent) -> Coroutine[Any, Any, None] | None:
        if self._events is None:
            return None
        message_type = event.esm_class & ESM_MESSAGE_TYPE
        tlvs = {tlv.tag: tlv.value for tlv in event.tlvs} if event.tlvs else {}
        if message_type == ESM_RECEIPT:
            return self._on_receipt(event, tlvs)
        if message_type:
            return None  # SME acknowledgements, intermediate notifications
        return self._on_text(event, tlvs)

    def _on_receipt(
        self, event: smpp34.DeliverSmEvent, tlvs: dict[int, bytes]
    ) -> Coroutine[Any, Any, None] | None:
        assert self._events is not None
        try:
            receipt = read_receipt(event.short_message or tlvs.get(TLV_MESSAGE_PAYLOAD, b""), tlvs)
        except MalformedReceipt as error:
            log.warning("%s: ignored a malformed receipt: %s", self.name, error)
            return None
        outcome = outcome_of(receipt.stat, receipt.err)
        if outcome.status is None:
            return None
        settings = self.settings
        id_format = settings.submit_id_format if receipt.id_from_tlv else settings.receipt_id_format
        report = DeliveryReport(
            connector=self.name,
            carrier_message_id=normalize_message_id(receipt.message_id, id_format),
            status=outcome.status,
            error_code=outcome.code,
            error_message=outcome.reason,
        )
        return self._events.delivery_report(report)

    def _on_text(
        self, event: smpp34.DeliverSmEvent, tlvs: dict[int, bytes]
    ) -> Coroutine[Any, Any, None] | None:
        payload = event.short_message or tlvs.get(TLV_MESSAGE_PAYLOAD, b"")
        concatenation: Concatenation | None = None
        header_octets = 0
        if event.esm_class & ESM_UDHI:
            body, concatenation = split_udh(payload)
            header_octets = len(payload) - len(body)
        else:
            body = payload
            if TLV_SAR_MSG_REF_NUM in tlvs:
                concatenation = Concatenation(
                    int.from_bytes(tlvs[TLV_SAR_MSG_REF_NUM], "big"),
                    int.from_bytes(tlvs.get(TLV_SAR_TOTAL_SEGMENTS, b"\x01"), "big"),
                    int.from_bytes(tlvs.get(TLV_SAR_SEGMENT_SEQNUM, b"\x01"), "big"),
                )
        data_coding = event.data_coding
        units = text_units(data_coding, body, self.settings.gsm7_packed, header_octets)
        sender = recado_address(event.source_addr, event.source_addr_ton)
        recipient = recado_address(event.destination_addr, event.dest_addr_ton)
        if concatenation is None or concatenation.total <= 1:
            return self._inbound(sender, recipient, decode_units(data_coding, units))
        key = (sender, recipient, concatenation.reference, concatenation.total)
        pending = self._pending_texts.get(key)
        if pending is None:
            pending = self._pending_texts[key] = _PendingText()
            pending.timer = asyncio.get_running_loop().call_later(
                self.settings.inbound_reassembly_seconds, self._deliver_pending, key
            )
        pending.parts[concatenation.sequence] = (data_coding, units)
        if len(pending.parts) < concatenation.total:
            return None
        return self._take_pending(key)

    def _take_pending(self, key: tuple[str, str, int, int]) -> Coroutine[Any, Any, None] | None:
        pending = self._pending_texts.pop(key, None)
        if pending is None:
            return None
        if pending.timer is not None:
            pending.timer.cancel()
        parts = [pending.parts[sequence] for sequence in sorted(pending.parts)]
        codings = {data_coding for data_coding, _ in parts}
        if len(codings) == 1:
            text = decode_units(codings.pop(), b"".join(units for _, units in parts))
        else:
            text = "".join(decode_units(data_coding, units) for data_coding, units in parts)
        if len(pending.parts) < key[3]:
            log.warning(
                "%s: delivering %d of %d parts of a text from %s",
                self.name,
                len(pending.parts),
                key[3],
                key[0],
            )
        return self._inbound(key[0], key[1], text)

    def _deliver_pending(self, key: tuple[str, str, int, int]) -> None:
        work = self._take_pending(key)
        if work is not None:
            self._spawn(work)

    def _inbound(self, sender: str, recipient: str, text: str) -> Coroutine[Any, Any, None] | None:
        if self._events is None:
            return None
        carrier_id = f"mo-{uuid.uuid4().hex}"
        return self._events.inbound(InboundSMS(self.name, sender, recipient, text, carrier_id))

    async def _fewer_events_than(self, limit: int) -> None:
        """Wait until fewer than `limit` inbound events are being handled. Backpressure on
        both sides: the reader stops at MAX_EVENT_TASKS (the smpp34 core then refuses
        deliver_sm beyond its inbound queue, and the SMSC sends them again later); submits
        stop at SUBMIT_BACKLOG, since each brings one more report, and a full queue refuses
        them, which some SMSCs answer by dropping the bind. The reader may hold twice as
        many as the submits allow, so it drains the queue before submits resume."""
        while len(self._event_tasks) >= limit:
            await asyncio.wait(self._event_tasks, return_when=asyncio.FIRST_COMPLETED)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._event_tasks.add(task)
        task.add_done_callback(self._event_done)

    def _event_done(self, task: asyncio.Task[None]) -> None:
        self._event_tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s: an event handler failed", self.name, exc_info=task.exception())
