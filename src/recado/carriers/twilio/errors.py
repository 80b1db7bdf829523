"""Twilio's documented error codes in Recado's words (the vocabulary of carriers/smpp/errors.py).

Twilio numbers its errors in one space for the REST API (2xxxx, a refused submit) and for
delivery (3xxxx, the ErrorCode of failed/undelivered status callbacks), so one table serves
both. A code not listed here is `carrier_error`; the raw code always stays in the message.
"""

from __future__ import annotations

ERRORS: dict[str, str] = {
    "20003": "unauthorized",  # Authentication Error: wrong Account SID or Auth Token
    "20429": "throttled",  # Too Many Requests
    "21211": "invalid_recipient",  # Invalid 'To' Phone Number
    "21212": "invalid_sender",  # Invalid 'From' Phone Number
    "21602": "invalid_parameter",  # Message body is required
    "21603": "invalid_sender",  # A 'From' phone number is required
    "21604": "invalid_recipient",  # A 'To' phone number is required
    "21606": "invalid_sender",  # The 'From' number is not a valid message-capable Twilio number
    "21610": "rejected",  # the recipient replied STOP to this sender
    "21611": "queue_full",  # This 'From' number has exceeded the maximum of queued messages
    "21614": "invalid_recipient",  # 'To' number is not a valid mobile number
    "21617": "invalid_message_length",  # The concatenated body exceeds 1600 characters
    "30001": "queue_full",  # Queue overflow
    "30003": "absent_subscriber",  # Unreachable destination handset
    "30004": "rejected",  # Message blocked
    "30005": "unknown_subscriber",  # Unknown destination handset
    "30006": "not_provisioned",  # Landline or unreachable carrier
    "30007": "rejected",  # Message filtered by the carrier
}

# What the delivery errors mean, for status callbacks (which carry the code alone).
DESCRIPTIONS: dict[str, str] = {
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
