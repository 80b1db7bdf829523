"""Twilio's message statuses, in Recado's words (error codes are in errors.py)."""

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
