"""Vonage SMS API statuses and error codes, in Recado's words."""

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

# Delivery receipt `err-code`: non-zero means the text did not reach the handset.
DLR_ERRORS: dict[str, str] = {
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

# Send answer `status` (per message part; "0" is success). The answer is HTTP 200 either way.
SUBMIT_THROTTLED = frozenset({"1"})  # faster than the account's limit
SUBMIT_TEMPORARY = frozenset({"5", "9", "10"})  # internal error, out of credit, too many binds
SUBMIT_ERRORS: dict[str, str] = {
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


def describe_dlr_error(code: str) -> str:
    return DLR_ERRORS.get(code, f"Vonage delivery error {code}")


def describe_submit_error(code: str) -> str:
    return SUBMIT_ERRORS.get(code, f"Vonage error {code}")
