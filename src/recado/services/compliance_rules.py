"""A workspace's sending rules applied to one contact: quiet hours and frequency caps.

The rules themselves are pure (`domain.quiet_hours`, `domain.frequency_caps`); this module
reads the workspace's settings and the contact's recent marketing texts to apply them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from recado.db.tables import Contact, Message, Workspace
from recado.domain import frequency_caps, quiet_hours
from recado.domain.message_status import MessageStatus
from recado.domain.workspace_settings import WorkspaceSettings, read_settings

# A marketing text counts toward the cap once it left, or may have left, for the carrier.
COUNTED = tuple(
    s.value
    for s in (
        MessageStatus.SENDING,
        MessageStatus.SENT,
        MessageStatus.DELIVERED,
        MessageStatus.UNDELIVERED,
        MessageStatus.UNKNOWN,
    )
)


@dataclass(frozen=True)
class SendingWindow:
    next_allowed: datetime  # the moment asked about when it is allowed now
    explanation: str


@dataclass(frozen=True)
class Rules:
    settings: WorkspaceSettings

    def quiet_hours(self, contact: Contact, now: datetime) -> SendingWindow:
        clock = recipient_clock(contact)
        policy = self.settings.quiet_hours_policy()
        moment = quiet_hours.next_allowed_moment(now, clock, policy)
        return SendingWindow(moment, f"quiet hours ({quiet_hours.describe_window(clock, policy)})")

    def frequency_horizon(self) -> timedelta:
        """How far back earlier marketing texts matter to the frequency rules."""
        policy = self.settings.frequency_policy()
        return max(policy.window, policy.min_gap or policy.window)

    async def frequency(self, session: AsyncSession, contact: Contact, now: datetime) -> str | None:
        """Why the contact may not get another marketing text now, or None."""
        recent = await recent_marketing(session, {contact.id}, now - self.frequency_horizon())
        verdict = frequency_caps.check_frequency(
            recent[contact.id], now, self.settings.frequency_policy()
        )
        return None if verdict.allowed else verdict.detail


async def recent_marketing(
    session: AsyncSession,
    contact_ids: set[str],
    horizon: datetime,
    *,
    excluding: Sequence[str] = (),
) -> dict[str, list[datetime]]:
    """When each contact's earlier marketing texts went, since `horizon` (one query)."""
    recent: dict[str, list[datetime]] = defaultdict(list)
    if not contact_ids:
        return recent
    # A text still `sending` (or `unknown`) has no sent_at yet but counts all the same.
    at = func.coalesce(Message.sent_at, Message.updated_at)
    query = select(Message.contact_id, at).where(
        Message.contact_id.in_(contact_ids),
        Message.direction == "outbound",
        Message.category == "marketing",
        Message.status.in_(COUNTED),
        at >= horizon,
    )
    if excluding:
        query = query.where(Message.id.not_in(excluding))
    for contact_id, when in await session.execute(query):
        if contact_id is not None and when is not None:
            recent[contact_id].append(when)
    return recent


def recipient_clock(contact: Contact) -> quiet_hours.RecipientClock:
    attributes = contact.attributes or {}
    state = attributes.get("state") or attributes.get("region")
    return quiet_hours.recipient_clock(
        contact.phone,
        contact.timezone if contact.timezone_explicit else None,
        str(state) if state else None,
    )


async def for_workspace(session: AsyncSession, workspace_id: str) -> Rules:
    workspace = await session.get(Workspace, workspace_id)
    assert workspace is not None
    return Rules(read_settings(workspace.settings))
