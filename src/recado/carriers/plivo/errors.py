"""Plivo's documented error codes in Recado's words (the vocabulary of carriers/smpp/errors.py).

A refused submit carries no code, only a message: it is named after its HTTP status. The
codes here are the `ErrorCode` of failed/undelivered status callbacks ("000" is success). A
code not listed is `carrier_error`; the raw code always stays in the message.
"""

from __future__ import annotations

DELIVERY_ERRORS: dict[str, str] = {
    "10": "rejected",  # Invalid Message: a downstream carrier rejected it
    "20": "network_error",  # Network Error (temporary, at the carrier)
    "30": "rejected",  # Spam Detected
    "40": "invalid_sender",  # Invalid Source Number
    "50": "invalid_recipient",  # Invalid Destination Number
}

DESCRIPTIONS: dict[str, str] = {
    "10": "invalid message",
    "20": "network error",
    "30": "spam detected",
    "40": "invalid source number",
    "50": "invalid destination number",
}
