"""A pass with no other pass running and nothing queued runs alone (every core); the
others share. The real worker and queue, with a runner that records what it was told."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pytest

from sagemaker_embeddings.engine.batching import Entry, TokenBudgetQueue
from sagemaker_embeddings.engine.tokenize import TokenizedInput
from sagemaker_embeddings.engine.worker import InferenceWorker


class RecordingRunner:
    backend = "torch"
    device_type = "cpu"
    dtype_name = "float32"

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.passes: list[tuple[int, bool]] = []  # (inputs, alone)
        self._lock = threading.Lock()

    def set_threads(self, per_lane: int, alone: int) -> None:
        pass

    def collate(
        self,
        ids: Sequence[Sequence[int]],
        type_ids: Sequence[Sequence[int]],
        attended: Sequence[int | None] | None = None,
    ) -> Any:
        return len(ids)

    def forward(self, batch: Any, raw: Sequence[bool], alone: bool = False) -> list[np.ndarray]:
        with self._lock:
            self.passes.append((batch, alone))
        time.sleep(self.seconds)
        return [np.zeros(2, dtype=np.float32)] * batch


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def entry(loop: asyncio.AbstractEventLoop, length: int) -> Entry:
    return Entry(TokenizedInput([1] * length, [0] * length, length), "pooled",
                 loop.create_future(), loop)  # fmt: skip


def run(runner: RecordingRunner, feed: Any, budget: int) -> list[tuple[int, bool]]:
    queue = TokenBudgetQueue(max_batch_tokens=budget)
    worker = InferenceWorker(runner, queue, lanes=2)  # type: ignore[arg-type]
    worker.start(lambda: None)
    try:
        feed(queue)
        deadline = time.monotonic() + 5
        while len(queue) and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        worker.stop()
    return runner.passes


def test_sequential_requests_run_alone(loop: asyncio.AbstractEventLoop) -> None:
    def feed(queue: TokenBudgetQueue) -> None:
        for _ in range(3):
            queue.append([entry(loop, 10)])
            time.sleep(0.1)  # the pass (20 ms) is over before the next request

    assert run(RecordingRunner(0.02), feed, budget=100) == [(1, True)] * 3


def test_passes_with_work_waiting_or_running_share(loop: asyncio.AbstractEventLoop) -> None:
    # Three inputs of 60 tokens under a 100-token budget: three passes, queued at once.
    passes = run(RecordingRunner(0.2), lambda q: q.append([entry(loop, 60) for _ in range(3)]),
                 budget=100)  # fmt: skip
    assert len(passes) == 3
    assert not any(alone for _, alone in passes[:2])  # the third waited, or the other ran
