"""Carrier ids this process has submitted but not yet recorded.

A carrier answers a submit and sends its delivery report right after: the report usually
arrives before the dispatcher has committed the carrier id it would be matched by. Instead
of looking the id up too early (a wasted query, then a retry 50 ms later), the report
handler waits here until the group that holds the id is recorded. Ids submitted by another
process are not here; their reports fall back to looking again a few times.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable

# Longer than any group takes to record; after it a report is looked up all the same.
WAIT_SECONDS = 30.0


class InFlight:
    def __init__(self) -> None:
        self._recorded: dict[tuple[str, str], asyncio.Future[None]] = {}

    def group(self) -> asyncio.Future[None]:
        """A marker for one group of submits: resolved by `recorded` once its outcomes are
        committed (or given up on)."""
        return asyncio.get_running_loop().create_future()

    def submitted(
        self, connector: str, carrier_ids: Iterable[str], group: asyncio.Future[None]
    ) -> None:
        for carrier_id in carrier_ids:
            self._recorded[(connector, carrier_id)] = group

    def recorded(self, keys: Iterable[tuple[str, str]], group: asyncio.Future[None]) -> None:
        """The group's outcomes are committed: `keys` are its (connector, carrier id) pairs."""
        for key in keys:
            if self._recorded.get(key) is group:
                del self._recorded[key]
        if not group.done():
            group.set_result(None)

    async def settled(self, connector: str, carrier_id: str) -> None:
        """Returns once this id's submit is recorded, at once if it is not in flight here."""
        group = self._recorded.get((connector, carrier_id))
        if group is None or group.done():
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(WAIT_SECONDS):
                await asyncio.shield(group)
