"""Which carrier connection a message goes through.

A sender bound to a connection (a Twilio number) only goes through it. Otherwise the
workspace's routes decide: the longest prefix of the destination wins, then the lowest
priority number; the others of the same destination are the failover order. A connection
that is down is skipped. A workspace with no routes uses the built-in default.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class RouteRule:
    prefix: str  # E.164 digits without '+'; "" matches every destination
    connection: str
    priority: int = 0


def candidates(
    destination: str,
    rules: Sequence[RouteRule],
    *,
    bound_connection: str | None,
    default: str,
    available: Collection[str],
) -> list[str]:
    """Connections to try for `destination`, best first, leaving out those not available."""
    if bound_connection is not None:
        return [bound_connection] if bound_connection in available else []
    if not rules:
        return [default] if default in available else []
    digits = destination.lstrip("+")
    matching = [r for r in rules if digits.startswith(r.prefix)]
    matching.sort(key=lambda r: (-len(r.prefix), r.priority))
    ordered: list[str] = []
    for rule in matching:
        if rule.connection in available and rule.connection not in ordered:
            ordered.append(rule.connection)
    return ordered
