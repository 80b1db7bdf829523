"""Vonage SMS API delivery receipt statuses, in Recado's words (error codes are in errors.py)."""

from __future__ import annotations

# Delivery receipt `status` -> Recado report status; None is intermediate (acknowledged only).
DLR_STATUS: dict[str, str | None] = {
    "accepted": None,
    "buffered": None,
    "delivered": "delivered",
    "expired": "undelivered",
    "failed": "undelivered",
    "unknown": "undelivered",  # no final word from the network; a late "delivered" still counts
    "rejected": "failed",
}
