"""Recado's commands run on the loop `recado serve` gets from uvicorn: uvloop, when installed."""

from __future__ import annotations

import asyncio

from recado import event_loop


def test_a_command_runs_on_uvloop_and_returns_what_its_coroutine_returns():
    async def which_loop() -> str:
        return type(asyncio.get_running_loop()).__module__

    assert event_loop.run(which_loop()).startswith("uvloop")
