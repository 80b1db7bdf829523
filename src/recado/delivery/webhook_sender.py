"""Posts queued webhooks (status callbacks), signed, and retries them with backoff.

Each delivery is leased before its POST (next_attempt_at pushed past the request timeout),
so two senders never post the same attempt, and a crash only delays it. Every attempt is
logged with its HTTP status or error and its duration. The callbacks of one message go out
in order: a callback waits while an earlier one of the same message is still pending.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta

import httpx
from sqlalchemy import exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from recado.db.tables import WebhookAttempt, WebhookDelivery, Workspace, utcnow
from recado.domain.signing import HEADER, sign
from recado.domain.workspace_settings import read_settings

log = logging.getLogger(__name__)
# Waits after the 1st, 2nd, ... failed attempt; after the last one the delivery is failed.
BACKOFF = (
    timedelta(seconds=10),
    timedelta(seconds=30),
    timedelta(minutes=2),
    timedelta(minutes=10),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=6),
)
TIMEOUT_SECONDS = 10.0
LEASE = timedelta(seconds=30)


class WebhookSender:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        client: httpx.AsyncClient | None = None,
        batch_size: int = 50,
        idle_seconds: float = 0.5,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.client = client or httpx.AsyncClient(timeout=TIMEOUT_SECONDS)
        self.batch_size = batch_size
        self.idle_seconds = idle_seconds
        self.clock = clock

    async def run_forever(self) -> None:
        while True:
            try:
                done = await self.run_once()
            except Exception:  # keep sending after a database hiccup; it is logged
                log.exception("webhook round failed")
                done = 0
            if done == 0:
                await asyncio.sleep(self.idle_seconds)

    async def run_once(self) -> int:
        batch = await self._lease()
        if batch:
            await asyncio.gather(*(self._post(d, secret) for d, secret in batch))
        return len(batch)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.client.aclose()

    async def _lease(self) -> list[tuple[WebhookDelivery, str]]:
        now = self.clock()
        async with self.sessions() as session:
            earlier = aliased(WebhookDelivery)
            query = (
                select(WebhookDelivery)
                .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now)
                .where(
                    ~exists().where(
                        earlier.message_id == WebhookDelivery.message_id,
                        earlier.status == "pending",
                        earlier.id < WebhookDelivery.id,
                    )
                )
                .order_by(WebhookDelivery.id)
                .limit(self.batch_size)
            )
            if session.bind.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            due = list(await session.scalars(query))
            leased = []
            for delivery in due:
                # Guarded so that a concurrent sender that leased it first wins.
                result = await session.execute(
                    update(WebhookDelivery)
                    .where(
                        WebhookDelivery.id == delivery.id,
                        WebhookDelivery.next_attempt_at == delivery.next_attempt_at,
                    )
                    .values(next_attempt_at=now + LEASE)
                )
                if result.rowcount == 1:  # type: ignore[attr-defined]
                    leased.append(delivery)
            secrets = await self._secrets(session, {d.workspace_id for d in leased})
            await session.commit()
        return [(d, secrets.get(d.workspace_id, "")) for d in leased]

    async def _secrets(self, session: AsyncSession, workspace_ids: set[str]) -> dict[str, str]:
        if not workspace_ids:
            return {}
        rows = await session.execute(
            select(Workspace.id, Workspace.settings).where(Workspace.id.in_(workspace_ids))
        )
        return {wid: read_settings(raw).webhook_secret or "" for wid, raw in rows}

    async def _post(self, delivery: WebhookDelivery, secret: str) -> None:
        body = delivery.payload.encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Recado-Webhooks/1",
            HEADER: sign(secret, body, int(time.time())),
            "Recado-Delivery": delivery.id,
        }
        started = time.perf_counter()
        status_code: int | None = None
        error: str | None = None
        try:
            response = await self.client.post(delivery.url, content=body, headers=headers)
            status_code = response.status_code
            if not 200 <= status_code < 300:
                error = f"HTTP {status_code}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        duration_ms = int((time.perf_counter() - started) * 1000)
        await self._record(delivery, status_code, error, duration_ms)

    async def _record(
        self, delivery: WebhookDelivery, status_code: int | None, error: str | None, ms: int
    ) -> None:
        now = self.clock()
        attempts = delivery.attempts + 1
        if error is None:
            values = {"status": "delivered", "next_attempt_at": None}
        elif attempts > len(BACKOFF):
            values = {"status": "failed", "next_attempt_at": None}
        else:
            values = {"next_attempt_at": now + BACKOFF[attempts - 1]}
        async with self.sessions() as session:
            await session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id == delivery.id)
                .values(
                    attempts=attempts,
                    last_status_code=status_code,
                    last_error=error,
                    updated_at=now,
                    **values,
                )
            )
            session.add(
                WebhookAttempt(
                    delivery_id=delivery.id,
                    workspace_id=delivery.workspace_id,
                    at=now,
                    status_code=status_code,
                    error=error,
                    duration_ms=ms,
                )
            )
            await session.commit()
