"""Tracked links in the database: rows per recipient, bulk insert, clicks and their owner."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from recado.db.tables import Click, Link, Message, Workspace
from recado.domain import links as domain
from recado.errors import NotFound
from recado.ids import new_id
from recado.platform import Platform
from recado.services import links
from recado.services.actor import system_actor
from recado.services.messaging import SendRequest, send_message
from recado.services.workspaces import NewWorkspace

BASE_URL = "http://recado.test"
OFFER = "Acme: 20% off at https://acme.com/sale?utm=sms&c=1#top. Reply STOP to opt out"


async def a_message(platform: Platform, workspace: NewWorkspace, to: str) -> Message:
    async with platform.sessions() as session:
        accepted = await send_message(
            session, system_actor(workspace.workspace.id), SendRequest(to=to, body="Hello")
        )
        return accepted.message


async def track(platform: Platform, message: Message, text: str = OFFER) -> str:
    async with platform.sessions() as session:
        shortened = await links.track_links(
            session,
            message.workspace_id,
            text,
            message_id=message.id,
            contact_id=message.contact_id,
            campaign_id="cmp_1",
            base_url=BASE_URL,
        )
        await session.commit()
        return shortened


async def all_links(platform: Platform) -> list[Link]:
    async with platform.sessions() as session:
        return list(await session.scalars(select(Link).order_by(Link.created_at)))


async def test_each_url_becomes_a_short_link_with_a_row_for_this_recipient(platform, workspace):
    message = await a_message(platform, workspace, "+14157234567")
    text = await track(platform, message)
    [link] = await all_links(platform)
    assert text == f"Acme: 20% off at {BASE_URL}/l/{link.code}. Reply STOP to opt out"
    assert link.url == "https://acme.com/sale?utm=sms&c=1#top"
    assert (link.workspace_id, link.message_id, link.contact_id, link.campaign_id) == (
        workspace.workspace.id,
        message.id,
        message.contact_id,
        "cmp_1",
    )
    assert domain.is_code(link.code) and len(link.code) == 8


async def test_two_recipients_of_one_text_get_different_codes(platform, workspace):
    first = await a_message(platform, workspace, "+14157234567")
    second = await a_message(platform, workspace, "+14157234568")
    assert await track(platform, first) != await track(platform, second)
    rows = await all_links(platform)
    assert len({row.code for row in rows}) == 2
    assert {row.contact_id for row in rows} == {first.contact_id, second.contact_id}


async def test_every_occurrence_gets_its_own_link(platform, workspace):
    message = await a_message(platform, workspace, "+14157234567")
    text = await track(platform, message, "https://acme.com and again https://acme.com!")
    codes = [row.code for row in await all_links(platform)]
    assert len(set(codes)) == 2
    assert text == f"{BASE_URL}/l/{codes[0]} and again {BASE_URL}/l/{codes[1]}!" or (
        text == f"{BASE_URL}/l/{codes[1]} and again {BASE_URL}/l/{codes[0]}!"
    )


async def test_a_text_without_urls_is_left_alone_and_adds_no_rows(platform, workspace):
    message = await a_message(platform, workspace, "+14157234567")
    assert await track(platform, message, "Olá! Sem links hoje.") == "Olá! Sem links hoje."
    assert await all_links(platform) == []


async def test_short_domain_of_the_workspace_is_used_and_its_links_are_not_shortened_again(
    platform, workspace
):
    async with platform.sessions() as session:
        row = await session.get(Workspace, workspace.workspace.id)
        row.settings = {**(row.settings or {}), "short_domain": "go.acme.com"}
        await session.commit()
    message = await a_message(platform, workspace, "+14157234567")
    text = await track(
        platform, message, "Veja https://acme.com.br/promoção e https://go.acme.com/l/abcdefgh"
    )
    [link] = await all_links(platform)
    assert text == f"Veja https://go.acme.com/l/{link.code} e https://go.acme.com/l/abcdefgh"
    assert link.url == "https://acme.com.br/promoção"


async def test_nothing_is_stored_unless_the_caller_commits(platform, workspace):
    message = await a_message(platform, workspace, "+14157234567")
    async with platform.sessions() as session:
        await links.track_links(
            session,
            message.workspace_id,
            OFFER,
            message_id=message.id,
            contact_id=message.contact_id,
            base_url=BASE_URL,
        )
        await session.rollback()
    assert await all_links(platform) == []


async def test_links_of_a_message_added_in_the_same_transaction_go_in_after_it(platform, workspace):
    """The send path adds the message row, shortens its body, and commits both at once."""
    message_id = new_id("msg")
    async with platform.sessions() as session:
        message = Message(
            id=message_id,
            workspace_id=workspace.workspace.id,
            direction="outbound",
            recipient="+14157234567",
            body=OFFER,
            category="marketing",
            status="queued",
            idempotency_key=message_id,
            encoding="GSM-7",
            segments=1,
        )
        session.add(message)
        message.body = await links.track_links(
            session,
            workspace.workspace.id,
            OFFER,
            message_id=message_id,
            contact_id=None,
            base_url=BASE_URL,
        )
        await session.commit()
    [link] = await all_links(platform)
    assert link.message_id == message_id
    async with platform.sessions() as session:
        stored = await session.get(Message, message_id)
        assert stored.body == f"Acme: 20% off at {BASE_URL}/l/{link.code}. Reply STOP to opt out"


async def test_a_click_returns_the_url_and_is_attributed_to_message_contact_and_campaign(
    platform, workspace
):
    message = await a_message(platform, workspace, "+14157234567")
    await track(platform, message)
    [link] = await all_links(platform)
    async with platform.sessions() as session:
        url = await links.record_click(session, link.code, "Mozilla/5.0 (iPhone) " + "x" * 600)
    assert url == "https://acme.com/sale?utm=sms&c=1#top"
    async with platform.sessions() as session:
        [click] = list(await session.scalars(select(Click)))
    assert (click.workspace_id, click.message_id, click.contact_id, click.campaign_id) == (
        workspace.workspace.id,
        message.id,
        message.contact_id,
        "cmp_1",
    )
    assert click.link_code == link.code
    assert click.user_agent.startswith("Mozilla/5.0 (iPhone)") and len(click.user_agent) == 500


async def test_unknown_or_malformed_codes_record_nothing(platform, workspace, scalar):
    async with platform.sessions() as session:
        assert await links.record_click(session, "Zz9Zz9Zz", "curl") is None
        assert await links.record_click(session, "short", "curl") is None
        assert await links.record_click(session, "abc'; DROP TABLE links;--", None) is None
    assert await scalar("SELECT count(*) FROM clicks") == 0


async def test_clicks_of_a_message_are_listed_only_in_its_workspace(
    platform, workspace, other_workspace
):
    message = await a_message(platform, workspace, "+14157234567")
    await track(platform, message)
    [link] = await all_links(platform)
    for agent in ("first", "second", "third"):
        async with platform.sessions() as session:
            await links.record_click(session, link.code, agent)
    async with platform.sessions() as session:
        actor = system_actor(workspace.workspace.id)
        page, cursor = await links.message_clicks(session, actor, message.id, limit=2)
        rest, end = await links.message_clicks(session, actor, message.id, cursor=cursor)
        assert [c.user_agent for c in page + rest] == ["first", "second", "third"]
        assert end is None
        assert {c.url for c in page} == {link.url}
        rival = system_actor(other_workspace.workspace.id)
        try:
            await links.message_clicks(session, rival, message.id)
        except NotFound:
            pass
        else:
            raise AssertionError("another workspace read the clicks")


async def test_prepared_rows_of_many_recipients_go_in_with_one_insert(platform, workspace):
    messages = [await a_message(platform, workspace, f"+1415723456{i}") for i in range(3)]
    base = domain.link_base(None, BASE_URL)
    codes = domain.code_stream()
    texts, rows = [], []
    for message in messages:
        text, prepared = links.prepare_links(
            OFFER,
            workspace_id=workspace.workspace.id,
            message_id=message.id,
            contact_id=message.contact_id,
            campaign_id="cmp_9",
            base=base,
            codes=codes,
        )
        texts.append(text)
        rows.extend(prepared)
    assert len(set(texts)) == 3
    async with platform.sessions() as session:
        assert await links.insert_links(session, rows) == {}
        await session.commit()
    stored = {row.code: row for row in await all_links(platform)}
    assert set(stored) == {row["code"] for row in rows}
    assert {row.message_id for row in stored.values()} == {m.id for m in messages}


async def test_a_code_that_is_taken_is_redrawn_and_the_message_body_follows(platform, workspace):
    first = await a_message(platform, workspace, "+14157234567")
    second = await a_message(platform, workspace, "+14157234568")
    base = domain.link_base(None, BASE_URL)
    taken = iter(["AAAAAAAA", "AAAAAAAA"])
    rows = []
    for message in (first, second):
        text, prepared = links.prepare_links(
            OFFER,
            workspace_id=workspace.workspace.id,
            message_id=message.id,
            contact_id=message.contact_id,
            base=base,
            codes=taken,
        )
        rows.extend(prepared)
        async with platform.sessions() as session:
            row = await session.get(Message, message.id)
            row.body = text
            await session.commit()
    async with platform.sessions() as session:
        redrawn = await links.insert_links(session, rows)
        await session.commit()
    assert list(redrawn) == ["AAAAAAAA"]
    new = redrawn["AAAAAAAA"]
    async with platform.sessions() as session:
        bodies = {m.id: m.body for m in await session.scalars(select(Message))}
    assert "/l/AAAAAAAA." in bodies[first.id]
    assert f"/l/{new}." in bodies[second.id]
    assert {row.code: row.message_id for row in await all_links(platform)} == {
        "AAAAAAAA": first.id,
        new: second.id,
    }


async def test_a_click_that_cannot_be_stored_still_returns_the_url(platform, workspace, scalar):
    message = await a_message(platform, workspace, "+14157234567")
    await track(platform, message)
    [link] = await all_links(platform)
    async with platform.sessions() as session:
        read = session.execute

        async def busy_on_insert(statement, *args, **kwargs):
            if statement.is_insert:
                raise OperationalError("INSERT INTO clicks", {}, Exception("database is locked"))
            return await read(statement, *args, **kwargs)

        session.execute = busy_on_insert
        assert await links.record_click(session, link.code, "ua") == link.url
    assert await scalar("SELECT count(*) FROM clicks") == 0
