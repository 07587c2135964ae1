"""TokenBudgetQueue: packs queued inputs into forward passes by a token budget.

Each input of a client request is its own entry, so a client batch larger than the
budget is spread over several passes without the client noticing. A pass always
contains the oldest waiting entry (nothing starves) and is filled with entries of
similar length, because a padded batch costs ``longest x count`` tokens.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from sagemaker_embeddings.engine.tokenize import TokenizedInput
from sagemaker_embeddings.models.task import Want

# A pass only takes inputs at least this fraction of its longest input's length:
# mixing a 10-token input into a 500-token pass would spend 490 tokens of compute on
# padding. Shorter inputs wait for the next pass, which follows immediately.
MIN_FILL_RATIO = 0.5

_arrival = itertools.count()


@dataclass(frozen=True)
class Output:
    """What the worker hands back for one entry, with its share of the timings."""

    value: np.ndarray
    queue_seconds: float
    inference_seconds: float


@dataclass(eq=False)
class Entry:
    """One input waiting for the model; its future is resolved on ``loop``."""

    tokens: TokenizedInput
    want: Want
    future: asyncio.Future[Output]
    loop: asyncio.AbstractEventLoop
    enqueued_at: float = field(default_factory=time.perf_counter)
    order: int = field(default_factory=lambda: next(_arrival))

    @property
    def length(self) -> int:
        return len(self.tokens.ids)

    @property
    def abandoned(self) -> bool:
        # The client went away (its request task was cancelled): skip the work.
        return self.future.done()


@dataclass(frozen=True)
class Batch:
    entries: list[Entry]
    formed_at: float = field(default_factory=time.perf_counter)

    @property
    def padded_tokens(self) -> int:
        return max(e.length for e in self.entries) * len(self.entries)


class TokenBudgetQueue:
    """Thread-safe: the event loop appends, the inference lanes take."""

    def __init__(
        self,
        max_batch_tokens: int,
        max_batch_requests: int | None = None,
        on_dropped: Callable[[int], None] | None = None,
    ) -> None:
        self.max_batch_tokens = max_batch_tokens
        self.max_batch_requests = max_batch_requests
        self._on_dropped = on_dropped
        self._pending: list[Entry] = []  # arrival order
        self._condition = threading.Condition()
        self._closed = False

    def __len__(self) -> int:
        with self._condition:
            return len(self._pending)

    def append(self, entries: list[Entry]) -> None:
        with self._condition:
            self._pending.extend(entries)
            self._condition.notify()

    def close(self) -> None:
        with self._condition:
            self._closed = True
            self._condition.notify_all()

    def next_batch(self) -> Batch | None:
        """Block until a batch can be formed; None once closed and drained."""
        with self._condition:
            while True:
                self._drop_abandoned()
                if self._pending:
                    batch = self._take()
                    if self._pending:
                        # append() woke one lane; what this batch left is for another.
                        self._condition.notify()
                    return batch
                if self._closed:
                    return None
                self._condition.wait()

    def _take(self) -> Batch:
        chosen = self._choose()
        taken = set(map(id, chosen))
        self._pending = [e for e in self._pending if id(e) not in taken]
        return Batch(chosen)

    def _drop_abandoned(self) -> None:
        kept = [e for e in self._pending if not e.abandoned]
        dropped = len(self._pending) - len(kept)
        if dropped:
            self._pending = kept
            if self._on_dropped is not None:
                self._on_dropped(dropped)

    def _choose(self) -> list[Entry]:
        anchor = self._pending[0]
        by_length = sorted(self._pending, key=lambda e: (e.length, e.order))
        start = end = by_length.index(anchor)  # the window [start, end] is the batch
        longest = anchor.length
        limit = self.max_batch_requests or len(by_length)

        def fits(count: int, longest_len: int) -> bool:
            return count <= limit and count * longest_len <= self.max_batch_tokens

        while True:
            count = end - start + 2
            # Shorter neighbours never raise the padded width: take them first.
            if (
                start > 0
                and by_length[start - 1].length >= MIN_FILL_RATIO * longest
                and fits(count, longest)
            ):
                start -= 1
                continue
            if end + 1 < len(by_length):
                candidate = by_length[end + 1].length
                lowest = by_length[start].length
                if lowest >= MIN_FILL_RATIO * candidate and fits(count, candidate):
                    end += 1
                    longest = candidate
                    continue
            break
        return by_length[start : end + 1]
