"""Status callbacks: every status change of a message is queued as a signed webhook delivery.

The delivery row is written in the same transaction as the status change, so a callback is
never lost to a crash and never sent for a change that was rolled back. The webhook sender
(delivery/webhook_sender.py) posts them, with retries.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.util import identity_key

from recado.db.tables import Message, WebhookAttempt, WebhookDelivery, Workspace
from recado.domain.roles import Permission
from recado.domain.workspace_settings import read_settings
from recado.ids import new_id
from recado.services import config_cache
from recado.services.actor import Actor

EVENT = "message.status"
_URL = "webhook_url"  # the config cache's kind for default callback URLs


@dataclass(slots=True)
class MessageColumns:
    """The columns of a message that its status callback reads, as a plain row: the
    delivery-report path settles messages with no more than these (no `Message` object,
    which cost more to load than the rest of a receipt)."""

    id: str
    workspace_id: str
    status: str
    direction: str
    recipient: str
    sender: str | None
    segments: int
    carrier_message_id: str | None
    error_code: str | None
    error_message: str | None
    status_callback: str | None


def payload(message: Message | MessageColumns, at: datetime) -> str:
    """The JSON body receivers get; keys are stable and documented in docs/webhooks.md."""
    return json.dumps(
        {
            "event": EVENT,
            "message_id": message.id,
            "status": message.status,
            "direction": message.direction,
            "to": message.recipient,
            "from": message.sender,
            "segments": message.segments,
            "carrier_message_id": message.carrier_message_id,
            "error_code": message.error_code,
            "error_message": message.error_message,
            "at": at.isoformat(),
        },
        separators=(",", ":"),
    )


async def enqueue(
    session: AsyncSession, messages: Iterable[Message | MessageColumns], at: datetime
) -> int:
    """Queue one callback per message that has a callback URL (its own or the workspace's)."""
    batch = [m for m in messages if m.direction == "outbound"]
    if not batch:
        return 0
    defaults = await workspace_urls(session, {m.workspace_id for m in batch})
    rows = []
    for message in batch:
        url = message.status_callback or defaults.get(message.workspace_id)
        if not url:
            continue
        rows.append(
            WebhookDelivery(
                id=new_id("whd"),
                workspace_id=message.workspace_id,
                message_id=message.id,
                event=EVENT,
                url=url,
                payload=payload(message, at),
                status="pending",
                attempts=0,
                next_attempt_at=at,
                created_at=at,
                updated_at=at,
            )
        )
    session.add_all(rows)
    return len(rows)


async def workspace_urls(session: AsyncSession, workspace_ids: set[str]) -> dict[str, str]:
    """Each workspace's default callback URL, read once per session (a batch of status
    changes then costs one query, not one per message)."""
    known: dict[str, str | None] = session.info.setdefault("webhook_urls", {})
    bind = session.get_bind()
    for workspace_id in workspace_ids - known.keys():  # already loaded (an accepting request)
        loaded = session.identity_map.get(identity_key(Workspace, workspace_id))
        if isinstance(loaded, Workspace):
            known[workspace_id] = read_settings(loaded.settings).webhook_url
        elif (kept := config_cache.get(bind, _URL, workspace_id)) is not None:
            known[workspace_id] = kept[0]
    missing = workspace_ids - known.keys()
    if missing:
        rows = await session.execute(
            select(Workspace.id, Workspace.settings).where(Workspace.id.in_(missing))
        )
        for workspace_id, raw in rows:
            known[workspace_id] = read_settings(raw).webhook_url
            # Kept across sessions too (a batch of delivery reports opens one of its own),
            # as (url,) so that "no URL" is kept as well.
            config_cache.put(bind, _URL, workspace_id, (known[workspace_id],))
    return {w: url for w in workspace_ids if (url := known.get(w))}


async def deliveries_of(
    session: AsyncSession, actor: Actor, message_id: str
) -> list[tuple[WebhookDelivery, list[WebhookAttempt]]]:
    """Every callback of a message with each attempt, for the API and the UI."""
    actor.require(Permission.READ)
    deliveries = list(
        await session.scalars(
            select(WebhookDelivery)
            .where(
                WebhookDelivery.workspace_id == actor.workspace_id,
                WebhookDelivery.message_id == message_id,
            )
            .order_by(WebhookDelivery.id)
        )
    )
    attempts: dict[str, list[WebhookAttempt]] = {d.id: [] for d in deliveries}
    if deliveries:
        for attempt in await session.scalars(
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id.in_(list(attempts)))
            .order_by(WebhookAttempt.id)
        ):
            attempts[attempt.delivery_id].append(attempt)
    return [(d, attempts[d.id]) for d in deliveries]
