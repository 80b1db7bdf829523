"""A local SMSC on the smpp34 server, for tests, benches and offline demos.

It accepts any bind (smpp34 checks no password), answers every submit_sm with a message id
written in hex or decimal, and sends a delivery receipt as a deliver_sm (esm_class 0x04)
after a delay, with the `stat` and `err` it is told to use. It can refuse chosen submits
(every Nth, or by destination) with a chosen command_status, push texts from handsets,
long ones as parts with a concatenation UDH, and it records every submit it received.

    async with LocalSmsc(id_format="decimal", receipt_delay=0.1) as smsc:
        config = {"host": smsc.host, "port": smsc.port, "system_id": "recado"}

It listens on a free loopback port unless told one. smpp34's server does not report the port
it bound, so a free port is picked by the OS first and then handed to the server; `stop()`
keeps it, so `start()` brings the SMSC back where clients expect it.

`python -m recado.carriers.smpp.smsc` runs one in the foreground and prints its address as
one JSON line (`--help` lists the options); benches run it in a separate process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import signal
import socket
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal

import smpp34

from recado.domain.encoding import decode_gsm7_septets, gsm7_septets, split_parts, ucs2_bytes

ESME_RTHROTTLED = 0x58
SETTLE_SECONDS = 0.05  # lets the smpp34 runtime finish its callbacks after a close
TLV_RECEIPTED_MESSAGE_ID = 0x001E
TLV_MESSAGE_STATE = 0x0427
MESSAGE_STATE = {
    "ENROUTE": 1,
    "DELIVRD": 2,
    "EXPIRED": 3,
    "DELETED": 4,
    "UNDELIV": 5,
    "ACCEPTD": 6,
    "UNKNOWN": 7,
    "REJECTD": 8,
}


@dataclass(frozen=True)
class ReceivedSubmit:
    """One submit_sm as the SMSC saw it, and how it answered."""

    session_id: str
    source_addr: str
    source_addr_ton: int
    source_addr_npi: int
    destination_addr: str
    dest_addr_ton: int
    dest_addr_npi: int
    esm_class: int
    data_coding: int
    registered_delivery: int
    short_message: bytes
    message_id: str | None  # None when refused
    command_status: int


class LocalSmsc:
    """An SMSC on 127.0.0.1; every attribute below may be changed while it runs."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        system_id: str = "RECADO-SMSC",
        id_format: Literal["hex", "decimal"] = "hex",
        receipt_id_format: Literal["hex", "decimal"] | None = None,
        receipts: bool = True,
        receipt_delay: float = 0.0,
        receipt_stat: str = "DELIVRD",
        receipt_err: str = "000",
        receipt_tlvs: bool = False,
        reject_every: int = 0,
        reject_status: int = ESME_RTHROTTLED,
        reject_destinations: dict[str, int] | None = None,
        record: bool = True,
        answer_delay: float = 0.0,
        first_message_id: int = 0x1A2B3C00,
    ) -> None:
        self.host = host
        self.port = port
        self.system_id = system_id
        self.id_format = id_format
        self.receipt_id_format = receipt_id_format or id_format
        self.receipts = receipts
        self.receipt_delay = receipt_delay
        self.receipt_stat = receipt_stat
        self.receipt_err = receipt_err
        self.receipt_tlvs = receipt_tlvs  # also send receipted_message_id and message_state
        self.reject_every = reject_every
        self.reject_status = reject_status
        self.reject_destinations = dict(reject_destinations or {})
        self.record = record
        self.answer_delay = answer_delay  # hold each submit_sm_resp this long
        self.outstanding = 0  # submits held unanswered right now, and the most ever held
        self.max_outstanding = 0
        self.submits: list[ReceivedSubmit] = []
        self.submit_count = 0
        self.receipts_sent = 0
        self._next_id = first_message_id
        self._server: smpp34.Server | None = None
        self._loop_task: asyncio.Task[None] | None = None
        self._sessions: dict[str, smpp34.Esme] = {}
        self._epoch = 0  # bumped by stop(): answers and receipts scheduled before it lapse
        self._sends: set[asyncio.Future[Any]] = set()

    # -- lifecycle

    async def __aenter__(self) -> LocalSmsc:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Listen (again) on `port`, or on a free port when it is 0."""
        if self._server is not None:
            return
        if self.port == 0:
            self._server = await self._listen_on_a_free_port()
        else:
            self._server = await self._listen_on(self.port, wait_seconds=5.0)
        self._loop_task = asyncio.create_task(self._serve(self._server), name="local-smsc")

    async def stop(self) -> None:
        """Stop listening and drop every bind: to clients the SMSC has disappeared."""
        if self._server is None:
            return
        self._epoch += 1
        # Listener first, so that no client binds again in between; then the binds accepted
        # just before, once the serve loop has seen them.
        await self._server.stop()
        self._server = None
        await asyncio.sleep(SETTLE_SECONDS)
        await self.disconnect_all()
        if self._sends:
            await asyncio.wait(self._sends, timeout=2)
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
            self._loop_task = None
        await asyncio.sleep(SETTLE_SECONDS)

    async def disconnect_all(self) -> None:
        """Close every bound session; the server keeps listening for new binds."""
        sessions, self._sessions = list(self._sessions.values()), {}
        for esme in sessions:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2):
                    await esme.unbind()

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def bound_sessions(self) -> int:
        return len(self._sessions)

    async def wait_for_binds(self, count: int = 1, *, seconds: float = 5.0) -> None:
        await self._wait_until(lambda: len(self._sessions) >= count, seconds, f"{count} binds")

    async def wait_for_submits(self, count: int, *, seconds: float = 5.0) -> None:
        await self._wait_until(lambda: self.submit_count >= count, seconds, f"{count} submits")

    # -- texts from handsets and receipts on demand

    async def deliver(
        self,
        source: str,
        destination: str,
        text: str,
        *,
        reference: int | None = None,
        reference_bits: int = 8,
        packed: bool = False,
        order: Sequence[int] | None = None,
        source_ton: int = 1,
        dest_ton: int = 1,
        wait: bool = True,
    ) -> int:
        """Push a text from a handset; a long one goes as parts (in `order`, 1-based).

        Returns how many deliver_sm it took. The text splits as `split_parts` says.
        """
        encoding, parts = split_parts(text)
        reference = random.randrange(1 << reference_bits) if reference is None else reference
        data_coding = 8 if encoding == "UCS-2" else 0
        pdus: list[tuple[bytes, int]] = []
        for sequence, part in enumerate(parts, start=1):
            header = b""
            if len(parts) > 1:
                header = _concat_header(reference, len(parts), sequence, reference_bits)
            if encoding == "UCS-2":
                body = ucs2_bytes(part)
            elif packed:
                body = _pack_septets(gsm7_septets(part), len(header))
            else:
                body = gsm7_septets(part)
            pdus.append((header + body, 0x40 if header else 0))
        for index in order or range(1, len(pdus) + 1):
            short_message, esm_class = pdus[index - 1]
            await self.push(
                destination,
                short_message,
                source=source,
                esm_class=esm_class,
                data_coding=data_coding,
                source_ton=source_ton,
                dest_ton=dest_ton,
                wait=wait,
            )
        return len(pdus)

    async def send_receipt(
        self,
        message_id: str,
        stat: str = "DELIVRD",
        err: str = "000",
        *,
        source: str = "15550000000",
        destination: str = "",
        tlvs: bool = False,
    ) -> int | None:
        """Push a receipt for `message_id`, written exactly as given; the ESME's answer."""
        return await self.push(
            destination,
            _receipt_text(message_id, stat, err, ""),
            source=source,
            esm_class=0x04,
            tlvs=_receipt_tlvs(message_id, stat) if tlvs else (),
        )

    async def push(
        self,
        destination: str,
        short_message: bytes,
        *,
        source: str = "",
        esm_class: int = 0,
        data_coding: int = 0,
        source_ton: int = 1,
        dest_ton: int = 1,
        tlvs: Iterable[smpp34.Tlv] = (),
        wait: bool = True,
    ) -> int | None:
        """Send any deliver_sm to a receiving session.

        Returns the deliver_sm_resp status, or None without `wait` (smpp34 clients bound as
        receiver only never answer deliver_sm).
        """
        esme = self._receiver()
        if esme is None:  # a client may be bound before the serve loop has seen it
            with contextlib.suppress(TimeoutError):
                await self._wait_until(lambda: self._receiver() is not None, 2.0, "a receiver")
            esme = self._receiver()
        if esme is None:
            raise RuntimeError("no bound session can receive")
        sending = esme.deliver_sm(
            destination,
            short_message,
            source_addr=source,
            source_addr_ton=source_ton,
            source_addr_npi=1 if source_ton == 1 else 0,
            dest_addr_ton=dest_ton,
            dest_addr_npi=1 if dest_ton == 1 else 0,
            esm_class=esm_class,
            data_coding=data_coding,
            tlvs=list(tlvs),
        )
        if not wait:
            self._track(asyncio.ensure_future(sending))
            return None
        return (await sending).command_status

    # -- serving

    async def _serve(self, server: smpp34.Server) -> None:
        submit_event, esme_event = smpp34.SubmitSmEvent, smpp34.Esme
        while True:
            event = await server.next()
            kind = type(event)
            if kind is submit_event:
                self._on_submit(event)  # type: ignore[arg-type]
            elif kind is esme_event:
                self._sessions[event.session_id] = event  # type: ignore[assignment]
            else:
                self._sessions.pop(event.session_id, None)

    def _on_submit(self, event: smpp34.SubmitSmEvent) -> None:
        self.submit_count += 1
        status = self._refusal(event)
        message_id: str | None = None
        number = 0
        if not status:
            number = self._next_id
            self._next_id += 1
            message_id = _write_id(number, self.id_format)
        if self.answer_delay > 0:
            self.outstanding += 1
            self.max_outstanding = max(self.max_outstanding, self.outstanding)
            asyncio.get_running_loop().call_later(
                self.answer_delay, self._answer_later, self._epoch, event, status, message_id
            )
        elif status:
            event.reject(status)
        else:
            event.accept(message_id)  # type: ignore[arg-type]
        if self.record:
            self.submits.append(
                ReceivedSubmit(
                    session_id=event.session_id,
                    source_addr=event.source_addr,
                    source_addr_ton=event.source_addr_ton,
                    source_addr_npi=event.source_addr_npi,
                    destination_addr=event.destination_addr,
                    dest_addr_ton=event.dest_addr_ton,
                    dest_addr_npi=event.dest_addr_npi,
                    esm_class=event.esm_class,
                    data_coding=event.data_coding,
                    registered_delivery=event.registered_delivery,
                    short_message=event.short_message,
                    message_id=message_id,
                    command_status=status,
                )
            )
        if status or not self.receipts:
            return
        wanted = event.registered_delivery & 0x03
        stat = self.receipt_stat
        if wanted == 1 or (wanted == 2 and stat != "DELIVRD"):
            receipt = (event.session_id, number, event.source_addr, event.destination_addr, stat)
            delay = self.answer_delay + self.receipt_delay  # never before the answer
            if delay > 0:
                asyncio.get_running_loop().call_later(
                    delay, self._send_receipt_later, self._epoch, receipt
                )
            else:
                self._send_receipt(*receipt)

    def _answer_later(
        self, epoch: int, event: smpp34.SubmitSmEvent, status: int, message_id: str | None
    ) -> None:
        self.outstanding -= 1
        if epoch != self._epoch:
            return
        if status or message_id is None:
            event.reject(status)
        else:
            event.accept(message_id)

    def _refusal(self, event: smpp34.SubmitSmEvent) -> int:
        if self.reject_destinations:
            status = self.reject_destinations.get(event.destination_addr)
            if status:
                return status
        if self.reject_every and self.submit_count % self.reject_every == 0:
            return self.reject_status
        return 0

    def _send_receipt_later(self, epoch: int, receipt: tuple[str, int, str, str, str]) -> None:
        if epoch == self._epoch:
            self._send_receipt(*receipt)

    def _send_receipt(
        self, session_id: str, number: int, handset: str, sender: str, stat: str
    ) -> None:
        esme = self._sessions.get(session_id)
        if esme is None or not esme.can_receive:
            esme = self._receiver()
            if esme is None:
                return
        receipt_id = _write_id(number, self.receipt_id_format)
        sent = asyncio.ensure_future(
            esme.deliver_sm(
                sender,
                _receipt_text(receipt_id, stat, self.receipt_err, ""),
                source_addr=handset,
                esm_class=0x04,
                tlvs=_receipt_tlvs(_write_id(number, self.id_format), stat)
                if self.receipt_tlvs
                else [],
            )
        )
        self.receipts_sent += 1
        self._track(sent)

    def _track(self, sent: asyncio.Future[Any]) -> None:
        self._sends.add(sent)
        sent.add_done_callback(self._sent)

    def _sent(self, future: asyncio.Future[Any]) -> None:
        self._sends.discard(future)
        if not future.cancelled():
            future.exception()  # a session that went away; nothing to report to

    def _receiver(self) -> smpp34.Esme | None:
        for esme in self._sessions.values():
            if esme.can_receive:
                return esme
        return None

    async def _listen_on_a_free_port(self) -> smpp34.Server:
        for _ in range(20):
            with socket.socket() as probe:
                probe.bind((self.host, 0))
                port = probe.getsockname()[1]
            try:
                server = await self._listen_on(port, wait_seconds=0)
            except smpp34.SmppError:
                continue  # taken between the probe and the bind
            self.port = port
            return server
        raise RuntimeError("found no free port for the local SMSC")

    async def _listen_on(self, port: int, *, wait_seconds: float) -> smpp34.Server:
        deadline = time.monotonic() + wait_seconds
        while True:
            server = smpp34.Server(self.host, port, system_id=self.system_id)
            try:
                await server.start()
                return server
            except smpp34.SmppError:
                if time.monotonic() >= deadline:
                    raise
                await asyncio.sleep(0.1)

    async def _wait_until(self, condition: Callable[[], bool], seconds: float, what: str) -> None:
        deadline = time.monotonic() + seconds
        while not condition():
            if time.monotonic() > deadline:
                raise TimeoutError(f"the local SMSC did not see {what} within {seconds} s")
            await asyncio.sleep(0.01)


def _write_id(number: int, id_format: str) -> str:
    return f"{number:x}" if id_format == "hex" else str(number)


def _receipt_text(message_id: str, stat: str, err: str, text: str) -> bytes:
    now = time.strftime("%y%m%d%H%M", time.gmtime())
    delivered = "001" if stat == "DELIVRD" else "000"
    return (
        f"id:{message_id} sub:001 dlvrd:{delivered} submit date:{now} done date:{now} "
        f"stat:{stat} err:{err} text:{text}"
    ).encode("latin-1")


def _receipt_tlvs(message_id: str, stat: str) -> list[smpp34.Tlv]:
    return [
        smpp34.Tlv(TLV_RECEIPTED_MESSAGE_ID, message_id.encode() + b"\x00"),
        smpp34.Tlv(TLV_MESSAGE_STATE, bytes([MESSAGE_STATE.get(stat, 7)])),
    ]


def _concat_header(reference: int, total: int, sequence: int, bits: int) -> bytes:
    if bits == 16:
        return bytes([6, 0x08, 4, reference >> 8, reference & 0xFF, total, sequence])
    return bytes([5, 0x00, 3, reference, total, sequence])


def _pack_septets(septets: bytes, header_octets: int) -> bytes:
    # Septets laid end to end after the header, starting on the next septet boundary.
    start = -(-header_octets * 8 // 7) * 7 - header_octets * 8
    value = 0
    for index, septet in enumerate(septets):
        value |= septet << (start + 7 * index)
    return value.to_bytes((start + 7 * len(septets) + 7) // 8, "little")


def read_text(submit: ReceivedSubmit) -> str:
    """The text of a received unpacked GSM-7 or UCS-2 submit, its UDH left out."""
    payload = submit.short_message
    if submit.esm_class & 0x40:
        payload = payload[1 + payload[0] :]
    if submit.data_coding == 8:
        return payload.decode("utf-16-be", "surrogatepass")
    return decode_gsm7_septets(payload)


async def _run(args: argparse.Namespace) -> None:
    smsc = LocalSmsc(
        host=args.host,
        port=args.port,
        id_format=args.id_format,
        receipt_id_format=args.receipt_id_format,
        receipts=not args.no_receipts,
        receipt_delay=args.receipt_delay,
        receipt_stat=args.receipt_stat,
        reject_every=args.reject_every,
        record=args.record,
    )
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopped.set)
    async with smsc:
        print(json.dumps({"host": smsc.host, "port": smsc.port}), flush=True)
        await stopped.wait()
        print(
            json.dumps({"submits": smsc.submit_count, "receipts": smsc.receipts_sent}), flush=True
        )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A local SMPP SMSC for tests and benches.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--id-format", choices=("hex", "decimal"), default="hex")
    parser.add_argument("--receipt-id-format", choices=("hex", "decimal"), default=None)
    parser.add_argument("--no-receipts", action="store_true")
    parser.add_argument("--receipt-delay", type=float, default=0.0)
    parser.add_argument("--receipt-stat", default="DELIVRD")
    parser.add_argument("--reject-every", type=int, default=0)
    parser.add_argument("--record", action="store_true", help="keep every submit in memory")
    asyncio.run(_run(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
