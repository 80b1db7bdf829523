"""The event loop Recado's own commands run on: uvloop when it is installed.

`recado serve` runs on uvicorn, which picks uvloop when it is installed (it comes with
`uvicorn[standard]`); `recado worker` and the other commands use this, so a dispatcher
runs on the same loop whichever process hosts it. Measured with bench/dispatch_smpp.py
(20,000 texts, SQLite): 1,795 texts a second on asyncio's own loop, 1,968 on uvloop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(main)`, on uvloop where it is available."""
    try:
        import uvloop  # noqa: PLC0415  (optional: not every platform has it)
    except ImportError:
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)
