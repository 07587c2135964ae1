"""InferenceWorker: one thread owns the model and runs every batch on it.

It takes the next batch from the token-budget queue when the model becomes free,
so concurrent clients share passes instead of trickling through one at a time.
An error fails only its own batch.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import numpy as np

from sagemaker_embeddings.engine.batching import Batch, Entry, Output, TokenBudgetQueue
from sagemaker_embeddings.errors import InferenceFailed
from sagemaker_embeddings.models.runner import ModelRunner

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
        self._thread = threading.Thread(target=self._run, name="inference", daemon=True)
        self._warmup: Callable[[], None] = lambda: None
        self._warmed = threading.Event()
        self._warmup_error: BaseException | None = None
        self._last_batch_ok = True
        self.busy_seconds = 0.0  # time spent in forward passes, for utilisation
        self._in_pass = False
        self._last_pass_end = time.monotonic()

    def start(self, warmup: Callable[[], None]) -> None:
        """Start the thread; ``warmup`` runs first on it. Raises what ``warmup`` raised.

        Every forward pass, the first included, must run on that one thread: once a
        second thread has run a torch CPU kernel, libgomp keeps a second team of
        worker threads, and the inference thread's passes became 1.5x slower here
        (MiniLM, 10 tokens: 6.5 -> 10 ms).
        """
        self._warmup = warmup
        self._thread.start()
        self._warmed.wait()
        if self._warmup_error is not None:
            self._thread.join()
            raise self._warmup_error

    def stop(self, timeout: float = 5.0) -> None:
        """Let queued work finish, then end the thread."""
        self.batches.close()
        if self._thread.ident is not None:
            self._thread.join(timeout)

    @property
    def healthy(self) -> bool:
        return self._thread.is_alive() and self._last_batch_ok

    def last_active(self) -> float:
        """Monotonic time of the last batch's end; now while a batch runs."""
        return time.monotonic() if self._in_pass else self._last_pass_end

    def _run(self) -> None:
        try:
            self._warmup()
        # Handed to start(), which raises it on the starting thread.
        except BaseException as exc:
            self._warmup_error = exc
            return
        finally:
            self._warmed.set()
        # The batch is formed only when the model is free, so it holds everything that
        # arrived during the previous pass; collating takes well under a millisecond,
        # not worth a second thread and its hand-off.
        while (batch := self.batches.next_batch()) is not None:
            self._in_pass = True
            try:
                self._run_batch(batch)
            finally:
                self._last_pass_end = time.monotonic()
                self._in_pass = False

    def _run_batch(self, batch: Batch) -> None:
        entries = batch.entries
        try:
            collated = self.runner.collate(
                [e.tokens.ids for e in entries], [e.tokens.type_ids for e in entries]
            )
            started = time.perf_counter()
            values = self.runner.forward(collated, [e.raw for e in entries])
        except Exception as exc:  # fail this batch only; the thread lives on
            logger.exception("inference failed for a batch of %d inputs", len(entries))
            self._last_batch_ok = False
            _fail(entries, exc)
            return
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
