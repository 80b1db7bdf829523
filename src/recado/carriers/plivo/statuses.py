"""Plivo message statuses, in Recado's words (error codes are in errors.py)."""

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
