"""InferenceWorker: one thread owns the model; a second prepares the next batch.

Batch formation and collation (Python work) overlap with the forward pass (torch
work, which releases the GIL). When the model becomes free, the prepared batch is
re-formed with whatever arrived meanwhile, so concurrent clients share passes
instead of trickling through one at a time. An error fails only its own batch.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

import numpy as np

from sagemaker_embeddings.engine.batching import Batch, Entry, Output, TokenBudgetQueue
from sagemaker_embeddings.errors import InferenceFailed
from sagemaker_embeddings.models.runner import Collated, ModelRunner

logger = logging.getLogger(__name__)

BatchObserver = Callable[[Batch, float], None]


class InferenceWorker:
    def __init__(
        self,
        runner: ModelRunner,
        batches: TokenBudgetQueue,
        on_batch: BatchObserver | None = None,
    ) -> None:
        self.runner = runner
        self.batches = batches
        self._on_batch = on_batch
        # Depth 1: exactly one batch is prepared ahead of the running one.
        self._ready: queue.Queue[tuple[Batch, Collated] | None] = queue.Queue(maxsize=1)
        # The former prepares the next batch only once the inference thread has taken
        # (and re-formed) the previous one; otherwise it would grab new arrivals first.
        self._slot = threading.Semaphore(1)
        self._former = threading.Thread(target=self._form, name="batch-former", daemon=True)
        self._inferrer = threading.Thread(target=self._infer, name="inference", daemon=True)
        self._last_batch_ok = True
        self.busy_seconds = 0.0  # time spent in forward passes, for utilisation

    def start(self) -> None:
        self._former.start()
        self._inferrer.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Let queued work finish, then end both threads."""
        self.batches.close()
        self._former.join(timeout)
        self._inferrer.join(timeout)

    @property
    def healthy(self) -> bool:
        return self._inferrer.is_alive() and self._last_batch_ok

    def _collate(self, batch: Batch) -> Collated | None:
        try:
            return self.runner.collate(
                [e.tokens.ids for e in batch.entries],
                [e.tokens.type_ids for e in batch.entries],
            )
        except Exception as exc:  # fail this batch only
            logger.exception("collating a batch failed")
            _fail(batch.entries, exc)
            return None

    def _form(self) -> None:
        try:
            while True:
                self._slot.acquire()
                batch = self.batches.next_batch()
                if batch is None:
                    break
                collated = self._collate(batch)
                if collated is None:
                    self._slot.release()
                    continue
                self._ready.put((batch, collated))
        finally:
            self._ready.put(None)

    def _infer(self) -> None:
        while (item := self._ready.get()) is not None:
            prepared, prepared_collated = item
            collated_or_none: Collated | None = prepared_collated
            batch = self.batches.regroup(prepared)
            if batch is not prepared and batch.entries:
                collated_or_none = self._collate(batch)
            self._slot.release()
            if collated_or_none is None or not batch.entries:
                continue
            collated = collated_or_none
            entries = batch.entries
            started = time.perf_counter()
            try:
                values = self.runner.forward(collated, [e.raw for e in entries])
            except Exception as exc:  # fail this batch only; the thread lives on
                logger.exception("inference failed for a batch of %d inputs", len(entries))
                self._last_batch_ok = False
                _fail(entries, exc)
                continue
            finished = time.perf_counter()
            self._last_batch_ok = True
            self.busy_seconds += finished - started
            if self._on_batch is not None:
                self._on_batch(batch, finished - started)
            _deliver(entries, values, started, finished)


def _deliver(
    entries: list[Entry], values: list[np.ndarray], started: float, finished: float
) -> None:
    outputs = [
        Output(value, started - e.enqueued_at, finished - started)
        for e, value in zip(entries, values, strict=True)
    ]
    # One wake-up of the event loop per batch, not per entry.
    entries[0].loop.call_soon_threadsafe(_resolve, entries, outputs)


def _fail(entries: list[Entry], exc: Exception) -> None:
    error = InferenceFailed(f"inference failed: {type(exc).__name__}")
    entries[0].loop.call_soon_threadsafe(_reject, entries, error)


def _resolve(entries: list[Entry], outputs: list[Output]) -> None:
    for entry, output in zip(entries, outputs, strict=True):
        if not entry.future.done():
            entry.future.set_result(output)


def _reject(entries: list[Entry], error: InferenceFailed) -> None:
    for entry in entries:
        if not entry.future.done():
            entry.future.set_exception(error)
