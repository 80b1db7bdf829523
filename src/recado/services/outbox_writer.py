"""Writing accepted messages into the outbox: alone, or many requests in one transaction.

Accepting a text reads what it needs (the contact, consent, the sender, the rate card) and
builds the rows it will write as a `NewMessage`; `store` then writes the rows of any number
of them with one statement per table. `OutboxWriter` is the API's group commit: the texts
accepted at the same moment are stored together and each request is answered once its
row is committed, never before.

Why: on SQLite a process writes one transaction at a time. When each request wrote its own
rows, it held that turn across five statements, each a trip to the database thread during
which the event loop served other requests, and the API topped out near 160 texts a second.
A batch pays those trips once.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from types import SimpleNamespace
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from recado.db.group_commit import GroupCommit
from recado.db.tables import (
    MESSAGE_EVENTS,
    MESSAGES,
    Contact,
    Link,
    Message,
    Suppression,
    event_row,
)
from recado.db.upsert import insert_for
from recado.domain import links as domain_links
from recado.domain.links import LINK_PATH
from recado.services import consent, status_callbacks
from recado.services.links import codes_in_use

BATCH = 256  # requests per transaction, at most
_CONTACTS = cast(Table, Contact.__table__)
_LINKS = cast(Table, Link.__table__)
# The columns of a message that an accepted one has not filled yet.
_NOT_YET = {
    "carrier_message_id": None,
    "error_code": None,
    "error_message": None,
    "sent_at": None,
    "delivered_at": None,
}


@dataclass
class NewMessage:
    """One accepted message's rows, built without writing anything."""

    row: dict[str, Any]  # the messages row
    events: list[tuple[str, str]]  # (status, detail) of its first events, in order
    new_contact: dict[str, Any] | None = None  # the contact to create for its recipient
    sticky_sender: str | None = None  # the contact's sender to set, when it changes
    links: list[dict[str, Any]] = field(default_factory=list)

    @cached_property
    def message(self) -> Message:
        """The row as a (transient) Message. Made only when asked for: SQLAlchemy's
        bookkeeping makes it cost more than the rest of the API's answer."""
        return Message(**self.row)

    def fields(self) -> SimpleNamespace:
        """The message's columns as attributes, unfilled ones None: enough for an answer."""
        return SimpleNamespace(**_NOT_YET, **self.row)

    def recode(self, link: dict[str, Any], new: str) -> None:
        """One of its link codes turned out to be taken: that link uses `new` instead."""
        # The first occurrence: the links are in the order of the text.
        before, after = f"{LINK_PATH}{link['code']}", f"{LINK_PATH}{new}"
        self.row["body"] = self.row["body"].replace(before, after, 1)
        if "message" in self.__dict__:
            self.message.body = self.row["body"]
        link["code"] = new

    def belongs_to(self, contact_id: str) -> None:
        """Its recipient's contact turned out to exist already (created a moment ago)."""
        self.row["contact_id"] = contact_id
        if "message" in self.__dict__:
            self.message.contact_id = contact_id
        for link in self.links:
            link["contact_id"] = contact_id


async def store(session: AsyncSession, items: list[NewMessage]) -> None:
    """Insert the rows of `items`: one statement per table for all of them. Does not commit.
    A link code already in use is drawn again; a repeated idempotency key (or a code another
    process took between the check and the insert) makes it raise IntegrityError."""
    await _free_link_codes(session, items)
    raced = {id(item) for item in await _create_contacts(session, items)}
    sticky = [
        {"b_id": item.row["contact_id"], "b_sender": item.sticky_sender or item.row["sender"]}
        for item in items
        if item.sticky_sender is not None or id(item) in raced
    ]
    if sticky:
        await session.execute(
            update(_CONTACTS)
            .where(_CONTACTS.c.id == bindparam("b_id"))
            .values(sticky_sender=bindparam("b_sender")),
            sticky,
        )
    await session.execute(insert(MESSAGES), [item.row for item in items])
    events = [
        event_row(item.row["id"], item.row["workspace_id"], status, detail, item.row["created_at"])
        for item in items
        for status, detail in item.events
    ]
    await session.execute(insert(MESSAGE_EVENTS), events)
    links = [link for item in items for link in item.links]
    if links:
        await session.execute(insert(_LINKS), links)
    defaults = await status_callbacks.workspace_urls(
        session, {item.row["workspace_id"] for item in items}
    )
    for item in items:  # only a text with somewhere to call back needs its Message
        if item.row["status_callback"] or defaults.get(item.row["workspace_id"]):
            await status_callbacks.enqueue(session, [item.message], item.row["created_at"])


async def _free_link_codes(session: AsyncSession, items: list[NewMessage]) -> None:
    """Give a new code to each link whose code another link, or another link of this batch,
    already has: one query for the whole batch. A collision is rare (odds of live links /
    2.2e14 a code), but a code is a key."""
    to_check = [link["code"] for item in items for link in item.links]
    while to_check:
        taken = await codes_in_use(session, to_check)
        drawn = Counter(link["code"] for item in items for link in item.links)
        taken |= {code for code, count in drawn.items() if count > 1}
        to_check = []
        for item in items:
            for link in item.links:
                if link["code"] in taken:
                    new = domain_links.new_code(len(link["code"]))
                    item.recode(link, new)
                    to_check.append(new)


async def _create_contacts(session: AsyncSession, items: list[NewMessage]) -> list[NewMessage]:
    """Create the new recipients' contacts; the items whose contact someone else created a
    moment before (or another item of this batch), now pointing at that contact."""
    rows = {
        (item.row["workspace_id"], item.row["recipient"]): item.new_contact
        for item in reversed(items)  # the first of two items for one number wins
        if item.new_contact is not None
    }
    if not rows:
        return []
    created = set(
        await session.scalars(
            insert_for(session, _CONTACTS)
            .on_conflict_do_nothing(index_elements=["workspace_id", "phone"])
            .returning(_CONTACTS.c.id),
            list(rows.values()),
        )
    )
    raced = [
        item
        for item in items
        if item.new_contact is not None and item.row["contact_id"] not in created
    ]
    if not raced:
        return []
    existing = await session.execute(
        select(Contact.workspace_id, Contact.phone, Contact.id).where(
            Contact.phone.in_({item.row["recipient"] for item in raced}),
            Contact.workspace_id.in_({item.row["workspace_id"] for item in raced}),
        )
    )
    ids = {(workspace_id, phone): contact_id for workspace_id, phone, contact_id in existing}
    for item in raced:
        item.belongs_to(ids[(item.row["workspace_id"], item.row["recipient"])])
    return raced


@dataclass(frozen=True)
class Recipient:
    """What a send must know of its number before it builds its rows."""

    contact: Contact | None  # None: a number the workspace has never texted
    suppressed: str | None  # why it gets no texts (`opt_out`, `erased`), or None


# Built once: making the IN lists anew for every batch cost more than running the queries.
_CONTACTS_OF = select(Contact).where(
    Contact.workspace_id.in_(bindparam("workspaces", expanding=True)),
    Contact.phone.in_(bindparam("phones", expanding=True)),
)
_SUPPRESSIONS_OF = select(
    Suppression.workspace_id, Suppression.phone_hash, Suppression.reason
).where(
    Suppression.workspace_id.in_(bindparam("workspaces", expanding=True)),
    Suppression.phone_hash.in_(bindparam("hashes", expanding=True)),
)


async def look_up(
    session: AsyncSession, asks: list[tuple[str, str, str | None]]
) -> list[Recipient]:
    """For each (workspace, E.164 number, suppression key or None not to check): its contact
    and its suppression, for all of them with two queries."""
    workspaces = list({workspace_id for workspace_id, _, _ in asks})
    contacts = {
        (contact.workspace_id, contact.phone): contact
        for contact in await session.scalars(
            _CONTACTS_OF, {"workspaces": workspaces, "phones": list({e for _, e, _ in asks})}
        )
    }
    hashes = {(w, e164): consent.phone_hash(key, e164) for w, e164, key in asks if key}
    reasons: dict[tuple[str, str], str] = {}
    if hashes:
        rows = await session.execute(
            _SUPPRESSIONS_OF, {"workspaces": workspaces, "hashes": list(set(hashes.values()))}
        )
        reasons = {(workspace_id, digest): reason for workspace_id, digest, reason in rows}
    return [
        Recipient(
            contacts.get((workspace_id, e164)),
            reasons.get((workspace_id, hashes.get((workspace_id, e164), ""))),
        )
        for workspace_id, e164, _ in asks
    ]


class OutboxWriter:
    """The API's batches: recipients looked up together, accepted texts committed together
    (see db/group_commit.py)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions
        self._batches = GroupCommit(self._store, limit=BATCH, name="accepted-messages")
        self._lookups = GroupCommit(self._look_up, limit=BATCH, name="recipient-lookups")

    async def recipient(self, workspace_id: str, e164: str, key: str | None) -> Recipient:
        """The number's contact, and its suppression when `key` (the workspace's hashing
        key) is given; looked up with the other requests' numbers of this moment."""
        return await self._lookups.submit((workspace_id, e164, key))

    async def _look_up(self, asks: list[tuple[str, str, str | None]]) -> list[Recipient]:
        async with self.sessions() as session:
            return await look_up(session, asks)

    async def write(self, item: NewMessage) -> None:
        """Returns once the item's rows are committed; raises what storing it alone raised."""
        await self._batches.submit(item)

    async def _store(self, items: list[NewMessage]) -> list[None]:
        async with self.sessions() as session:
            await store(session, items)
            await session.commit()
        return [None] * len(items)
