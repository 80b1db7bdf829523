"""Vonage SMS API error codes in Recado's words (the vocabulary of carriers/smpp/errors.py).

Vonage numbers its send answer `status` and its delivery receipt `err-code` in two separate
spaces, so each has its table. A code not listed is `carrier_error`; the raw code always
stays in the message ("Vonage 15: Illegal Sender Address").
"""

from __future__ import annotations

# Send answer `status` (per message part; "0" is success). The answer is HTTP 200 either way.
SUBMIT_THROTTLED = frozenset({"1"})  # faster than the account's limit
SUBMIT_TEMPORARY = frozenset({"5", "9", "10"})  # internal error, out of credit, too many binds
SUBMIT_ERRORS: dict[str, str] = {
    "1": "throttled",
    "2": "invalid_parameter",  # missing parameters
    "3": "invalid_parameter",  # invalid parameters
    "4": "unauthorized",  # invalid credentials
    "8": "unauthorized",  # partner account barred
    "11": "unauthorized",  # account not enabled for HTTP
    "12": "invalid_message_length",
    "14": "unauthorized",  # invalid signature
    "15": "invalid_sender",  # invalid sender address
    "23": "invalid_parameter",  # invalid callback URL
    "32": "unauthorized",  # signature and API secret disallowed
}
SUBMIT_DESCRIPTIONS: dict[str, str] = {
    "1": "throttled",
    "2": "missing parameters",
    "3": "invalid parameters",
    "4": "invalid credentials",
    "5": "internal error",
    "6": "invalid message",
    "7": "number barred",
    "8": "partner account barred",
    "9": "partner quota violation (insufficient credit)",
    "10": "too many existing binds",
    "11": "account not enabled for HTTP",
    "12": "message too long",
    "14": "invalid signature",
    "15": "invalid sender address",
    "17": "message blocked by provider",
    "22": "invalid network code",
    "23": "invalid callback URL",
    "29": "non-whitelisted destination (demo account)",
    "32": "signature and API secret disallowed",
    "33": "number de-activated",
}

# Delivery receipt `err-code`: non-zero means the text did not reach the handset.
DELIVERY_ERRORS: dict[str, str] = {
    "2": "absent_subscriber",  # absent subscriber (temporary)
    "3": "absent_subscriber",  # absent subscriber (permanent)
    "4": "call_barred",  # call barred by user
    "6": "rejected",  # anti-spam rejection
    "7": "subscriber_busy",  # handset busy
    "8": "network_error",
    "9": "unknown_subscriber",  # illegal number
    "10": "rejected",  # illegal message
    "12": "absent_subscriber",  # destination unreachable
    "14": "rejected",  # number blocked by carrier
}
DELIVERY_DESCRIPTIONS: dict[str, str] = {
    "1": "unknown",
    "2": "absent subscriber (temporary)",
    "3": "absent subscriber (permanent)",
    "4": "call barred by user",
    "5": "portability error",
    "6": "anti-spam rejection",
    "7": "handset busy",
    "8": "network error",
    "9": "illegal number",
    "10": "illegal message",
    "11": "unroutable",
    "12": "destination unreachable",
    "13": "subscriber age restriction",
    "14": "number blocked by carrier",
    "15": "pre-paid insufficient funds",
    "99": "general error",
}
