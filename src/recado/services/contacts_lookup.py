"""Finding or creating the contact behind a number, for sends and inbound texts."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from recado.db.tables import Contact
from recado.domain.phone import PhoneNumber
from recado.ids import new_id


async def ensure_contact(session: AsyncSession, workspace_id: str, phone: PhoneNumber) -> Contact:
    query = select(Contact).where(Contact.workspace_id == workspace_id, Contact.phone == phone.e164)
    contact = await session.scalar(query)
    if contact is not None:
        return contact
    contact = Contact(
        id=new_id("ct"),
        workspace_id=workspace_id,
        phone=phone.e164,
        region=phone.region,
        timezone=phone.timezone,
        attributes={},
    )
    try:
        async with session.begin_nested():
            session.add(contact)
    except IntegrityError:
        # Someone else created it a moment ago.
        found = await session.scalar(query)
        assert found is not None
        return found
    return contact
