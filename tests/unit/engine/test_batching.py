"""TokenBudgetQueue packing rules, with real futures on a real event loop."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from sagemaker_embeddings.engine.batching import Entry, TokenBudgetQueue
from sagemaker_embeddings.engine.tokenize import TokenizedInput


def entries(loop: asyncio.AbstractEventLoop, lengths: list[int]) -> list[Entry]:
    return [
        Entry(TokenizedInput([1] * n, [0] * n, n), "pooled", loop.create_future(), loop)
        for n in lengths
    ]


@pytest.fixture
def loop() -> asyncio.AbstractEventLoop:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def drain(queue: TokenBudgetQueue) -> list[list[int]]:
    queue.close()
    batches = []
    while (batch := queue.next_batch()) is not None:
        batches.append([e.length for e in batch.entries])
    return batches


def test_budget_is_longest_times_count(loop: asyncio.AbstractEventLoop) -> None:
    queue = TokenBudgetQueue(max_batch_tokens=100)
    queue.append(entries(loop, [20] * 12))
    batches = drain(queue)
    assert batches == [[20] * 5, [20] * 5, [20] * 2]  # a client batch spread over passes
    for batch in batches:
        assert max(batch) * len(batch) <= 100


def test_similar_lengths_are_grouped(loop: asyncio.AbstractEventLoop) -> None:
    queue = TokenBudgetQueue(max_batch_tokens=10_000)
    queue.append(entries(loop, [500, 10, 480, 12, 11, 450]))
    batches = drain(queue)
    assert sorted(map(sorted, batches)) == [[10, 11, 12], [450, 480, 500]]


def test_oldest_entry_is_always_in_the_next_batch(loop: asyncio.AbstractEventLoop) -> None:
    queue = TokenBudgetQueue(max_batch_tokens=10_000)
    queue.append(entries(loop, [300, 8, 9, 10]))
    first = queue.next_batch()
    assert first is not None
    assert first.entries[0].length == 300


def test_max_batch_requests(loop: asyncio.AbstractEventLoop) -> None:
    queue = TokenBudgetQueue(max_batch_tokens=10_000, max_batch_requests=3)
    queue.append(entries(loop, [5] * 7))
    assert [len(b) for b in drain(queue)] == [3, 3, 1]


def test_abandoned_entries_are_dropped(loop: asyncio.AbstractEventLoop) -> None:
    dropped: list[int] = []
    queue = TokenBudgetQueue(max_batch_tokens=1000, on_dropped=dropped.append)
    waiting = entries(loop, [5, 6, 7])
    waiting[1].future.cancel()  # its client went away
    queue.append(waiting)
    assert drain(queue) == [[5, 7]]
    assert dropped == [1]


def test_one_append_feeds_every_waiting_lane(loop: asyncio.AbstractEventLoop) -> None:
    # Two inference lanes wait; one client batch larger than the budget arrives. The
    # lane that takes the first pass must leave the rest to the other, not to itself.
    queue = TokenBudgetQueue(max_batch_tokens=100)
    taken: list[int] = []
    ready = threading.Barrier(3)

    def lane() -> None:
        ready.wait()
        batch = queue.next_batch()
        if batch is not None:
            taken.append(len(batch.entries))

    lanes = [threading.Thread(target=lane) for _ in range(2)]
    for thread in lanes:
        thread.start()
    ready.wait()
    time.sleep(0.2)  # both lanes are now blocked in next_batch
    queue.append(entries(loop, [50] * 4))
    for thread in lanes:
        thread.join(timeout=5)
    stuck = [t for t in lanes if t.is_alive()]
    queue.close()  # frees a stuck lane, after the check
    assert not stuck, "a lane slept while work was queued"
    assert sorted(taken) == [2, 2]
