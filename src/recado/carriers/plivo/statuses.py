"""Plivo message statuses and delivery error codes, in Recado's words."""

from __future__ import annotations

# Status callback `Status` -> Recado report status; None is intermediate (acknowledged only).
MESSAGE_STATUS: dict[str, str | None] = {
    "queued": None,
    "sent": None,
    "received": None,
    "delivered": "delivered",
    "read": "delivered",
    "undelivered": "undelivered",
    "failed": "failed",
    "rejected": "failed",
}

# `ErrorCode` of failed/undelivered callbacks ("000" is success).
ERROR_CODES: dict[str, str] = {
    "10": "invalid message",
    "20": "network error",
    "30": "spam detected",
    "40": "invalid source number",
    "50": "invalid destination number",
}


def describe_error(code: str) -> str:
    return ERROR_CODES.get(code, f"Plivo error {code}")
