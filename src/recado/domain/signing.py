"""Signatures on the webhooks Recado sends: HMAC-SHA256 over a timestamp and the exact body.

Header: `Recado-Signature: t=<unix seconds>,v1=<hex digest>`, where the digest is
HMAC-SHA256(secret, f"{t}.{body}"). Receivers recompute it, compare in constant time, and
refuse timestamps older than a few minutes so a captured request cannot be replayed.
"""

from __future__ import annotations

import hashlib
import hmac

HEADER = "Recado-Signature"
DEFAULT_TOLERANCE_SECONDS = 300


def sign(secret: str, body: bytes, timestamp: int) -> str:
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def verify(
    secret: str,
    body: bytes,
    header: str,
    now: int,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
) -> bool:
    """True when `header` signs `body` with `secret` and is recent enough."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance:
        return False
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, fields.get("v1", ""))
