"""Vonage SMS API request signatures (the `sig` parameter of signed webhooks).

Every parameter but `sig`, sorted by name, is written as `&name=value` with `&` and `=` in
values replaced by `_`. The default method, "md5hash", is the MD5 of that text followed by the
signature secret; the HMAC methods key an HMAC of that text with the secret. Hex, compared
without regard to case (the HMAC variants come upper-case).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping
from typing import Any

# Method names as the Vonage dashboard offers them, lower-cased.
HMAC_DIGESTS: dict[str, Callable[..., Any]] = {
    "md5": hashlib.md5,
    "sha1": hashlib.sha1,
    "sha256": hashlib.sha256,
    "sha512": hashlib.sha512,
}
METHODS = ("md5hash", *HMAC_DIGESTS)


def signed_text(params: Mapping[str, str]) -> str:
    return "".join(
        f"&{name}={value.replace('&', '_').replace('=', '_')}"
        for name, value in sorted(params.items())
        if name != "sig"
    )


def signature(params: Mapping[str, str], secret: str, method: str = "md5hash") -> str:
    """The `sig` Vonage computes for `params` with `secret` and `method`."""
    text = signed_text(params)
    if method == "md5hash":
        return hashlib.md5((text + secret).encode("utf-8")).hexdigest()
    digest = HMAC_DIGESTS.get(method)
    if digest is None:
        raise ValueError(f"unknown Vonage signature method '{method}'; use one of {METHODS}")
    return hmac.new(secret.encode("utf-8"), text.encode("utf-8"), digest).hexdigest()


def signature_matches(params: Mapping[str, str], secret: str, method: str = "md5hash") -> bool:
    given = params.get("sig", "").lower().encode("utf-8")
    expected = signature(params, secret, method).lower().encode("utf-8")
    return bool(given) and hmac.compare_digest(given, expected)
