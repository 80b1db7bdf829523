"""Twilio's message statuses and delivery error codes, in Recado's words."""

from __future__ import annotations

# Twilio MessageStatus -> Recado report status; None is an intermediate (or inbound) status
# that is acknowledged and not reported.
MESSAGE_STATUS: dict[str, str | None] = {
    "accepted": None,
    "scheduled": None,
    "queued": None,
    "sending": None,
    "sent": None,
    "receiving": None,
    "received": None,
    "delivered": "delivered",
    "read": "delivered",
    "undelivered": "undelivered",
    "failed": "failed",
    "canceled": "failed",  # only a cancel made outside Recado; the text never left Twilio
}

# The delivery errors Twilio puts in ErrorCode of failed/undelivered status callbacks.
ERROR_CODES: dict[str, str] = {
    "30001": "queue overflow",
    "30002": "account suspended",
    "30003": "unreachable destination handset",
    "30004": "message blocked",
    "30005": "unknown destination handset",
    "30006": "landline or unreachable carrier",
    "30007": "message filtered by the carrier",
    "30008": "unknown error",
    "30009": "missing segment",
    "30010": "message price exceeds max price",
}


def describe_error(code: str) -> str:
    return ERROR_CODES.get(code, f"Twilio error {code}")
