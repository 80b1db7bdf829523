"""Prices: the workspace's rate card (its own entries over the default rates) and costs."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from recado.db.tables import RateCardEntry
from recado.domain.pricing import CostEstimate, Rate, RateCard, from_micros, total_cost


async def rate_card(session: AsyncSession, workspace_id: str) -> RateCard:
    """The workspace's rate card; destinations it does not cover get the default rates."""
    rows = await session.scalars(
        select(RateCardEntry).where(RateCardEntry.workspace_id == workspace_id)
    )
    rates = tuple(
        Rate(row.prefix, from_micros(row.price_micros), row.currency, row.sender_kind)
        for row in rows
    )
    return RateCard(rates, fallback=RateCard()) if rates else RateCard()


async def audience_cost(
    session: AsyncSession,
    workspace_id: str,
    messages: Iterable[tuple[str, int, str | None]],
) -> CostEstimate:
    """The exact cost of `messages`, each (E.164 recipient, parts, sender kind or None),
    on the workspace's rate card."""
    return total_cost(await rate_card(session, workspace_id), messages)
