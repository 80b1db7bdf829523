"""Delivery receipts: what an SMSC's deliver_sm says became of a submitted text.

The receipt text follows SMPP 3.4 appendix B,
`id:<id> sub:001 dlvrd:001 submit date:YYMMDDhhmm done date:YYMMDDhhmm stat:DELIVRD err:000
text:<first characters>`; the optional parameters receipted_message_id (0x001E) and
message_state (0x0427) take precedence when present.

Carriers disagree on how they write ids: some answer submit_sm in hex and write receipts in
decimal, or the reverse. Every id, from either side, goes through `normalize_message_id` with
the format the connection declares for that side, so both sides meet in one spelling.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, get_args

from recado.carriers.smpp.errors import MESSAGE_STATES, canonical_state

IdFormat = Literal["text", "hex", "decimal"]
ID_FORMATS: tuple[str, ...] = get_args(IdFormat)

TLV_RECEIPTED_MESSAGE_ID = 0x001E
TLV_NETWORK_ERROR_CODE = 0x0423
TLV_MESSAGE_STATE = 0x0427

# The layout of the specification, read in one match; anything else takes the general path.
_STANDARD = re.compile(
    r"id:(?P<id>\S+) sub:(?P<sub>\S*) dlvrd:(?P<dlvrd>\S*) submit date:(?P<submit_date>\d*) "
    r"done date:(?P<done_date>\d*) stat:(?P<stat>\S+) err:(?P<err>\S*)(?: text:(?P<text>.*))?\Z",
    re.DOTALL,
)
# A field name starts the text or follows a space; `text:` runs to the end (it may hold colons).
_FIELD = re.compile(
    r"(?:^|(?<=\s))(id|sub|dlvrd|submit[ _]date|done[ _]date|stat|err|text)\s*:", re.IGNORECASE
)


class MalformedReceipt(ValueError):
    """A receipt that names no message id or no state."""


@dataclass(frozen=True)
class Receipt:
    message_id: str  # as the carrier wrote it; see normalize_message_id
    id_from_tlv: bool  # receipted_message_id is written like the submit_sm_resp id
    stat: str  # the 7-letter state: DELIVRD, UNDELIV, EXPIRED, ...
    err: str | None = None
    submit_date: str = ""  # YYMMDDhhmm[ss] as written
    done_date: str = ""
    text: str = ""

    @property
    def submitted_at(self) -> datetime | None:
        return parse_receipt_date(self.submit_date)

    @property
    def done_at(self) -> datetime | None:
        return parse_receipt_date(self.done_date)


def normalize_message_id(raw: str, id_format: IdFormat = "text") -> str:
    """The one spelling of a carrier message id, whichever side or format it came from.

    `hex` and `decimal` ids become the decimal number without leading zeros, so `1F4`
    (hex) and `500` (decimal) meet; `text` ids are kept as written, trimmed. An id that does
    not parse in its declared format is kept as text rather than lost.
    """
    cleaned = raw.strip().strip("\x00").strip()
    if id_format == "text" or not cleaned:
        return cleaned
    try:
        return str(int(cleaned, 16 if id_format == "hex" else 10))
    except ValueError:
        return cleaned


def parse_receipt_fields(text: str) -> dict[str, str]:
    """The `name:value` fields of a receipt text, names lower-cased with `_` for spaces."""
    standard = _STANDARD.match(text)
    if standard:
        fields = {name: value for name, value in standard.groupdict().items() if value}
        if "text" in fields:
            fields["text"] = fields["text"].strip()
        return fields
    fields = {}
    matches = list(_FIELD.finditer(text))
    for index, match in enumerate(matches):
        name = match.group(1).lower().replace(" ", "_")
        if name == "text":
            fields[name] = text[match.end() :].strip()
            break
        end = matches[index + 1].start() if index + 1 < len(matches) else len(text)
        fields.setdefault(name, text[match.end() : end].strip())
    return fields


def read_receipt(short_message: bytes, tlvs: Mapping[int, bytes] | None = None) -> Receipt:
    """The receipt in a deliver_sm, from its text and optional parameters.

    Raises MalformedReceipt when neither names the message id, or neither names its state.
    """
    tlvs = tlvs or {}
    fields = parse_receipt_fields(short_message.decode("latin-1"))
    tlv_id = _c_string(tlvs.get(TLV_RECEIPTED_MESSAGE_ID))
    message_id = tlv_id or fields.get("id", "")
    if not message_id:
        raise MalformedReceipt(f"receipt names no message id: {short_message[:80]!r}")
    state = _tlv_state(tlvs.get(TLV_MESSAGE_STATE)) or fields.get("stat", "")
    if not state:
        raise MalformedReceipt(f"receipt names no state: {short_message[:80]!r}")
    err = fields.get("err") or _network_error(tlvs.get(TLV_NETWORK_ERROR_CODE))
    return Receipt(
        message_id=message_id,
        id_from_tlv=bool(tlv_id),
        stat=canonical_state(state),
        err=err or None,
        submit_date=fields.get("submit_date", ""),
        done_date=fields.get("done_date", ""),
        text=fields.get("text", ""),
    )


def parse_receipt_date(value: str) -> datetime | None:
    """YYMMDDhhmm or YYMMDDhhmmss, read as UTC (the specification names no zone)."""
    digits = value.strip()
    if len(digits) not in (10, 12) or not digits.isdigit():
        return None
    year, month, day, hour, minute = (int(digits[i : i + 2]) for i in range(0, 10, 2))
    try:
        return datetime(2000 + year, month, day, hour, minute, int(digits[10:] or 0), tzinfo=UTC)
    except ValueError:
        return None


def _c_string(value: bytes | None) -> str:
    return value.split(b"\x00", 1)[0].decode("latin-1").strip() if value else ""


def _tlv_state(value: bytes | None) -> str:
    if not value:
        return ""
    return MESSAGE_STATES.get(value[0], "")


def _network_error(value: bytes | None) -> str:
    # network_error_code: one octet of network type, then the error code in two octets.
    if not value or len(value) != 3:
        return ""
    return str(int.from_bytes(value[1:], "big"))
