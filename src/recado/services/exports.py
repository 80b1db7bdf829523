"""Exporting contacts as CSV, streamed in chunks so no export holds the audience in memory.

The columns are the standard fields, the tags joined by ';', created_at, then one column per
custom attribute key found in the exported contacts. A file exported here imports back as the
same contacts (see services/imports.py): the header names the fields exactly.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from typing import Any, TextIO

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from recado.db.tables import Contact, ContactList, ContactTag, ListMember
from recado.domain.roles import Permission
from recado.errors import NotFound
from recado.services.actor import Actor

CHUNK_ROWS = 2000
FIELDS = ("phone", "first_name", "last_name", "email", "language", "timezone", "external_id")


async def export_contacts(
    session: AsyncSession, actor: Actor, out: TextIO, *, list_id: str | None = None
) -> int:
    """Write the workspace's contacts (or the subscribed members of one list) to `out` as CSV;
    returns how many contacts were written."""
    await _check(session, actor, list_id)
    written = 0
    async for part, rows in _rows_as_csv(session, actor.workspace_id, list_id):
        out.write(part)
        written += rows
    return written


async def contacts_csv(
    session: AsyncSession, actor: Actor, *, list_id: str | None = None
) -> AsyncIterator[str]:
    """The CSV text in parts, for a streamed HTTP response. Checks the permission and the list
    before returning, so that an error is raised before the first byte is sent."""
    await _check(session, actor, list_id)

    async def parts() -> AsyncIterator[str]:
        async for part, _ in _rows_as_csv(session, actor.workspace_id, list_id):
            yield part

    return parts()


async def _check(session: AsyncSession, actor: Actor, list_id: str | None) -> None:
    # Exporting the whole audience is a bulk copy of personal data: audience managers only.
    actor.require(Permission.MANAGE_AUDIENCE)
    if list_id is None:
        return
    found = await session.scalar(
        select(ContactList.id).where(
            ContactList.workspace_id == actor.workspace_id, ContactList.id == list_id
        )
    )
    if found is None:
        raise NotFound(f"No list with id {list_id} in this workspace.")


async def _rows_as_csv(
    session: AsyncSession, workspace_id: str, list_id: str | None
) -> AsyncIterator[tuple[str, int]]:
    # The header needs every attribute key before the first row: a first pass reads only them.
    keys: set[str] = set()
    async for chunk in _chunks(session, _query(workspace_id, list_id, Contact.attributes)):
        for _, attributes in chunk:
            keys.update(attributes or {})
    attribute_keys = sorted(keys)

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([*FIELDS, "tags", "created_at", *attribute_keys])
    yield _drain(buffer), 0
    columns = [getattr(Contact, name) for name in FIELDS]
    query = _query(workspace_id, list_id, *columns, Contact.created_at, Contact.attributes)
    async for chunk in _chunks(session, query):
        tags = await _tags_of(session, workspace_id, [row[0] for row in chunk])
        for contact_id, *values, created_at, attributes in chunk:
            attributes = attributes or {}
            writer.writerow(
                [
                    *values,
                    ";".join(tags.get(contact_id, ())),
                    created_at.isoformat(),
                    *(_cell(attributes.get(key)) for key in attribute_keys),
                ]
            )
        yield _drain(buffer), len(chunk)


def _query(workspace_id: str, list_id: str | None, *columns: Any) -> Select[Any]:
    query = select(Contact.id, *columns).where(Contact.workspace_id == workspace_id)
    if list_id is not None:
        query = query.join(
            ListMember,
            (ListMember.contact_id == Contact.id)
            & (ListMember.list_id == list_id)
            & (ListMember.workspace_id == workspace_id)
            & (ListMember.status == "subscribed"),
        )
    return query


async def _chunks(session: AsyncSession, query: Select[Any]) -> AsyncIterator[list[Any]]:
    """Pages of rows in id order (ids follow creation), by keyset: each page is one query."""
    after = ""
    while True:
        rows = list(
            await session.execute(
                query.where(Contact.id > after).order_by(Contact.id).limit(CHUNK_ROWS)
            )
        )
        if not rows:
            return
        yield rows
        after = rows[-1][0]


async def _tags_of(
    session: AsyncSession, workspace_id: str, contact_ids: list[str]
) -> dict[str, list[str]]:
    tags: dict[str, list[str]] = {}
    rows = await session.execute(
        select(ContactTag.contact_id, ContactTag.tag)
        .where(ContactTag.workspace_id == workspace_id, ContactTag.contact_id.in_(contact_ids))
        .order_by(ContactTag.contact_id, ContactTag.tag)
    )
    for contact_id, tag in rows:
        tags.setdefault(contact_id, []).append(tag)
    return tags


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text
