"""A campaign's audience: lists and segments, minus excluded ones, as one WHERE over contacts.

`{"lists": [...], "segments": [...], "exclude_lists": [...], "exclude_segments": [...]}`
becomes a condition on `contacts`: subscribed to one of the lists or matching one of the
segments, and neither subscribed to an excluded list nor matching an excluded segment. The
caller selects contacts with it, so a contact in several lists comes out once (each contact
row is read once), and walks them in id order (keyset) in chunks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, false, func, not_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from recado.db.tables import Contact, ContactList, ListMember, Segment
from recado.errors import ValidationFailed

KEYS = ("lists", "segments", "exclude_lists", "exclude_segments")
MAX_IDS = 50


@dataclass(frozen=True)
class Audience:
    lists: tuple[str, ...] = ()
    segments: tuple[str, ...] = ()
    exclude_lists: tuple[str, ...] = ()
    exclude_segments: tuple[str, ...] = ()

    @classmethod
    def parse(cls, raw: Mapping[str, Any] | None) -> Audience:
        """From the campaign's JSON; unknown keys and non-string ids are refused."""
        raw = raw or {}
        unknown = set(raw) - set(KEYS)
        if unknown:
            raise ValidationFailed(
                f"Unknown audience key {sorted(unknown)[0]!r}: use {', '.join(KEYS)}.",
                field="audience",
            )
        values: dict[str, tuple[str, ...]] = {}
        for key in KEYS:
            ids = raw.get(key) or []
            if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
                raise ValidationFailed(f"audience.{key} is a list of ids.", field="audience")
            if len(ids) > MAX_IDS:
                raise ValidationFailed(f"At most {MAX_IDS} ids in audience.{key}.", field=key)
            values[key] = tuple(dict.fromkeys(ids))
        return cls(**values)

    def to_json(self) -> dict[str, list[str]]:
        return {key: list(getattr(self, key)) for key in KEYS}

    @property
    def empty(self) -> bool:
        return not self.lists and not self.segments


async def check(session: AsyncSession, workspace_id: str, audience: Audience) -> None:
    """Every list and segment named exists in this workspace (else a clear error)."""
    for key, table in (
        ("lists", ContactList),
        ("exclude_lists", ContactList),
        ("segments", Segment),
        ("exclude_segments", Segment),
    ):
        ids = getattr(audience, key)
        if not ids:
            continue
        found = set(
            await session.scalars(
                select(table.id).where(table.workspace_id == workspace_id, table.id.in_(ids))
            )
        )
        missing = [i for i in ids if i not in found]
        if missing:
            kind = "list" if "lists" in key else "segment"
            raise ValidationFailed(
                f"No {kind} with id {missing[0]} in this workspace.", field=f"audience.{key}"
            )


async def condition(
    session: AsyncSession,
    workspace_id: str,
    audience: Audience,
    now: datetime,
    *,
    walk_by_id: bool = False,
) -> ColumnElement[bool]:
    """The WHERE clause over `Contact` that selects the audience (workspace included).

    `walk_by_id`: the caller pages through it by contact id (keyset). SQLite, without
    statistics, would otherwise read the whole workspace by its (workspace_id, ...) index
    and sort it for every page; an expression on workspace_id leaves it the primary key."""
    included: list[ColumnElement[bool]] = []
    if audience.lists:
        included.append(_subscribed_to(audience.lists))
    for segment_id in audience.segments:
        included.append(await _segment(session, workspace_id, segment_id, now))
    in_workspace = Contact.workspace_id == workspace_id
    if walk_by_id and session.get_bind().dialect.name == "sqlite":
        in_workspace = func.coalesce(Contact.workspace_id, "") == workspace_id
    where: list[ColumnElement[bool]] = [
        in_workspace,
        or_(*included) if included else false(),
    ]
    if audience.exclude_lists:
        where.append(not_(_subscribed_to(audience.exclude_lists)))
    for segment_id in audience.exclude_segments:
        where.append(not_(await _segment(session, workspace_id, segment_id, now)))
    return and_(*where)


def _subscribed_to(list_ids: tuple[str, ...]) -> ColumnElement[bool]:
    """The contact is a subscribed member of one of the lists (the primary key's index)."""
    return exists(
        select(ListMember.contact_id).where(
            ListMember.contact_id == Contact.id,
            ListMember.list_id.in_(list_ids),
            ListMember.status == "subscribed",
        )
    )


async def _segment(
    session: AsyncSession, workspace_id: str, segment_id: str, now: datetime
) -> ColumnElement[bool]:
    from recado.services import segments  # noqa: PLC0415  (written beside this module)

    clause: ColumnElement[bool] = await segments.contact_filter(  # type: ignore[attr-defined]
        session, workspace_id, segment_id, now
    )
    return clause
