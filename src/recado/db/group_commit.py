"""Group commit: work items that arrive together are stored by one call, in one transaction.

A caller submits its item and waits for its own answer. The items waiting at that moment
(up to `limit`) go to `store` together; when `store` refuses a batch, each of its items is
stored alone, so one bad item (a repeated key, a row that breaks a constraint) gets its own
error and costs the others nothing.

Why: each transaction pays its statements and a commit, and on SQLite a process has one
writer at a time, so callers that each write their own rows queue behind each other's
whole transaction. A batch pays them once, and its size grows with the load by itself:
whatever arrived while the previous batch was being written.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")


class GroupCommit(Generic[T, R]):
    """`store(items)` stores a batch (committing it) and returns one answer per item."""

    def __init__(
        self, store: Callable[[list[T]], Awaitable[list[R]]], *, limit: int, name: str
    ) -> None:
        self.store = store
        self.limit = limit
        self.name = name
        self._waiting: list[tuple[T, asyncio.Future[R]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        """Join the next batch; returns this item's answer once its batch is committed."""
        done: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, done))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush(), name=self.name)
        # A caller that goes away (a client hanging up) cancels only its own wait: the batch
        # goes on, its item is stored all the same, and the answer is dropped.
        return await done

    async def _flush(self) -> None:
        while self._waiting:
            await asyncio.sleep(0)  # let the items arriving right now join this batch
            batch, self._waiting = self._waiting[: self.limit], self._waiting[self.limit :]
            try:
                answers = await self.store([item for item, _ in batch])
            except Exception as error:
                log.info(
                    "%s: a batch of %d was refused (%s); storing each alone",
                    self.name,
                    len(batch),
                    error,
                )
                for item, done in batch:
                    try:
                        _answer(done, (await self.store([item]))[0])
                    except Exception as error:
                        if not done.done():
                            done.set_exception(error)
                continue
            for (_, done), answer in zip(batch, answers, strict=True):
                _answer(done, answer)


def _answer(done: asyncio.Future[R], answer: R) -> None:
    if not done.done():
        done.set_result(answer)
