"""Carrier ids in flight: a delivery report waits for its submit's record, and only for that."""

from __future__ import annotations

import asyncio

from recado.delivery.in_flight import InFlight


async def test_a_report_waits_until_its_group_is_recorded():
    in_flight = InFlight()
    group = in_flight.group()
    in_flight.submitted("smpp", ["a1", "a2"], group)
    waiting = asyncio.ensure_future(in_flight.settled("smpp", "a2"))
    await asyncio.sleep(0.01)
    assert not waiting.done()
    in_flight.recorded([("smpp", "a1"), ("smpp", "a2")], group)
    await asyncio.wait_for(waiting, 1)
    # Recorded ids are forgotten: a later report goes straight to the database.
    assert in_flight._recorded == {}


async def test_ids_not_in_flight_here_do_not_wait():
    in_flight = InFlight()
    group = in_flight.group()
    in_flight.submitted("smpp", ["a1"], group)
    await asyncio.wait_for(in_flight.settled("smpp", "other"), 0.1)
    await asyncio.wait_for(in_flight.settled("http", "a1"), 0.1)  # same id, other connector


async def test_a_group_given_up_on_releases_its_reports():
    in_flight = InFlight()
    group = in_flight.group()
    in_flight.submitted("smpp", ["a1"], group)
    waiting = asyncio.ensure_future(in_flight.settled("smpp", "a1"))
    in_flight.recorded([], group)  # the record failed before any id was known
    await asyncio.wait_for(waiting, 1)
