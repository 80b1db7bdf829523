"""Plivo's V3 request signature (`X-Plivo-Signature-V3`, with `X-Plivo-Signature-V3-Nonce`).

The signed text is the URL Plivo called without its query, then:
- GET: `?` and the query parameters sorted by name (several values of a name sorted too),
  written `name=value` joined by `&` (nothing when there are none);
- POST: `?` and that sorted query (possibly empty) when there is a query or a body, `.` when
  there are both, then the body parameters sorted by name, written `namevalue` with no
  separator.
then `.` and the nonce. The signature is the Base64 of its HMAC-SHA256 keyed with the Auth
Token. The header may list several signatures, comma-separated (one per active token).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from urllib.parse import parse_qs, urlsplit


def _sorted_query(params: Mapping[str, list[str]]) -> str:
    return "&".join(f"{name}={value}" for name in sorted(params) for value in sorted(params[name]))


def signed_text(method: str, url: str, params: Mapping[str, str], nonce: str) -> str:
    parts = urlsplit(url)
    text = f"{parts.scheme}://{parts.netloc}{parts.path}"
    query = parse_qs(parts.query, keep_blank_values=True)
    if method.upper() == "GET":
        merged = {name: [value] for name, value in params.items()} | query
        sorted_query = _sorted_query(merged)
        if sorted_query:
            text += "?" + sorted_query
    else:
        sorted_query = _sorted_query(query)
        body = "".join(f"{name}{params[name]}" for name in sorted(params))
        if sorted_query or body:
            text += "?" + sorted_query
        if sorted_query and body:
            text += "."
        text += body
    return f"{text}.{nonce}"


def signature(method: str, url: str, params: Mapping[str, str], nonce: str, token: str) -> str:
    """The V3 signature Plivo computes for this request with the Auth Token `token`."""
    text = signed_text(method, url, params, nonce)
    mac = hmac.new(token.encode("utf-8"), text.encode("utf-8"), hashlib.sha256)
    return base64.b64encode(mac.digest()).decode("ascii")


def signature_matches(
    header: str, method: str, url: str, params: Mapping[str, str], nonce: str, token: str
) -> bool:
    if not header or not nonce:
        return False
    expected = signature(method, url, params, nonce, token).encode("ascii")
    return any(
        hmac.compare_digest(candidate.strip().encode("utf-8"), expected)
        for candidate in header.split(",")
    )
