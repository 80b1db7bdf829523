"""Delivery reports that matched no message: kept per connection, newest first, so an
operator can see which ids the carrier sends (usually a `submit_id_format` or
`receipt_id_format` that does not match how the carrier writes them)."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from recado.carriers.base import DeliveryReport
from recado.db.tables import CarrierConnection, UnmatchedReport, utcnow
from recado.domain.roles import Permission
from recado.services.actor import Actor
from recado.services.carrier_setup import get_connection

# The newest this many of each connection are kept: a misconfigured carrier that reports
# thousands a second must not fill the database.
KEEP = 1000
SHOWN = 100


async def keep(session: AsyncSession, report: DeliveryReport) -> None:
    """Store the report and drop the connection's oldest beyond KEEP (not committed)."""
    workspace_id = await session.scalar(
        select(CarrierConnection.workspace_id).where(CarrierConnection.id == report.connector)
    )
    session.add(
        UnmatchedReport(
            workspace_id=workspace_id,
            connector=report.connector,
            carrier_message_id=report.carrier_message_id[:100],
            status=report.status,
            error_code=report.error_code,
            received_at=utcnow(),
        )
    )
    await session.flush()
    oldest_kept = (
        select(UnmatchedReport.id)
        .where(UnmatchedReport.connector == report.connector)
        .order_by(UnmatchedReport.id.desc())
        .offset(KEEP - 1)
        .limit(1)
        .scalar_subquery()
    )
    await session.execute(
        delete(UnmatchedReport).where(
            UnmatchedReport.connector == report.connector, UnmatchedReport.id < oldest_kept
        )
    )


async def of_connection(
    session: AsyncSession, actor: Actor, connection_id: str
) -> list[UnmatchedReport]:
    """The connection's newest unmatched reports, for its workspace only."""
    actor.require(Permission.READ)
    connection = await get_connection(session, actor, connection_id)  # 404 for other workspaces
    return list(
        await session.scalars(
            select(UnmatchedReport)
            .where(
                UnmatchedReport.workspace_id == actor.workspace_id,
                UnmatchedReport.connector == connection.id,
            )
            .order_by(UnmatchedReport.id.desc())
            .limit(SHOWN)
        )
    )
