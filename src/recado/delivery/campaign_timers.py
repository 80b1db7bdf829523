"""The campaign timer loop: scheduled launches, A/B decisions, fan-outs and completions.

Every timer is a row (`campaigns.status` with `send_at`, `decide_at`, `fanned_out_at`), so
after a restart the loop finds the same work again: a fan-out that died midway resumes
after its last committed chunk, and its message rows keep anyone from being texted twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from recado.services import campaigns

log = logging.getLogger(__name__)


class CampaignTimers:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        base_url: str,
        on_messages: Callable[[], None] = lambda: None,
        idle_seconds: float = 1.0,
    ) -> None:
        self.sessions = sessions
        self.base_url = base_url
        self.on_messages = on_messages  # wakes the dispatcher when new messages are written
        self.idle_seconds = idle_seconds
        self.wakeup = asyncio.Event()

    def notify(self) -> None:
        """A campaign was launched or resumed: look now rather than at the next poll."""
        self.wakeup.set()

    async def run_once(self) -> campaigns.TimerRound:
        async with self.sessions() as session:
            done = await campaigns.run_timers(session, base_url=self.base_url)
        if any(done.fanned_out.values()):
            self.on_messages()
        return done

    async def run_forever(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:  # keep the timers going after a database hiccup; it is logged
                log.exception("campaign timer round failed")
            self.wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wakeup.wait(), self.idle_seconds)
