"""The platform task that keeps the report snapshots of moving campaigns fresh
(services/report_snapshots.py), so that the pages read figures instead of counting them."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from recado.services import report_snapshots

log = logging.getLogger(__name__)


class ReportRefresher:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], *, idle_seconds: float = 1.0
    ) -> None:
        self.sessions = sessions
        self.idle_seconds = idle_seconds

    async def run_forever(self) -> None:
        while True:
            try:
                async with self.sessions() as session:
                    await report_snapshots.refresh_due(session)
            except Exception:  # keep refreshing after a database hiccup; it is logged
                log.exception("report snapshot round failed")
            await asyncio.sleep(self.idle_seconds)
