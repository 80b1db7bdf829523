"""Group commit: callers that arrive together share one store call; one bad item costs only itself."""

from __future__ import annotations

import asyncio

import pytest

from recado.db.group_commit import GroupCommit


class Store:
    """Records each call; refuses any batch that holds a negative number."""

    def __init__(self) -> None:
        self.calls: list[list[int]] = []
        self.stored: list[int] = []

    async def __call__(self, items: list[int]) -> list[int]:
        self.calls.append(list(items))
        await asyncio.sleep(0.01)  # a transaction takes a while; more callers arrive
        if any(item < 0 for item in items):
            raise ValueError(f"refused {min(items)}")
        self.stored.extend(items)
        return [item * 10 for item in items]


async def test_callers_that_arrive_together_share_one_call_and_get_their_own_answer():
    store = Store()
    batches = GroupCommit(store, limit=100, name="test")
    answers = await asyncio.gather(*(batches.submit(n) for n in range(1, 21)))
    assert answers == [n * 10 for n in range(1, 21)]
    assert store.calls == [list(range(1, 21))]


async def test_callers_arriving_during_a_call_go_in_the_next_one_and_the_limit_holds():
    store = Store()
    batches = GroupCommit(store, limit=3, name="test")
    first = asyncio.gather(*(batches.submit(n) for n in range(1, 6)))
    await asyncio.sleep(0.005)  # the first call is under way
    later = asyncio.gather(*(batches.submit(n) for n in range(6, 8)))
    assert await first == [10, 20, 30, 40, 50]
    assert await later == [60, 70]
    assert store.calls == [[1, 2, 3], [4, 5, 6], [7]]


async def test_a_refused_item_gets_its_error_and_the_others_are_stored():
    store = Store()
    batches = GroupCommit(store, limit=100, name="test")
    results = await asyncio.gather(*(batches.submit(n) for n in (1, -2, 3)), return_exceptions=True)
    assert results[0] == 10 and results[2] == 30
    assert isinstance(results[1], ValueError) and "refused -2" in str(results[1])
    assert sorted(store.stored) == [1, 3]


async def test_a_caller_that_gives_up_does_not_stop_its_batch():
    store = Store()
    batches = GroupCommit(store, limit=100, name="test")
    impatient = asyncio.ensure_future(batches.submit(1))
    patient = asyncio.ensure_future(batches.submit(2))
    await asyncio.sleep(0.001)
    impatient.cancel()
    assert await patient == 20
    with pytest.raises(asyncio.CancelledError):
        await impatient
    assert store.stored == [1, 2]
