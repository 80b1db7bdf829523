"""The carrier simulator's scripted recipients: answers to texts and clicks on tracked links.

Reply behaviour is a table, as for the other carriers: each case declares the simulator's
config, the text that reaches the network, and the answer that comes back (if any).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select

from recado.carriers.base import DeliveryReport, InboundSMS, OutboundSMS, build_connector
from recado.carriers.simulator import SimulatorConnector
from recado.db.tables import Message
from recado.platform import Platform
from recado.services import messaging
from recado.services.actor import system_actor
from recado.services.workspaces import create_workspace
from recado.settings import Settings

OUR_NUMBER = "+12015550100"
HANDSET = "+5511912345678"


class RecordedEvents:
    """CarrierEvents that keep what the simulator reported."""

    def __init__(self) -> None:
        self.reports: list[DeliveryReport] = []
        self.texts: list[InboundSMS] = []

    async def delivery_report(self, report: DeliveryReport) -> None:
        self.reports.append(report)

    async def inbound(self, sms: InboundSMS) -> None:
        self.texts.append(sms)


Simulate = Callable[..., Awaitable[tuple[SimulatorConnector, RecordedEvents]]]


@pytest.fixture
async def simulate() -> AsyncIterator[Simulate]:
    """Start simulators with a config; they are stopped at the end of the test."""
    started: list[SimulatorConnector] = []

    async def start(**config: Any) -> tuple[SimulatorConnector, RecordedEvents]:
        connector = SimulatorConnector("simulator", {"delivery_delay_seconds": 0, **config})
        events = RecordedEvents()
        await connector.start(events)
        started.append(connector)
        return connector, events

    yield start
    for connector in started:
        await connector.stop()


def text(body: str, n: int = 0) -> OutboundSMS:
    return OutboundSMS(f"msg_{n}", OUR_NUMBER, HANDSET, body)


@dataclass(frozen=True)
class ReplyCase:
    name: str
    config: dict[str, Any]
    body: str
    answer: str | None


YES_RULE = {"match": r"Reply YES", "reply": "YES", "after_seconds": 0}
REPLY_CASES = [
    ReplyCase(
        "a text asking Reply YES is answered YES",
        {"replies": [YES_RULE]},
        "Reply YES to confirm",
        "YES",
    ),
    ReplyCase(
        "a text no rule matches gets no answer", {"replies": [YES_RULE]}, "Your code is 1234", None
    ),
    ReplyCase(
        "the first matching rule answers",
        {"replies": [YES_RULE, {"match": ".*", "reply": "OK", "after_seconds": 0}]},
        "Reply YES to confirm",
        "YES",
    ),
    ReplyCase(
        "a rule whose draw fails lets the next rule answer",
        {
            "replies": [
                {"match": ".*", "reply": "never", "ratio": 0.0, "after_seconds": 0},
                {"match": ".*", "reply": "STOP", "after_seconds": 0},
            ]
        },
        "Big sale today",
        "STOP",
    ),
    ReplyCase(
        "an undelivered text is not answered",
        {"replies": [YES_RULE], "undelivered_ratio": 1.0},
        "Reply YES to confirm",
        None,
    ),
]


@pytest.mark.parametrize("case", REPLY_CASES, ids=[c.name for c in REPLY_CASES])
async def test_scripted_replies(simulate: Simulate, case: ReplyCase):
    connector, events = await simulate(**case.config)
    await connector.submit(text(case.body))
    await connector.drain()
    if case.answer is None:
        assert events.texts == []
    else:
        [answer] = events.texts
        assert (answer.connector, answer.sender, answer.recipient, answer.body) == (
            "simulator",
            HANDSET,
            OUR_NUMBER,
            case.answer,
        )
        assert answer.carrier_message_id.startswith("sim-in-")


async def test_stop_replies_arrive_for_the_configured_share_with_a_fixed_seed(simulate: Simulate):
    stop_rule = {"match": ".*", "reply": "STOP", "ratio": 0.1, "after_seconds": 0}
    connector, events = await simulate(seed=7, replies=[stop_rule])
    for n in range(500):
        await connector.submit(text(f"Promo {n}: 20% off today", n))
    await connector.drain()
    stops = [t for t in events.texts if t.body == "STOP"]
    assert len(stops) == 55  # seed 7 always picks the same recipients
    assert 35 <= len(stops) <= 65  # roughly one in ten
    again, again_events = await simulate(seed=7, replies=[stop_rule])
    for n in range(500):
        await again.submit(text(f"Promo {n}: 20% off today", n))
    await again.drain()
    assert len(again_events.texts) == len(stops)


async def test_answers_do_not_change_the_delivery_outcomes_of_a_seed(simulate: Simulate):
    plain, plain_events = await simulate(seed=3, undelivered_ratio=0.3)
    chatty, chatty_events = await simulate(
        seed=3,
        undelivered_ratio=0.3,
        replies=[{"match": ".*", "reply": "hi", "ratio": 0.5, "after_seconds": 0}],
    )
    for n in range(50):
        await plain.submit(text("Hello", n))
        await chatty.submit(text("Hello", n))
    await plain.drain()
    await chatty.drain()
    assert [r.status for r in plain_events.reports] == [r.status for r in chatty_events.reports]


async def test_recipients_open_the_tracked_link_through_on_click(simulate: Simulate):
    opened: list[str] = []

    async def on_click(url: str) -> None:
        opened.append(url)

    connector, _ = await simulate(clicks={"ratio": 1.0, "after_seconds": 0}, on_click=on_click)
    await connector.submit(text("See https://acme.test/menu or https://rcd.test/l/Ab3dE5x!"))
    await connector.submit(text("No tracked link here: https://acme.test/menu", 1))
    await connector.drain()
    assert opened == ["https://rcd.test/l/Ab3dE5x"]


async def test_a_click_share_with_a_seed_opens_a_fixed_number_of_links(simulate: Simulate):
    opened: list[str] = []
    connector, _ = await simulate(seed=11, clicks={"ratio": 0.25, "after_seconds": 0})

    async def on_click(url: str) -> None:
        opened.append(url)

    connector.on_click = on_click  # as the platform sets it
    for n in range(200):
        await connector.submit(text(f"Deal {n}: https://rcd.test/l/Code{n:03d}", n))
    await connector.drain()
    assert len(opened) == 54  # seed 11 always picks the same recipients
    assert 35 <= len(opened) <= 65  # roughly one in four


async def test_clicks_without_a_callback_are_skipped(simulate: Simulate):
    connector, events = await simulate(clicks={"ratio": 1.0, "after_seconds": 0})
    await connector.submit(text("https://rcd.test/l/Ab3dE5x"))
    await connector.drain()
    assert [r.status for r in events.reports] == ["delivered"]


@pytest.mark.parametrize(
    ("config", "complaint"),
    [
        ({"replies": [{"match": "(", "reply": "YES"}]}, "bad 'match' regex"),
        ({"replies": [{"match": "YES"}]}, "needs a 'reply' text"),
        ({"replies": [{"reply": "STOP", "ratio": 2}]}, "between 0 and 1"),
        ({"clicks": {"ratio": -0.1}}, "between 0 and 1"),
    ],
)
def test_a_bad_script_is_refused_with_a_clear_error(config: dict[str, Any], complaint: str):
    with pytest.raises(ValueError, match=complaint):
        SimulatorConnector("simulator", config)


async def test_a_scripted_answer_is_stored_as_an_inbound_text_of_the_workspace(
    settings: Settings,
):
    connector = build_connector(
        "simulator",
        "simulator",
        {"delivery_delay_seconds": 0, "replies": [YES_RULE]},
    )
    platform = Platform(settings, connector=connector)
    try:
        await platform.start_workers()
        async with platform.sessions() as session:
            acme = await create_workspace(session, name="Acme", owner_email="o@acme.test")
            sent = await messaging.send_message(
                session,
                system_actor(acme.workspace.id),
                messaging.SendRequest(to=HANDSET, body="Your table at 8pm? Reply YES"),
            )
        platform.dispatcher.notify()
        answer = await until_found(
            platform,
            select(Message).where(Message.direction == "inbound", Message.body == "YES"),
        )
        assert answer.workspace_id == acme.workspace.id
        assert answer.sender == HANDSET
        assert answer.recipient == OUR_NUMBER
        assert answer.contact_id == sent.message.contact_id
    finally:
        await platform.close()


async def until_found(platform: Platform, query: Any, seconds: float = 5.0) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        async with platform.sessions() as session:
            found = await session.scalar(query)
        if found is not None:
            return found
        await asyncio.sleep(0.02)
    raise AssertionError(f"nothing matched within {seconds} s")
