"""InferenceWorker: owns the model and runs every batch on it, on its lanes.

A lane is a thread that takes the next batch from the token-budget queue whenever
it is free, so concurrent clients share passes instead of trickling through one at
a time. On CPU two lanes, each with half the cores' threads, beat one lane with all
of them under load (models/capacity.py); a pass that runs alone takes every core. An
error fails only its own batch.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import numpy as np

from sagemaker_embeddings.engine.batching import Batch, Entry, Output, TokenBudgetQueue
from sagemaker_embeddings.errors import InferenceFailed
from sagemaker_embeddings.models.backend import Runner

logger = logging.getLogger(__name__)

BatchObserver = Callable[[Batch, float], None]


class InferenceWorker:
    def __init__(
        self,
        runner: Runner,
        batches: TokenBudgetQueue,
        on_batch: BatchObserver | None = None,
        lanes: int = 1,
    ) -> None:
        self.runner = runner
        self.batches = batches
        self._on_batch = on_batch
        self._threads = [
            threading.Thread(target=self._run, name=f"inference-{lane}", daemon=True)
            for lane in range(lanes)
        ]
        self._warmup: Callable[[], None] = lambda: None
        self._warmup_errors: list[BaseException] = []
        self._warmed = threading.Barrier(lanes + 1)
        self._last_batch_ok = True
        self._lock = threading.Lock()  # guards the activity fields below
        self._passes_running = 0
        self._last_pass_end = time.monotonic()

    def start(self, warmup: Callable[[], None]) -> None:
        """Start the lanes; ``warmup`` runs first on each. Raises what a ``warmup`` raised.

        Every forward pass, the warm-up included, runs on a lane thread: once another
        thread (the main one) has run a torch CPU kernel, libgomp keeps one more team
        of worker threads, and the lanes' passes became 1.5x slower here (MiniLM, 10
        tokens: 6.5 -> 10 ms).
        """
        self._warmup = warmup
        for thread in self._threads:
            thread.start()
        self._warmed.wait()
        if self._warmup_errors:
            self.batches.close()
            for thread in self._threads:
                thread.join()
            raise self._warmup_errors[0]

    def stop(self, timeout: float = 5.0) -> None:
        """Let queued work finish, then end the lanes."""
        self.batches.close()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            if thread.ident is not None:
                thread.join(max(0.0, deadline - time.monotonic()))

    @property
    def healthy(self) -> bool:
        return all(t.is_alive() for t in self._threads) and self._last_batch_ok

    def last_active(self) -> float:
        """Monotonic time of the last batch's end; now while a batch runs."""
        with self._lock:
            return time.monotonic() if self._passes_running else self._last_pass_end

    def _run(self) -> None:
        try:
            self._warmup()
        # Handed to start(), which raises it on the starting thread.
        except BaseException as exc:
            self._warmup_errors.append(exc)
        self._warmed.wait()
        if self._warmup_errors:
            return
        # A lane forms its batch only when it is free, so the batch holds everything
        # that arrived meanwhile; collating takes well under a millisecond, not worth a
        # thread of its own and the hand-off.
        while (batch := self.batches.next_batch()) is not None:
            with self._lock:
                # Alone: no other pass runs and nothing waits, so this pass may take
                # every core; a batch that arrives meanwhile shares them for one pass.
                alone = self._passes_running == 0 and len(self.batches) == 0
                self._passes_running += 1
            try:
                self._run_batch(batch, alone)
            finally:
                with self._lock:
                    self._passes_running -= 1
                    self._last_pass_end = time.monotonic()

    def _run_batch(self, batch: Batch, alone: bool) -> None:
        entries = batch.entries
        try:
            attended = [e.tokens.attended for e in entries]
            collated = self.runner.collate(
                [e.tokens.ids for e in entries],
                [e.tokens.type_ids for e in entries],
                attended if any(a is not None for a in attended) else None,
            )
            started = time.perf_counter()
            values = self.runner.forward(collated, [e.want for e in entries], alone)
        except Exception as exc:  # fail this batch only; the thread lives on
            logger.exception("inference failed for a batch of %d inputs", len(entries))
            self._last_batch_ok = False
            _fail(entries, exc)
            return
        finished = time.perf_counter()
        self._last_batch_ok = True
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
