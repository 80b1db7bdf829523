"""Tracked links: shorten the URLs of outgoing texts, follow a click, list a message's clicks.

A code lives in one of two places, in one code space: a `links` row (`track_links` for one
message inside the caller's transaction; `prepare_links` and `insert_links` for texts with
several URLs), or, for a campaign text with one URL, the message row itself (`link_code`,
`link_url`: the fan-out writes no link row per recipient). `record_click` is the redirect's
whole database work: one or two reads by a unique key and one insert.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from recado.db.tables import Click, Link, Message, Workspace, utcnow
from recado.db.upsert import insert_for
from recado.domain import links
from recado.domain.roles import Permission
from recado.domain.workspace_settings import read_settings
from recado.errors import NotFound, ValidationFailed
from recado.services.actor import Actor

MAX_USER_AGENT = 500  # the width of clicks.user_agent

log = logging.getLogger(__name__)


async def track_links(
    session: AsyncSession,
    workspace_id: str,
    text: str,
    *,
    message_id: str,
    contact_id: str | None,
    campaign_id: str | None = None,
    base_url: str,
) -> str:
    """`text` with every URL replaced by a short link of its own for this recipient and
    message; one `Link` row per URL occurrence is added to the session.

    `base_url` is Recado's public URL, used when the workspace has no short domain. Nothing
    is committed: the rows go in with the caller's transaction. A link refers to its message,
    so add the message row to the session first (this flushes it), then set its body to the
    text returned and count its parts on that text.
    """
    if "://" not in text:
        return text
    workspace = await session.get(Workspace, workspace_id)  # usually already in the session
    if workspace is None:
        raise NotFound(f"No workspace {workspace_id}.")
    text, rows = await short_links(
        session,
        workspace_id,
        text,
        short_domain=read_settings(workspace.settings).short_domain,
        message_id=message_id,
        contact_id=contact_id,
        campaign_id=campaign_id,
        base_url=base_url,
    )
    if rows:
        # The message row first: the unit of work does not order tables by foreign key alone.
        await session.flush()
        session.add_all(Link(**row) for row in rows)
    return text


async def short_links(
    session: AsyncSession,
    workspace_id: str,
    text: str,
    *,
    short_domain: str | None,
    message_id: str,
    contact_id: str | None,
    campaign_id: str | None = None,
    base_url: str,
) -> tuple[str, list[dict[str, Any]]]:
    """`text` with short links under the workspace's `short_domain` (else `base_url`), and
    their `Link` rows as dicts, to be inserted after the message; reads only (that the new
    codes are unused)."""
    base = links.link_base(short_domain, base_url)
    count = len(links.find_urls(text, skip_base=base))
    if not count:
        return text, []
    return prepare_links(
        text,
        workspace_id=workspace_id,
        message_id=message_id,
        contact_id=contact_id,
        campaign_id=campaign_id,
        base=base,
        codes=iter(await _unused_codes(session, count)),
    )


def prepare_links(
    text: str,
    *,
    workspace_id: str,
    message_id: str,
    contact_id: str | None,
    campaign_id: str | None = None,
    base: str,
    codes: Iterator[str] | None = None,
    now: datetime | None = None,
) -> tuple[str, list[dict[str, Any]]]:
    """The text of one recipient with short links, and its link rows as plain dicts.

    No database: a campaign calls this for every recipient of a chunk, collects the rows and
    stores them all with one `insert_links` after inserting the messages. `base` comes from
    `links.link_base(short_domain, base_url)`, computed once per campaign; `codes` from
    `links.code_stream()`, one per fan-out task (one random read per code otherwise).
    """
    found = links.find_urls(text, skip_base=base)
    if not found:
        return text, []
    if codes is None:
        codes = iter(links.new_codes(len(found)))
    created_at = now or utcnow()
    rows: list[dict[str, Any]] = []
    for occurrence in reversed(found):  # from the end, so that earlier positions hold
        code = next(codes)
        text = f"{text[: occurrence.start]}{base}{links.LINK_PATH}{code}{text[occurrence.end :]}"
        rows.append(
            {
                "code": code,
                "workspace_id": workspace_id,
                "url": occurrence.url,
                "message_id": message_id,
                "contact_id": contact_id,
                "campaign_id": campaign_id,
                "created_at": created_at,
            }
        )
    rows.reverse()
    return text, rows


async def insert_links(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> dict[str, str]:
    """Store rows from `prepare_links` in one statement; does not commit.

    The messages they name must be inserted first. A code that another link already has
    (odds of live links / 2.2e14 per code) is redrawn, and the body of its message rewritten
    to match; the answer maps each redrawn code to its replacement, almost always {}.
    """
    redrawn: dict[str, str] = {}
    pending = list(rows)
    while pending:
        inserted = await _insert_new(session, pending)
        seen: set[str] = set()
        collided: list[dict[str, Any]] = []
        for row in pending:
            # ON CONFLICT DO NOTHING also drops the second of two equal codes in one batch.
            if row["code"] not in inserted or row["code"] in seen:
                collided.append(row)
            seen.add(row["code"])
        pending = []
        for row in collided:
            old, new = row["code"], links.new_code(len(row["code"]))
            await session.execute(
                update(Message)
                .where(Message.workspace_id == row["workspace_id"], Message.id == row["message_id"])
                .values(
                    body=func.replace(
                        Message.body, f"{links.LINK_PATH}{old}", f"{links.LINK_PATH}{new}"
                    )
                )
                .execution_options(synchronize_session=False)
            )
            first = next((k for k, v in redrawn.items() if v == old), old)
            redrawn[first] = new
            pending.append({**row, "code": new})
    return redrawn


async def record_click(session: AsyncSession, code: str, user_agent: str | None) -> str | None:
    """The target URL of `code`, after recording the click; None for an unknown code.

    Commits: the click is stored before the redirect answers. A click that cannot be stored
    (a database busy past its timeout) is logged and the URL still returned: the reader
    matters more than the count.
    """
    if not links.is_code(code):
        return None
    link = (
        await session.execute(
            select(
                Link.url, Link.workspace_id, Link.message_id, Link.contact_id, Link.campaign_id
            ).where(Link.code == code)
        )
    ).first()
    if link is None:  # a campaign text's code, on its message
        link = (
            await session.execute(
                select(
                    Message.link_url,
                    Message.workspace_id,
                    Message.id,
                    Message.contact_id,
                    Message.campaign_id,
                ).where(Message.link_code == code)
            )
        ).first()
    if link is None:
        return None
    url, workspace_id, message_id, contact_id, campaign_id = link
    try:
        await session.execute(
            insert(Click).values(
                link_code=code,
                url=url,
                workspace_id=workspace_id,
                message_id=message_id,
                contact_id=contact_id,
                campaign_id=campaign_id,
                at=utcnow(),
                user_agent=user_agent[:MAX_USER_AGENT] if user_agent else None,
            )
        )
        await session.commit()
    except SQLAlchemyError:
        log.exception("click on link %s not recorded", code)
        await session.rollback()
    return str(url)


@dataclass(frozen=True)
class ClickView:
    """One click on a link of a message."""

    id: int
    at: datetime
    user_agent: str | None
    url: str | None
    code: str
    contact_id: str | None


async def message_clicks(
    session: AsyncSession,
    actor: Actor,
    message_id: str,
    *,
    limit: int = 100,
    cursor: str | None = None,
) -> tuple[list[ClickView], str | None]:
    """Clicks on the links of a message of the actor's workspace, oldest first.

    Raises NotFound for a message of another workspace. `cursor` is the `next_cursor` of
    the previous page.
    """
    actor.require(Permission.READ)
    owned = await session.scalar(
        select(Message.id).where(
            Message.workspace_id == actor.workspace_id, Message.id == message_id
        )
    )
    if owned is None:
        raise NotFound(f"No message with id {message_id} in this workspace.")
    query = (
        select(Click.id, Click.at, Click.user_agent, Click.url, Click.link_code, Click.contact_id)
        .where(Click.workspace_id == actor.workspace_id, Click.message_id == message_id)
        .order_by(Click.id)
        .limit(limit + 1)
    )
    if cursor:
        if not cursor.isdigit():
            raise ValidationFailed("cursor is the next_cursor of a previous page.", field="cursor")
        query = query.where(Click.id > int(cursor))
    rows = [ClickView(*row) for row in await session.execute(query)]
    next_cursor = str(rows[limit - 1].id) if len(rows) > limit else None
    return rows[:limit], next_cursor


async def _unused_codes(session: AsyncSession, count: int) -> list[str]:
    """`count` new codes that no link or message has yet (a collision is rare, but a key)."""
    codes = links.new_codes(count)
    while True:
        taken = await codes_in_use(session, codes)
        taken |= {code for code in codes if codes.count(code) > 1}
        if not taken:
            return codes
        codes = [links.new_code() if code in taken else code for code in codes]


async def codes_in_use(
    session: AsyncSession, codes: Sequence[str], *, messages: bool = True
) -> set[str]:
    """-- name: link-codes-in-use
    Which of `codes` a link row or (unless `messages` is False) a campaign message already
    has. The codes go in as one JSON array: a campaign asks this for thousands at a time."""
    if not codes:
        return set()
    connection = await session.connection()
    listed = (
        "SELECT value FROM json_array_elements_text(%s::json)"
        if connection.dialect.name == "postgresql"
        else "SELECT value FROM json_each(?)"
    )
    sql = f"SELECT code FROM links WHERE code IN ({listed})"
    if messages:
        sql += (
            " UNION ALL SELECT link_code FROM messages"
            f" WHERE link_code IS NOT NULL AND link_code IN ({listed})"
        )
    found = await connection.exec_driver_sql(sql, (json.dumps(list(codes)),) * (1 + messages))
    return {row[0] for row in found}


async def _insert_new(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> set[str]:
    """Insert rows whose code is free; the codes inserted."""
    statement = (
        insert_for(session, Link)
        .on_conflict_do_nothing(index_elements=["code"])
        .returning(Link.code)
    )
    result = await session.execute(statement, list(rows))
    return set(result.scalars())
