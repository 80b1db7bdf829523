"""The dispatcher: each message reaches the carrier once, failures are recorded, crashes never resend."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import REGISTRY
from sqlalchemy import func, select, update

from recado.carriers.base import DeliveryReport, OutboundSMS, SubmitError, SubmitResult
from recado.carriers.simulator import SimulatorConnector
from recado.db.tables import (
    CarrierConnection,
    Message,
    MessageEvent,
    Route,
    Sender,
    UnmatchedReport,
)
from recado.delivery import carrier_events
from recado.delivery.carrier_events import CarrierEventHandler
from recado.delivery.dispatcher import Dispatcher
from recado.ids import new_id
from recado.platform import Platform
from recado.services import messaging
from recado.services.actor import system_actor
from recado.services.workspaces import NewWorkspace


async def queue(platform: Platform, workspace: NewWorkspace, n: int, **kw: Any) -> list[str]:
    actor = system_actor(workspace.workspace.id)
    ids = []
    async with platform.sessions() as session:
        for i in range(n):
            request = messaging.SendRequest(to=f"+1415723{i:04d}", body=f"hello {i}", **kw)
            ids.append((await messaging.send_message(session, actor, request)).message.id)
    return ids


async def statuses(platform: Platform, ids: list[str]) -> dict[str, str]:
    async with platform.sessions() as session:
        rows = await session.execute(
            Message.__table__.select().where(Message.id.in_(ids))  # type: ignore[attr-defined]
        )
        return {row.id: row.status for row in rows}


class ScriptedCarrier(SimulatorConnector):
    """The simulator, but it refuses the first submits with the given errors."""

    def __init__(self, errors: list[SubmitError]) -> None:
        super().__init__("scripted", {"delivery_delay_seconds": 0})
        self.errors = errors

    async def submit(self, sms: OutboundSMS) -> SubmitResult:
        if self.errors:
            raise self.errors.pop(0)
        return await super().submit(sms)


async def test_each_queued_message_is_submitted_once_and_marked_sent(
    platform: Platform, workspace: NewWorkspace
):
    ids = await queue(platform, workspace, 5)
    await platform.connector.start(platform.carrier_events)
    assert await platform.dispatcher.run_once() == 5
    assert await platform.dispatcher.run_once() == 0
    assert sorted(s.message_id for s in platform.connector.submitted) == sorted(ids)
    assert set((await statuses(platform, ids)).values()) <= {"sent", "delivered"}


async def test_two_dispatchers_racing_never_submit_a_message_twice(
    platform: Platform, workspace: NewWorkspace
):
    ids = await queue(platform, workspace, 120)
    carrier = SimulatorConnector("shared", {"delivery_delay_seconds": 0})
    await carrier.start(CarrierEventHandler(platform.sessions))
    dispatchers = [Dispatcher(platform.sessions, carrier, batch_size=7) for _ in range(3)]

    async def drain(d: Dispatcher) -> None:
        while await d.run_once():
            await asyncio.sleep(0)

    await asyncio.gather(*(drain(d) for d in dispatchers))
    counts = Counter(s.message_id for s in carrier.submitted)
    assert set(counts) == set(ids)
    assert max(counts.values()) == 1
    await carrier.stop()


async def test_temporary_error_requeues_with_backoff_then_succeeds(
    platform: Platform, workspace: NewWorkspace
):
    [message_id] = await queue(platform, workspace, 1)
    carrier = ScriptedCarrier([SubmitError("throttled", "slow down", throttled=True)])
    await carrier.start(platform.carrier_events)
    clock = [datetime.now(UTC)]
    dispatcher = Dispatcher(platform.sessions, carrier, clock=lambda: clock[0])
    await dispatcher.run_once()
    assert (await statuses(platform, [message_id]))[message_id] == "queued"
    assert await dispatcher.run_once() == 0  # not due before the backoff passes
    clock[0] += timedelta(seconds=6)
    assert await dispatcher.run_once() == 1
    assert (await statuses(platform, [message_id]))[message_id] in ("sent", "delivered")
    assert [s.message_id for s in carrier.submitted] == [message_id]


async def test_permanent_error_fails_the_message_with_the_carrier_reason(
    platform: Platform, workspace: NewWorkspace
):
    [message_id] = await queue(platform, workspace, 1)
    carrier = ScriptedCarrier([SubmitError("invalid_destination", "no such subscriber")])
    await carrier.start(platform.carrier_events)
    await Dispatcher(platform.sessions, carrier).run_once()
    async with platform.sessions() as session:
        message = await session.get(Message, message_id)
    assert message is not None
    assert message.status == "failed"
    assert message.error_code == "invalid_destination"
    assert message.error_message == "no such subscriber"


async def test_message_left_sending_by_a_dead_process_becomes_unknown_and_is_not_resent(
    platform: Platform, workspace: NewWorkspace
):
    ids = await queue(platform, workspace, 2)
    long_ago = datetime.now(UTC) - timedelta(minutes=5)
    async with platform.sessions() as session:
        await session.execute(
            update(Message)
            .where(Message.id == ids[0])
            .values(status="sending", updated_at=long_ago)
        )
        # The other one was claimed a second ago by a live dispatcher: leave it alone.
        await session.execute(update(Message).where(Message.id == ids[1]).values(status="sending"))
        await session.commit()
    await platform.connector.start(platform.carrier_events)
    unknown_before = unknown_count()
    assert await platform.dispatcher.recover() == 1
    assert await platform.dispatcher.run_once() == 0
    assert platform.connector.submitted == []
    assert await statuses(platform, ids) == {ids[0]: "unknown", ids[1]: "sending"}
    assert unknown_count() == unknown_before + 1  # an operator's alert sees it


def unknown_count() -> float:
    """Messages that reached `unknown`, as Prometheus scrapes it from /metrics."""
    sample = REGISTRY.get_sample_value("recado_message_status_changes_total", {"status": "unknown"})
    return sample or 0.0


async def test_scheduled_message_waits_for_its_time(platform: Platform, workspace: NewWorkspace):
    at = datetime.now(UTC) + timedelta(hours=1)
    [message_id] = await queue(platform, workspace, 1, send_at=at)
    clock = [datetime.now(UTC)]
    dispatcher = Dispatcher(platform.sessions, platform.connector, clock=lambda: clock[0])
    await platform.connector.start(platform.carrier_events)
    assert await dispatcher.run_once() == 0
    clock[0] = at + timedelta(seconds=1)
    assert await dispatcher.run_once() == 1
    assert (await statuses(platform, [message_id]))[message_id] in ("sent", "delivered")


async def test_a_submit_whose_outcome_is_unknown_is_never_resent(
    platform: Platform, workspace: NewWorkspace
):
    [message_id] = await queue(platform, workspace, 1)
    carrier = ScriptedCarrier(
        [SubmitError("timeout", "no answer", temporary=True, outcome_unknown=True)]
    )
    await carrier.start(platform.carrier_events)
    dispatcher = Dispatcher(platform.sessions, carrier)
    await dispatcher.run_once()
    assert await dispatcher.run_once() == 0
    assert (await statuses(platform, [message_id]))[message_id] == "unknown"
    assert carrier.submitted == []


async def test_throttling_requeues_without_spending_an_attempt(
    platform: Platform, workspace: NewWorkspace
):
    [message_id] = await queue(platform, workspace, 1)
    throttles = [SubmitError("throttled", "slow down", throttled=True) for _ in range(8)]
    carrier = ScriptedCarrier(throttles)
    await carrier.start(platform.carrier_events)
    clock = [datetime.now(UTC)]
    dispatcher = Dispatcher(platform.sessions, carrier, clock=lambda: clock[0])
    for _ in range(9):  # more throttles than MAX_ATTEMPTS, and still not failed
        await dispatcher.run_once()
        clock[0] += timedelta(seconds=2)
    async with platform.sessions() as session:
        message = await session.get(Message, message_id)
    assert message is not None
    assert message.status in ("sent", "delivered")
    assert message.attempts == 1
    assert dispatcher.limiters["+12015550100"].allowed_rate < 10


async def test_a_sender_never_exceeds_its_rate_in_any_second(
    platform: Platform, workspace: NewWorkspace
):
    async with platform.sessions() as session:
        await session.execute(update(Sender).values(rate_limit_mps=20))
        await session.commit()
    await queue(platform, workspace, 45)
    carrier = StampingCarrier()
    await carrier.start(platform.carrier_events)
    dispatcher = Dispatcher(platform.sessions, carrier, batch_size=50)
    while await dispatcher.run_once():
        pass
    times = carrier.stamps
    assert len(times) == 45
    for i, start in enumerate(times):
        assert sum(1 for t in times[i:] if t < start + 1.0) <= 20


async def test_a_long_text_is_delivered_when_every_part_is(
    platform: Platform, workspace: NewWorkspace
):
    [message_id] = await queue(platform, workspace, 1)
    carrier = PartsCarrier()
    await carrier.start(platform.carrier_events)
    await Dispatcher(platform.sessions, carrier).run_once()
    events = platform.carrier_events
    for part in ("p1", "p2"):
        await events.delivery_report(DeliveryReport("parts", part, "delivered"))
    assert (await statuses(platform, [message_id]))[message_id] == "sent"
    await events.delivery_report(DeliveryReport("parts", "p3", "delivered"))
    assert (await statuses(platform, [message_id]))[message_id] == "delivered"


async def test_one_undelivered_part_makes_the_message_undelivered(
    platform: Platform, workspace: NewWorkspace
):
    [message_id] = await queue(platform, workspace, 1)
    carrier = PartsCarrier()
    await carrier.start(platform.carrier_events)
    await Dispatcher(platform.sessions, carrier).run_once()
    await platform.carrier_events.delivery_report(
        DeliveryReport("parts", "p2", "undelivered", "absent_subscriber", "phone off")
    )
    assert (await statuses(platform, [message_id]))[message_id] == "undelivered"


class StampingCarrier(SimulatorConnector):
    """The simulator, noting when each submit happened."""

    def __init__(self) -> None:
        super().__init__("stamping", {"delivery_delay_seconds": 60})
        self.stamps: list[float] = []

    async def submit(self, sms: OutboundSMS) -> SubmitResult:
        self.stamps.append(time.monotonic())
        return await super().submit(sms)


class PartsCarrier(SimulatorConnector):
    """A carrier that reports on each of three parts separately, as SMPP SMSCs do."""

    def __init__(self) -> None:
        super().__init__("parts", {"delivery_delay_seconds": 3600})

    async def submit(self, sms: OutboundSMS) -> SubmitResult:
        return SubmitResult("p1", part_ids=("p1", "p2", "p3"))


async def test_a_route_added_while_the_dispatcher_reads_its_routes_governs_the_next_text(
    platform: Platform, workspace: NewWorkspace
):
    # The race behind a flaky end-to-end run: a round was reading routes when a route was
    # added; it must not keep the old routes (and send through the simulator) for seconds.
    ws = workspace.workspace.id
    dispatcher = platform.dispatcher
    read_routes = dispatcher._load_routes
    reads = []

    async def route_added_during_the_read(session: Any) -> None:
        await read_routes(session)
        reads.append(len(dispatcher.routes.get(ws, [])))
        if len(reads) == 1:
            async with platform.sessions() as other:
                connection = CarrierConnection(
                    id=new_id("cc"), workspace_id=ws, name="down", kind="smpp", config={}
                )
                other.add(connection)
                await other.flush()
                other.add(
                    Route(id=new_id("rt"), workspace_id=ws, prefix="", connection_id=connection.id)
                )
                await other.commit()
            dispatcher.config_changed()

    dispatcher._load_routes = route_added_during_the_read  # type: ignore[method-assign]
    [message_id] = await queue(platform, workspace, 1)
    await platform.connector.start(platform.carrier_events)
    await dispatcher.run_once()
    assert reads == [0, 1]
    assert platform.connector.submitted == []  # held for its route, never the simulator
    assert (await statuses(platform, [message_id]))[message_id] == "queued"


async def test_a_round_takes_at_most_its_batch_and_leaves_the_rest_for_other_dispatchers(
    platform: Platform, workspace: NewWorkspace
):
    ids = await queue(platform, workspace, 30)
    async with platform.sessions() as session:
        await session.execute(update(Sender).values(rate_limit_mps=5000))
        await session.commit()
    dispatcher = Dispatcher(platform.sessions, platform.connector, batch_size=10)
    await platform.connector.start(platform.carrier_events)
    assert await dispatcher.run_once() == 10
    left = [i for i, status in (await statuses(platform, ids)).items() if status == "queued"]
    assert len(left) == 20
    async with platform.sessions() as session:
        leased = await session.scalar(
            select(func.count()).where(Message.id.in_(left), Message.lease_until.is_not(None))
        )
    assert leased == 0  # nothing held back from a second dispatcher


async def test_a_chained_round_claims_the_next_batch_while_the_last_group_goes_out(
    platform: Platform, workspace: NewWorkspace
):
    """A sender paced at its limit must not stall between batches: the batch after is
    claimed (and its first group readied) while the one before is still with the carrier.
    But a carrier that stops answering holds the chain at two batches: the third is not
    claimed before the first batch's outcomes are recorded."""
    ids = await queue(platform, workspace, 25)
    async with platform.sessions() as session:
        await session.execute(update(Sender).values(rate_limit_mps=5000))
        await session.commit()
    answer = asyncio.Event()
    seen: dict[str, int] = {}

    async def taken() -> int:
        async with platform.sessions() as session:
            count = await session.scalar(
                select(func.count()).where(Message.id.in_(ids), Message.attempts > 0)
            )
        return count or 0

    async def until_both_batches_are_taken() -> int:
        count = await taken()
        for _ in range(300):
            if count >= 20:
                break
            await asyncio.sleep(0.01)
            count = await taken()
        return count

    class Watching(SimulatorConnector):
        async def submit(self, sms: OutboundSMS) -> SubmitResult:
            if not seen:  # the first text is not answered until the checks are done
                seen["first"] = 0
                seen["while_first_went_out"] = await until_both_batches_are_taken()
                await asyncio.sleep(0.3)  # time enough for a third claim, were it allowed
                seen["a_moment_later"] = await taken()
                answer.set()
            return await super().submit(sms)

    carrier = Watching("watching", {"delivery_delay_seconds": 0})
    await carrier.start(platform.carrier_events)
    dispatcher = Dispatcher(platform.sessions, carrier, batch_size=10)
    assert await dispatcher.run_once(batches=None) == 25  # 10, 10, then 5: the chain ends
    assert answer.is_set()
    assert seen["while_first_went_out"] == 20
    assert seen["a_moment_later"] == 20
    assert Counter(s.message_id for s in carrier.submitted) == Counter(ids)
    assert set((await statuses(platform, ids)).values()) <= {"sent", "delivered"}
    await carrier.stop()


async def test_due_scheduled_messages_are_released_a_batch_a_round_each_with_its_event(
    platform: Platform, workspace: NewWorkspace
):
    at = datetime.now(UTC) + timedelta(hours=1)
    ids = await queue(platform, workspace, 5, send_at=at)
    clock = [at + timedelta(seconds=1)]
    dispatcher = Dispatcher(
        platform.sessions, platform.connector, batch_size=3, clock=lambda: clock[0]
    )
    async with platform.sessions() as session:
        await dispatcher._release_due_schedules(session, clock[0])
    found = Counter((await statuses(platform, ids)).values())
    assert found == {"queued": 3, "scheduled": 2}
    async with platform.sessions() as session:
        events = list(
            await session.scalars(
                select(MessageEvent.message_id).where(
                    MessageEvent.message_id.in_(ids), MessageEvent.detail == "send time reached"
                )
            )
        )
        await dispatcher._release_due_schedules(session, clock[0])
    assert len(events) == len(set(events)) == 3
    assert Counter((await statuses(platform, ids)).values()) == {"queued": 5}


class ReportsAtOnce(SimulatorConnector):
    """A carrier like an SMSC: the delivery report follows the submit's answer at once,
    before the dispatcher can have stored the carrier id it is matched by."""

    def __init__(self) -> None:
        super().__init__("prompt", {})
        self.reports: list[asyncio.Task[None]] = []
        self.count = 0

    async def submit(self, sms: OutboundSMS) -> SubmitResult:
        self.count += 1
        carrier_id = f"prompt-{self.count}"
        assert self._events is not None
        report = DeliveryReport(self.name, carrier_id, "delivered")
        self.reports.append(asyncio.ensure_future(self._events.delivery_report(report)))
        return SubmitResult(carrier_id)


async def test_a_report_that_overtakes_the_record_of_its_submit_is_matched_at_the_first_look(
    platform: Platform, workspace: NewWorkspace, monkeypatch: Any
):
    # No second look: a report looked up before its carrier id was stored stays unmatched.
    monkeypatch.setattr(carrier_events, "_LOOKUP_RETRIES", ())
    ids = await queue(platform, workspace, 40)
    carrier = ReportsAtOnce()
    await carrier.start(platform.carrier_events)
    dispatcher = Dispatcher(platform.sessions, carrier, in_flight=platform.in_flight)
    assert await dispatcher.run_once() == 40
    await asyncio.gather(*carrier.reports)
    assert set((await statuses(platform, ids)).values()) == {"delivered"}
    async with platform.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(UnmatchedReport)) == 0
