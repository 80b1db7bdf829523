"""Frequency caps: how many marketing texts one contact may get, and how close together.

Two rules, both over the contact's earlier marketing texts:
- the cap: at most `max_messages` in any rolling `window` (default 3 per 24 hours, the
  limit Florida, Oklahoma and Maryland set for telephone solicitations);
- smart sending (off by default): no text within `min_gap` of the previous one.

A text sent exactly `window` (or `min_gap`) ago no longer counts: the intervals are
(now - window, now]. Texts stamped after `now` (a clock a little ahead on another worker,
or one already accepted for later) count as well, which can only make the answer stricter.
What to do with a "no" is the caller's choice: a capped campaign message is usually
deferred to `next_allowed_at`, a smart-sending one skipped.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

FrequencyReason = Literal["frequency_cap", "smart_sending"]


@dataclass(frozen=True)
class FrequencyPolicy:
    """At most `max_messages` marketing texts per rolling `window`, `min_gap` apart."""

    max_messages: int = 3
    window: timedelta = timedelta(hours=24)
    min_gap: timedelta | None = None  # smart sending; None turns it off

    def __post_init__(self) -> None:
        if self.max_messages < 1:
            raise ValueError("max_messages must be at least 1")
        if self.window <= timedelta(0):
            raise ValueError("the frequency window must be longer than zero")
        if self.min_gap is not None and self.min_gap <= timedelta(0):
            raise ValueError("min_gap must be longer than zero, or None to turn it off")


@dataclass(frozen=True)
class FrequencyVerdict:
    """Whether a marketing text may go now, and if not, why and from when."""

    allowed: bool
    reason: FrequencyReason | None  # None when allowed
    next_allowed_at: datetime | None  # None when allowed
    detail: str  # one or two sentences a marketer understands


def check_frequency(
    sent_at: Iterable[datetime], now: datetime, policy: FrequencyPolicy = FrequencyPolicy()
) -> FrequencyVerdict:
    """May the contact get another marketing text at `now`, given when earlier ones went?

    `sent_at` are the times of the contact's earlier marketing texts, in any order and
    timezone-aware. When the answer is no, `next_allowed_at` is the first instant at which
    both rules pass, assuming nothing else is sent before then.
    """
    _require_aware(now, "now")
    times = sorted(_require_aware(t, "sent_at") for t in sent_at)
    in_window = [t for t in times if t > now - policy.window]
    count = len(in_window)
    detail = (
        f"{count} marketing {'text' if count == 1 else 'texts'} in the last "
        f"{_span(policy.window)}; the cap is {policy.max_messages}."
    )
    releases: list[datetime] = []
    reason: FrequencyReason | None = None
    if count >= policy.max_messages:
        # The cap frees up when the oldest text that keeps the count at the cap leaves it.
        releases.append(in_window[count - policy.max_messages] + policy.window)
        reason = "frequency_cap"
    if policy.min_gap is not None and times and times[-1] > now - policy.min_gap:
        releases.append(times[-1] + policy.min_gap)
        reason = reason or "smart_sending"
        ago = now - times[-1]
        detail += (
            f" Smart sending waits {_span(policy.min_gap)} between texts, and the last one "
            f"went {'just now' if ago < timedelta(minutes=1) else _span(ago) + ' ago'}."
        )
    if not releases:
        return FrequencyVerdict(allowed=True, reason=None, next_allowed_at=None, detail=detail)
    next_allowed_at = max(releases)
    detail += f" The next can go in {_span(next_allowed_at - now, round_up=True)}."
    return FrequencyVerdict(
        allowed=False, reason=reason, next_allowed_at=next_allowed_at, detail=detail
    )


def _require_aware(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
    return moment


def _span(span: timedelta, *, round_up: bool = False) -> str:
    """ "24 hours", "7 days", "1 hour 30 minutes": whole minutes, for people."""
    seconds = span.total_seconds()
    minutes = int(-(-seconds // 60)) if round_up else int(seconds // 60)
    if minutes < 1:
        return "less than a minute"
    days, rest = divmod(minutes, 24 * 60)
    if days >= 2 and rest == 0:
        return f"{days} days"
    hours, minutes = divmod(minutes, 60)
    parts = [(hours, "hour"), (minutes, "minute")]
    return " ".join(f"{n} {unit}{'' if n == 1 else 's'}" for n, unit in parts if n)
