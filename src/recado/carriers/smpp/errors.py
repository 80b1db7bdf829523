"""SMPP 3.4 outcomes in Recado's words: submit_sm_resp statuses and delivery receipt states.

A refused submit becomes a SubmitError with one of these codes. Throttling statuses slow the
sender down, temporary ones are retried, the rest fail the message. A carrier's own statuses
(0x400-0x4FF are reserved for vendors) can be declared throttled or temporary in the
connection config; any status not in the table is permanent.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass


@dataclass(frozen=True)
class Refusal:
    """What a submit_sm_resp command_status means for the message."""

    code: str
    reason: str
    temporary: bool = False
    throttled: bool = False


def _permanent(code: str, reason: str) -> Refusal:
    return Refusal(code, reason)


def _temporary(code: str, reason: str) -> Refusal:
    return Refusal(code, reason, temporary=True)


def _throttled(code: str, reason: str) -> Refusal:
    return Refusal(code, reason, temporary=True, throttled=True)


# command_status -> Refusal. Names in the reasons are the SMPP 3.4 specification's.
COMMAND_STATUS: dict[int, Refusal] = {
    0x01: _permanent("invalid_message_length", "ESME_RINVMSGLEN: message length is invalid"),
    0x02: _permanent("invalid_command", "ESME_RINVCMDLEN: command length is invalid"),
    0x03: _permanent("invalid_command", "ESME_RINVCMDID: invalid command id"),
    0x04: _temporary("not_bound", "ESME_RINVBNDSTS: incorrect bind status for the command"),
    0x05: _temporary("not_bound", "ESME_RALYBND: the session is already bound"),
    0x06: _permanent("invalid_parameter", "ESME_RINVPRTFLG: invalid priority flag"),
    0x07: _permanent("invalid_parameter", "ESME_RINVREGDLVFLG: invalid registered delivery"),
    0x08: _temporary("carrier_error", "ESME_RSYSERR: system error at the carrier"),
    0x0A: _permanent("invalid_sender", "ESME_RINVSRCADR: invalid source address"),
    0x0B: _permanent("invalid_recipient", "ESME_RINVDSTADR: invalid destination address"),
    0x0C: _permanent("invalid_parameter", "ESME_RINVMSGID: invalid message id"),
    0x0D: _temporary("not_bound", "ESME_RBINDFAIL: bind failed"),
    0x0E: _permanent("unauthorized", "ESME_RINVPASWD: invalid password"),
    0x0F: _permanent("unauthorized", "ESME_RINVSYSID: invalid system id"),
    0x14: _throttled("queue_full", "ESME_RMSGQFUL: the carrier's message queue is full"),
    0x15: _permanent("invalid_parameter", "ESME_RINVSERTYP: invalid service type"),
    0x43: _permanent("invalid_parameter", "ESME_RINVESMCLASS: invalid esm_class"),
    0x45: _temporary("carrier_error", "ESME_RSUBMITFAIL: submit failed at the carrier"),
    0x48: _permanent("invalid_sender", "ESME_RINVSRCTON: invalid source address TON"),
    0x49: _permanent("invalid_sender", "ESME_RINVSRCNPI: invalid source address NPI"),
    0x50: _permanent("invalid_recipient", "ESME_RINVDSTTON: invalid destination address TON"),
    0x51: _permanent("invalid_recipient", "ESME_RINVDSTNPI: invalid destination address NPI"),
    0x53: _permanent("unauthorized", "ESME_RINVSYSTYP: invalid system type"),
    0x58: _throttled("throttled", "ESME_RTHROTTLED: faster than the carrier allows"),
    0x61: _permanent("invalid_parameter", "ESME_RINVSCHED: invalid scheduled delivery time"),
    0x62: _permanent("invalid_parameter", "ESME_RINVEXPIRY: invalid validity period"),
    0x63: _permanent("invalid_parameter", "ESME_RINVDFTMSGID: invalid predefined message"),
    0x64: _temporary("carrier_error", "ESME_RX_T_APPN: temporary application error"),
    0x65: _permanent("rejected", "ESME_RX_P_APPN: permanent application error"),
    0x66: _permanent("rejected", "ESME_RX_R_APPN: the carrier rejected the message"),
    0xC0: _permanent("invalid_parameter", "ESME_RINVOPTPARSTREAM: malformed optional parameters"),
    0xC1: _permanent("invalid_parameter", "ESME_ROPTPARNOTALLWD: optional parameter refused"),
    0xC2: _permanent("invalid_parameter", "ESME_RINVPARLEN: invalid parameter length"),
    0xC3: _permanent("invalid_parameter", "ESME_RMISSINGOPTPARAM: missing optional parameter"),
    0xC4: _permanent("invalid_parameter", "ESME_RINVOPTPARAMVAL: invalid optional parameter"),
    0xFE: _temporary("carrier_error", "ESME_RDELIVERYFAILURE: delivery failure"),
    0xFF: _temporary("carrier_error", "ESME_RUNKNOWNERR: unknown error at the carrier"),
}


def refusal_for(
    status: int,
    *,
    throttled: Collection[int] = (),
    temporary: Collection[int] = (),
) -> Refusal:
    """The meaning of a non-zero command_status, with the connection's own additions."""
    known = COMMAND_STATUS.get(status)
    if status in throttled:
        reason = known.reason if known else f"carrier status {status:#06x} (throttling)"
        return _throttled(known.code if known else "throttled", reason)
    if status in temporary:
        reason = known.reason if known else f"carrier status {status:#06x} (temporary)"
        return _temporary(known.code if known else "carrier_error", reason)
    if known:
        return known
    return _permanent("rejected", f"carrier status {status:#06x}")


@dataclass(frozen=True)
class ReceiptOutcome:
    """What a receipt's `stat` means: a report status (None while not final) and why."""

    status: str | None
    code: str | None = None
    reason: str | None = None


# Receipt `stat` (the 7-letter forms of SMPP 3.4 appendix B) -> report.
RECEIPT_STATES: dict[str, ReceiptOutcome] = {
    "DELIVRD": ReceiptOutcome("delivered"),
    "EXPIRED": ReceiptOutcome(
        "undelivered", "expired", "the text expired before reaching the handset"
    ),
    "UNDELIV": ReceiptOutcome(
        "undelivered", "undeliverable", "the network could not deliver the text"
    ),
    # No final word from the network: a later DELIVRD still counts.
    "UNKNOWN": ReceiptOutcome("undelivered", "unknown", "the carrier does not know the outcome"),
    "DELETED": ReceiptOutcome("failed", "deleted", "the carrier deleted the text"),
    "REJECTD": ReceiptOutcome("failed", "rejected", "the carrier rejected the text"),
    # Not final: the text is still on its way (or was taken on the subscriber's behalf).
    "ENROUTE": ReceiptOutcome(None),
    "ACCEPTD": ReceiptOutcome(None),
}

# Spellings some SMSCs use instead of the 7-letter forms.
STATE_ALIASES: dict[str, str] = {
    "DELIVERED": "DELIVRD",
    "UNDELIVERABLE": "UNDELIV",
    "UNDELIVERED": "UNDELIV",
    "REJECTED": "REJECTD",
    "ACCEPTED": "ACCEPTD",
    "FAILED": "UNDELIV",
}

# message_state TLV (0x0427) values -> the receipt `stat` they stand for.
MESSAGE_STATES: dict[int, str] = {
    1: "ENROUTE",
    2: "DELIVRD",
    3: "EXPIRED",
    4: "DELETED",
    5: "UNDELIV",
    6: "ACCEPTD",
    7: "UNKNOWN",
    8: "REJECTD",
}

# Receipt `err`: most carriers report the GSM MAP error cause (3GPP TS 29.002), in decimal.
NETWORK_ERRORS: dict[int, tuple[str, str]] = {
    1: ("unknown_subscriber", "the number does not exist"),
    5: ("unidentified_subscriber", "the network does not know the subscriber"),
    9: ("illegal_subscriber", "the network refused the subscriber"),
    11: ("not_provisioned", "the number cannot receive texts"),
    12: ("illegal_equipment", "the handset is barred from the network"),
    13: ("call_barred", "the subscriber bars incoming texts"),
    21: ("not_supported", "the network does not support the service"),
    27: ("absent_subscriber", "the handset was unreachable"),
    31: ("subscriber_busy", "the handset was busy"),
    32: ("delivery_failure", "the handset refused the text (memory full or equipment error)"),
    33: ("waiting_list_full", "the network's waiting list for the subscriber is full"),
    34: ("network_error", "system failure in the network"),
    36: ("network_error", "the network received unexpected data"),
}


def outcome_of(stat: str, err: str | None) -> ReceiptOutcome:
    """The report a receipt makes: status from `stat`, the cause from `err` when known."""
    state = canonical_state(stat)
    outcome = RECEIPT_STATES.get(state)
    if outcome is None:
        return ReceiptOutcome("undelivered", "unknown", f"unrecognized receipt state {stat!r}")
    if outcome.status in (None, "delivered") or not err:
        return outcome
    number = int(err) if err.isdigit() else None
    if number is not None and number in NETWORK_ERRORS:
        code, reason = NETWORK_ERRORS[number]
        return ReceiptOutcome(outcome.status, code, f"{reason} (stat {state}, err {err})")
    if number == 0:
        return outcome
    return ReceiptOutcome(outcome.status, outcome.code, f"{outcome.reason} (err {err})")


def canonical_state(stat: str) -> str:
    state = stat.strip().upper()
    return STATE_ALIASES.get(state, state)
