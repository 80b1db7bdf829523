"""A carrier network in a box: accepts texts and reports delivery after a configurable delay.

It makes the whole platform usable offline (`make run`, the demo, the tests). Outcomes are
drawn per message from the configured ratios; a seeded RNG makes test runs repeatable.

Simulated recipients can also act on what they receive (config keys):

- `replies`: rules tried in order, `{"match": "<regex searched in the body>", "reply":
  "<text>", "ratio": 1.0, "after_seconds": 1.0}`. A rule answers when its pattern matches
  and its ratio draw succeeds; a text gets at most one answer. Answers arrive through
  `events.inbound`, exactly as a real carrier's would.
- `clicks`: `{"ratio": 0.1, "after_seconds": 2.0}`: the recipient opens the first tracked
  link (an http(s) URL with `/l/`) of the text by calling `on_click(url)`, a coroutine
  function the platform gives in the config or sets on the connector. The simulator itself
  makes no HTTP requests.

Only delivered texts are answered or clicked.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from recado.carriers.base import (
    CarrierEvents,
    Connector,
    DeliveryReport,
    InboundSMS,
    OutboundSMS,
    SubmitError,
    SubmitResult,
    register,
)
from recado.domain.links import LINK_PATH, find_urls

ClickCallback = Callable[[str], Awaitable[None]]
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReplyRule:
    """A simulated recipient's answer to texts whose body matches `pattern`."""

    pattern: re.Pattern[str]
    reply: str
    ratio: float = 1.0
    after_seconds: float = 1.0

    @classmethod
    def of(cls, rule: dict[str, Any]) -> ReplyRule:
        try:
            pattern = re.compile(str(rule.get("match", ".*")))
        except re.error as error:
            raise ValueError(f"Simulator reply rule {rule!r}: bad 'match' regex: {error}") from None
        if not str(rule.get("reply", "")):
            raise ValueError(f"Simulator reply rule {rule!r} needs a 'reply' text.")
        return cls(
            pattern=pattern,
            reply=str(rule["reply"]),
            ratio=_ratio(rule.get("ratio", 1.0), "replies.ratio"),
            after_seconds=float(rule.get("after_seconds", 1.0)),
        )


@register
class SimulatorConnector(Connector):
    code = "simulator"

    def __init__(self, name: str, config: dict[str, Any]) -> None:
        super().__init__(name, config)
        self.delay = float(config.get("delivery_delay_seconds", 1.0))
        self.failure_ratio = float(config.get("failure_ratio", 0.0))
        self.undelivered_ratio = float(config.get("undelivered_ratio", 0.0))
        self.reply_rules = [ReplyRule.of(rule) for rule in config.get("replies") or ()]
        clicks = config.get("clicks") or {}
        self.click_ratio = _ratio(clicks.get("ratio", 0.0), "clicks.ratio")
        self.click_after_seconds = float(clicks.get("after_seconds", 2.0))
        self.on_click: ClickCallback | None = config.get("on_click")
        seed = config.get("seed")
        self._random = random.Random(seed)
        # Recipients' behaviour has its own draws, so adding a reply rule leaves outcomes be.
        self._behaviour = random.Random(None if seed is None else f"{seed}:recipients")
        self._events: CarrierEvents | None = None
        self._pending: set[asyncio.Task[None]] = set()
        self.submitted: list[OutboundSMS] = []  # what "reached the network", for tests and demos

    async def start(self, events: CarrierEvents) -> None:
        self._events = events

    async def stop(self) -> None:
        for task in list(self._pending):
            task.cancel()
        await asyncio.gather(*self._pending, return_exceptions=True)
        self._events = None

    @property
    def connected(self) -> bool:
        return self._events is not None

    async def submit(self, sms: OutboundSMS) -> SubmitResult:
        if self._events is None:
            raise SubmitError("not_connected", "the simulator is not started", temporary=True)
        draw = self._random.random()
        if draw < self.failure_ratio:
            raise SubmitError("rejected", "the simulated carrier rejected the destination")
        self.submitted.append(sms)
        carrier_id = f"sim-{uuid.uuid4().hex}"
        undelivered = draw < self.failure_ratio + self.undelivered_ratio
        report = DeliveryReport(
            connector=self.name,
            carrier_message_id=carrier_id,
            status="undelivered" if undelivered else "delivered",
            error_code="absent_subscriber" if undelivered else None,
            error_message="the handset was unreachable" if undelivered else None,
        )
        self._later(self.delay, functools.partial(self._report, report))
        if not undelivered:
            self._act_on(sms)
        return SubmitResult(carrier_id)

    async def inject_inbound(self, sender: str, recipient: str, body: str) -> str:
        """Deliver a text as if a handset had sent it; returns the carrier id it was given."""
        if self._events is None:
            raise SubmitError("not_connected", "the simulator is not started", temporary=True)
        carrier_id = f"sim-in-{uuid.uuid4().hex}"
        await self._events.inbound(InboundSMS(self.name, sender, recipient, body, carrier_id))
        return carrier_id

    async def drain(self) -> None:
        """Wait until every scheduled report, answer and click has happened (tests, demos)."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    def _act_on(self, sms: OutboundSMS) -> None:
        """What the recipient of a delivered text does: maybe answer, maybe open its link."""
        if sms.sender:
            for rule in self.reply_rules:
                if rule.pattern.search(sms.body) and self._behaviour.random() < rule.ratio:
                    answer = functools.partial(
                        self.inject_inbound, sms.recipient, sms.sender, rule.reply
                    )
                    self._later(rule.after_seconds, answer)
                    break
        link = next((u.url for u in find_urls(sms.body) if LINK_PATH in u.url), None)
        if link is not None and self.click_ratio and self._behaviour.random() < self.click_ratio:
            self._later(self.click_after_seconds, functools.partial(self._click, link))

    async def _click(self, url: str) -> None:
        if self.on_click is not None and self._events is not None:
            await self.on_click(url)

    async def _report(self, report: DeliveryReport) -> None:
        if self._events is not None:
            await self._events.delivery_report(report)

    def _later(self, seconds: float, action: Callable[[], Awaitable[object]]) -> None:
        async def run() -> None:
            await asyncio.sleep(seconds)
            if self._events is None:
                return
            try:
                await action()
            except Exception:  # a background step has nobody to raise to
                log.exception("simulator: %s failed", getattr(action, "func", action))

        task = asyncio.create_task(run())
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)


def _ratio(value: Any, name: str) -> float:
    ratio = float(value)
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"Simulator {name} is a share between 0 and 1, not {ratio}.")
    return ratio
