"""The one state machine every message follows.

Outbound: accepted|scheduled -> queued -> sending -> sent -> delivered|undelivered,
with failed and canceled reachable before the carrier accepts it, and `unknown` for a
submit whose outcome a crash hid (reconciled, never blindly re-sent). A paused campaign's
not-yet-submitted messages wait in `paused`, out of the dispatcher's reach, until resumed
(back to queued or scheduled) or canceled.
Inbound messages are born `received` and stay there.
"""

from __future__ import annotations

from enum import StrEnum


class MessageStatus(StrEnum):
    ACCEPTED = "accepted"
    SCHEDULED = "scheduled"
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    CANCELED = "canceled"
    UNKNOWN = "unknown"
    PAUSED = "paused"
    RECEIVED = "received"


S = MessageStatus

TRANSITIONS: dict[MessageStatus, frozenset[MessageStatus]] = {
    S.ACCEPTED: frozenset({S.QUEUED, S.SCHEDULED, S.FAILED, S.CANCELED}),
    S.SCHEDULED: frozenset({S.QUEUED, S.CANCELED, S.FAILED, S.PAUSED}),
    S.QUEUED: frozenset({S.SENDING, S.SCHEDULED, S.CANCELED, S.FAILED, S.PAUSED}),
    # A paused campaign's message: resumed (its send_at kept) or canceled with the campaign.
    S.PAUSED: frozenset({S.QUEUED, S.SCHEDULED, S.CANCELED}),
    # sending -> queued is a retry after a temporary error or a throttle.
    S.SENDING: frozenset({S.SENT, S.QUEUED, S.FAILED, S.UNKNOWN, S.DELIVERED, S.UNDELIVERED}),
    # A delivery report may say "undelivered" and a late one "delivered"; carriers do that.
    S.SENT: frozenset({S.DELIVERED, S.UNDELIVERED, S.FAILED}),
    S.UNDELIVERED: frozenset({S.DELIVERED}),
    S.UNKNOWN: frozenset({S.SENT, S.DELIVERED, S.UNDELIVERED, S.FAILED}),
    S.DELIVERED: frozenset(),
    S.FAILED: frozenset(),
    S.CANCELED: frozenset(),
    S.RECEIVED: frozenset(),
}

FINAL = frozenset({S.DELIVERED, S.FAILED, S.CANCELED, S.RECEIVED})
CANCELABLE = frozenset({S.ACCEPTED, S.SCHEDULED, S.QUEUED, S.PAUSED})


def can_transition(current: MessageStatus, new: MessageStatus) -> bool:
    return new in TRANSITIONS[current]


def sources_of(new: MessageStatus) -> frozenset[MessageStatus]:
    """Every status from which `new` may be reached (for guarded UPDATE ... WHERE status IN)."""
    return frozenset(s for s, targets in TRANSITIONS.items() if new in targets)
