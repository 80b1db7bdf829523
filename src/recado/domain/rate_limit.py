"""Sender rate limits: at most N parts in ANY one-second window, with bounded bursts.

A plain token bucket of capacity B lets B + N through in some one-second window; carriers
count per sliding second, so Recado keeps a log of the last second's sends and checks the
window exactly.

Within it, sends are paced on an even grid (one part every 1/rate seconds, a generic cell
rate algorithm): a send that goes a little late does not move the grid, so the ones after it
are not late too. The grid may fall up to a tenth of a second behind the clock
(`burst_fraction`): after a pause (the dispatcher's database work, a garbage collection) the
sender catches up at once with at most a tenth of its rate, the burst bound, and the
second the pause fell in still carries its full count.

The grid runs half a percent slower than the limit, because a window at exactly the rate is
a delay line: a catch-up burst fills the window, so one window later the sends wait for it
to leave, and the same gap and burst come back every window. Half a percent fades such an
echo by 5 ms a second at 100 MPS. For the same reason there is no shorter burst window (a
tenth of the rate in any tenth of a second): it replayed every pause ten times a second,
and clumps grew from one group of sends to the next until seconds carried 90.

A send is counted when the limiter lets it go, but its carrier call starts a moment later
(in a task of its own, later still when the event loop is busy). Carriers count by arrival,
so `began` moves the send, and the ones counted after it, to when the call really started:
measured at the carrier, a 60-second run at 100 MPS had one sliding second with 101 before.

A carrier's throttling answer halves the allowed rate; each clean second after that gives
back a tenth of the configured rate until it is whole again (additive increase).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

# The grid runs this much slower than the limit (100 MPS: one part every 10.05 ms), so a
# late send does not make the next second's send wait for it in the window: lateness
# fades out instead of adding up. A second counts 99 or 100.
PACE_MARGIN = 0.005


@dataclass(frozen=True)
class Window:
    seconds: float
    limit: int  # parts allowed in any window of this length


Send = list[float]  # [time, parts]: a send in the log; its time moves if it begins late


class _WindowLog:
    """The sends inside one window rule, with their running total (amortized O(1) upkeep)."""

    def __init__(self, window: Window) -> None:
        self.window = window
        self.entries: deque[Send] = deque()  # oldest first, times never decreasing
        self.total = 0

    def evict(self, now: float) -> None:
        horizon = now - self.window.seconds
        while self.entries and self.entries[0][0] <= horizon:
            self.total -= int(self.entries.popleft()[1])

    def wait_time(self, cost: int, now: float) -> float:
        # A message bigger than the window's limit is allowed alone in that window.
        excess = self.total + min(cost, self.window.limit) - self.window.limit
        if excess <= 0:
            return 0.0
        freed = 0
        for at, parts in self.entries:  # oldest first: the first to leave the window
            freed += parts
            if freed >= excess:
                return at + self.window.seconds - now
        return self.window.seconds

    def add(self, cost: int, now: float) -> Send:
        send = [now, cost]
        self.entries.append(send)
        self.total += cost
        return send

    def keep(self, send: Send) -> None:
        self.entries.append(send)
        self.total += int(send[1])

    def began(self, send: Send, at: float) -> None:
        # The sends logged after it cannot have begun before it (the carrier calls start in
        # the order they were counted): they move with it, which keeps the times in order.
        for entry in reversed(self.entries):
            if entry[0] < at:
                entry[0] = at
            if entry is send:
                return


class RateLimiter:
    """Decides when a send of `cost` parts may happen. Pure: the caller supplies the time."""

    def __init__(self, rate_per_second: float, *, burst_fraction: float = 0.1) -> None:
        self.rate = rate_per_second
        if rate_per_second <= 0:
            raise ValueError("a rate limit must be positive")
        # The grid may lag the clock this long: a burst is at most this much of the rate.
        self.burst_seconds = burst_fraction
        self.allowed_rate = rate_per_second
        self._log = _WindowLog(_one_second(rate_per_second))
        self._slowed_at: float | None = None
        self._grid: float | None = None  # when the next part is due on the even grid

    @property
    def window(self) -> Window:
        return self._log.window

    def wait_time(self, cost: int, now: float) -> float:
        """Seconds to wait before `cost` parts may go; 0.0 means now."""
        self._recover(now)
        self._log.evict(now)
        return max(self._pace_wait(now), self._log.wait_time(cost, now))

    def record(self, cost: int, now: float) -> Send:
        """Count a send of `cost` parts at `now`; pass what it returns to `began` if the
        carrier call itself starts later."""
        send = self._log.add(cost, now)
        start = now if self._grid is None else max(self._grid, now - self.burst_seconds)
        self._grid = start + cost / (self.allowed_rate * (1 - PACE_MARGIN))
        return send

    def began(self, send: Send, at: float) -> None:
        """The carrier call of `send` started only `at`: it leaves the window that much
        later. Carriers count sends by when they arrive, so a send delayed between the
        limiter and the wire must not let one a second after it through early."""
        self._log.began(send, at)

    def _pace_wait(self, now: float) -> float:
        if self._grid is None:
            return 0.0
        wait = self._grid - now
        return wait if wait > 1e-9 else 0.0  # float dust is not a wait

    def slow_down(self, now: float) -> None:
        """The carrier said "throttled": halve the rate now."""
        self._set_rate(max(1.0, self.allowed_rate / 2))
        self._slowed_at = now

    def _recover(self, now: float) -> None:
        if self._slowed_at is None:
            return
        steps = int(now - self._slowed_at)
        if steps <= 0:
            return
        self._set_rate(min(self.rate, self.allowed_rate + steps * self.rate / 10))
        self._slowed_at = None if self.allowed_rate >= self.rate else self._slowed_at + steps

    def _set_rate(self, rate: float) -> None:
        """A new window that keeps the recent sends, so a change never opens a burst. The
        grid stays where it is: replaying the sends through `record` would push it a second
        ahead and stall the sender instead of slowing it."""
        recent = self._log.entries
        self.allowed_rate = rate
        self._log = _WindowLog(_one_second(rate))
        for send in recent:  # the same entries: a send that begins late still moves
            self._log.keep(send)


def _one_second(rate_per_second: float) -> Window:
    return Window(1.0, max(1, math.floor(rate_per_second)))
