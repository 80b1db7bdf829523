"""Finding or creating the contact behind a number, for sends and inbound texts."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from recado.db.tables import Contact, utcnow
from recado.db.upsert import insert_for
from recado.domain.phone import PhoneNumber
from recado.ids import new_id


async def find_contact(session: AsyncSession, workspace_id: str, e164: str) -> Contact | None:
    return await session.scalar(
        select(Contact).where(Contact.workspace_id == workspace_id, Contact.phone == e164)
    )


async def ensure_contact(session: AsyncSession, workspace_id: str, phone: PhoneNumber) -> Contact:
    """The workspace's contact for `phone`, created if there is none."""
    found = await find_contact(session, workspace_id, phone.e164)
    return found or await create_contact(session, workspace_id, phone)


def new_contact_row(
    workspace_id: str, phone: PhoneNumber, *, sticky_sender: str | None = None
) -> dict[str, Any]:
    """The row of a contact known only by its number (its region and zone come from it)."""
    now = utcnow()
    return {
        "id": new_id("ct"),
        "workspace_id": workspace_id,
        "phone": phone.e164,
        "region": phone.region,
        "timezone": phone.timezone,
        "timezone_explicit": False,
        "attributes": {},
        "sticky_sender": sticky_sender,
        "created_at": now,
        "updated_at": now,
    }


async def create_contact(
    session: AsyncSession,
    workspace_id: str,
    phone: PhoneNumber,
    *,
    sticky_sender: str | None = None,
) -> Contact:
    """A new contact for `phone` (who will hear from `sticky_sender`), for a caller that just
    looked and found none. One statement: if a concurrent request created it a moment ago,
    that one wins and is read."""
    created = await session.scalar(
        insert_for(session, Contact)
        .values(**new_contact_row(workspace_id, phone, sticky_sender=sticky_sender))
        .on_conflict_do_nothing(index_elements=["workspace_id", "phone"])
        .returning(Contact)
    )
    if created is not None:
        return created
    found = await find_contact(session, workspace_id, phone.e164)
    assert found is not None
    return found
