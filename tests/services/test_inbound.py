"""Inbound texts: stored first, then classified by the pipeline's stages in order."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import select

from recado.carriers.base import InboundSMS
from recado.db.tables import Contact, Message, MessageEvent, Sender
from recado.domain.inbound_pipeline import (
    INBOX,
    OPT_OUT_KEYWORDS,
    WAITING_CONVERSATION,
    WORKSPACE_KEYWORDS,
    Handled,
    Pipeline,
    Stage,
    default_stages,
)
from recado.ids import new_id
from recado.platform import Platform
from recado.services import inbound, messaging
from recado.services.actor import system_actor
from recado.services.inbound import InboundContext
from recado.services.workspaces import NewWorkspace

OUR_NUMBER = "+12015550100"
HANDSET = "+5511912345678"


def sms(body: str = "Hi there", carrier_id: str = "c-1", sender: str = HANDSET) -> InboundSMS:
    return InboundSMS("simulator", sender, OUR_NUMBER, body, carrier_id)


async def timeline(platform: Platform, message_id: str) -> list[str]:
    async with platform.sessions() as session:
        rows = await session.scalars(
            select(MessageEvent.detail)
            .where(MessageEvent.message_id == message_id)
            .order_by(MessageEvent.id)
        )
        return [d or "" for d in rows]


async def until(condition, seconds: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {seconds} s")
        await asyncio.sleep(0.02)


# The pipeline's order and how features register stages.


def test_the_built_in_order_is_keywords_then_workspace_keywords_then_surveys_then_inbox():
    assert Pipeline(default_stages()).names == (
        OPT_OUT_KEYWORDS,
        WORKSPACE_KEYWORDS,
        WAITING_CONVERSATION,
        INBOX,
    )


async def handle_nothing(context: object) -> Handled | None:
    return None


def test_registering_a_stage_by_name_fills_its_placeholder_in_place():
    pipeline = Pipeline(default_stages())
    pipeline.register(Stage(OPT_OUT_KEYWORDS, handle_nothing))
    assert pipeline.names[0] == OPT_OUT_KEYWORDS
    assert pipeline.stages[0].handler is handle_nothing
    assert len(pipeline.names) == 4


def test_a_new_stage_goes_before_the_inbox_or_where_it_is_told():
    pipeline = Pipeline(default_stages())
    pipeline.register(Stage("loyalty", handle_nothing))
    pipeline.register(Stage("language", handle_nothing), after=OPT_OUT_KEYWORDS)
    pipeline.register(Stage("spam", handle_nothing), before=OPT_OUT_KEYWORDS)
    assert pipeline.names == (
        "spam",
        OPT_OUT_KEYWORDS,
        "language",
        WORKSPACE_KEYWORDS,
        WAITING_CONVERSATION,
        "loyalty",
        INBOX,
    )
    with pytest.raises(ValueError, match="No stage 'nope'"):
        pipeline.register(Stage("x", handle_nothing), before="nope")


def test_a_copy_leaves_the_shared_pipeline_alone():
    mine = inbound.PIPELINE.copy()
    mine.register(Stage("test_only", handle_nothing))
    assert "test_only" in mine.names
    assert "test_only" not in inbound.PIPELINE.names


# Receiving through the service.


async def test_an_inbound_text_is_stored_as_received_and_handled_by_the_inbox(
    platform: Platform, workspace: NewWorkspace
):
    async with platform.sessions() as session:
        message = await inbound.receive(session, sms("Do you open on Sunday?"))
    assert message is not None
    assert (message.direction, message.status, message.sender) == ("inbound", "received", HANDSET)
    assert message.workspace_id == workspace.workspace.id
    assert message.contact_id is not None
    assert await timeline(platform, message.id) == ["received via simulator", "handled by inbox"]


async def test_a_failing_stage_does_not_lose_the_text(platform: Platform, workspace: NewWorkspace):
    async def broken(context: InboundContext) -> Handled | None:
        context.session.add(
            Contact(
                id=new_id("ct"),
                workspace_id=context.text.workspace_id,
                phone="+5511900000000",
                attributes={},
            )
        )
        await context.session.flush()
        raise RuntimeError("a bug in a keyword stage")

    pipeline = inbound.PIPELINE.copy()
    pipeline.register(Stage("broken", broken), before=OPT_OUT_KEYWORDS)
    async with platform.sessions() as session:
        message = await inbound.receive(session, sms("Open on Sunday?"), pipeline=pipeline)
        assert message is not None
        assert message.body == "Open on Sunday?"
        # What the broken stage left half done was rolled back, not committed by the next.
        assert (
            await session.scalar(select(Contact).where(Contact.phone == "+5511900000000")) is None
        )
    assert await timeline(platform, message.id) == [
        "received via simulator",
        "stage broken failed (RuntimeError); see the logs",
        "handled by inbox",
    ]


async def test_a_stages_reply_goes_out_as_an_outbound_message(
    running: Platform, workspace: NewWorkspace, monkeypatch: pytest.MonkeyPatch
):
    async def opening_hours(context: InboundContext) -> Handled | None:
        if "HOURS" not in context.text.body.upper():
            return None
        return Handled(by="opening_hours", reply="We open 9am-6pm, Monday to Saturday.")

    pipeline = inbound.PIPELINE.copy()
    pipeline.register(Stage("opening_hours", opening_hours))
    monkeypatch.setattr(inbound, "PIPELINE", pipeline)

    await running.connector.inject_inbound(HANDSET, OUR_NUMBER, "hours?")  # type: ignore[attr-defined]

    async def reached_the_network() -> bool:
        return bool(running.connector.submitted)  # type: ignore[attr-defined]

    await until(reached_the_network)
    [sent] = running.connector.submitted  # type: ignore[attr-defined]
    assert (sent.sender, sent.recipient, sent.body) == (
        OUR_NUMBER,
        HANDSET,
        "We open 9am-6pm, Monday to Saturday.",
    )
    async with running.sessions() as session:
        reply = await session.get(Message, sent.message_id)
        received = await session.scalar(select(Message).where(Message.direction == "inbound"))
    assert reply is not None and received is not None
    assert (reply.direction, reply.category) == ("outbound", "transactional")
    assert reply.contact_id == received.contact_id
    assert reply.idempotency_key == f"reply:{received.id}"
    assert await timeline(running, received.id) == [
        "received via simulator",
        "handled by opening_hours",
        f"opening_hours replied with {reply.id}",
    ]


async def test_a_reply_to_a_sender_that_is_not_a_phone_is_noted_not_sent(
    platform: Platform, workspace: NewWorkspace
):
    async def always_answer(context: InboundContext) -> Handled | None:
        return Handled(by="always_answer", reply="Thanks!")

    pipeline = Pipeline([Stage("always_answer", always_answer)])
    async with platform.sessions() as session:
        message = await inbound.receive(session, sms(sender="BANKALERT"), pipeline=pipeline)
    assert message is not None and message.contact_id is None
    events = await timeline(platform, message.id)
    assert events[:2] == ["received via simulator", "handled by always_answer"]
    assert events[2].startswith("always_answer reply not sent:")
    async with platform.sessions() as session:
        assert await session.scalar(select(Message).where(Message.direction == "outbound")) is None


async def test_a_duplicate_carrier_id_is_stored_once(
    platform: Platform, workspace: NewWorkspace, scalar
):
    text = sms("Is my order ready?", carrier_id="twice-1")
    await platform.carrier_events.inbound(text)
    await platform.carrier_events.inbound(text)  # the carrier redelivers
    assert await scalar("SELECT count(*) FROM messages WHERE direction = 'inbound'") == 1
    assert (
        await scalar("SELECT count(*) FROM message_events WHERE detail = 'handled by inbox'") == 1
    )


async def test_a_text_to_a_number_no_workspace_has_is_not_stored(
    platform: Platform, workspace: NewWorkspace, scalar
):
    stray = InboundSMS("simulator", HANDSET, "+12015550999", "hello?", "stray-1")
    async with platform.sessions() as session:
        assert await inbound.receive(session, stray) is None
    assert await scalar("SELECT count(*) FROM messages") == 0


async def test_a_shared_number_routes_to_the_workspace_that_texted_the_person_last(
    platform: Platform, workspace: NewWorkspace, other_workspace: NewWorkspace
):
    # Both workspaces have one number (say, moved between accounts); the first added gets
    # unknown senders, and a reply goes to the workspace that texted that person last.
    async with platform.sessions() as session:
        session.add(
            Sender(
                id=new_id("snd"),
                workspace_id=other_workspace.workspace.id,
                address="+12015550100",
                kind="long_code",
            )
        )
        await session.commit()
        first = await inbound.receive(session, sms("hello", "c-1"))
        assert first is not None and first.workspace_id == workspace.workspace.id
        await messaging.send_message(
            session,
            system_actor(other_workspace.workspace.id),
            messaging.SendRequest(to=HANDSET, body="Your table is ready", sender="+12015550100"),
        )
        answer = await inbound.receive(session, sms("On my way", "c-2"))
        assert answer is not None and answer.workspace_id == other_workspace.workspace.id


async def test_a_number_of_one_workspace_routes_there(
    platform: Platform, workspace: NewWorkspace, other_workspace: NewWorkspace
):
    async with platform.sessions() as session:
        session.add(
            Sender(
                id=new_id("snd"),
                workspace_id=other_workspace.workspace.id,
                address="+12015550199",
                kind="long_code",
            )
        )
        await session.commit()
        message = await inbound.receive(
            session, InboundSMS("simulator", HANDSET, "+12015550199", "hi", "c-3")
        )
    assert message is not None and message.workspace_id == other_workspace.workspace.id
