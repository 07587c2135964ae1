"""When the heap trimmer trims: after the model goes idle, rarely while it is busy."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from sagemaker_embeddings.engine.heap_trim import BUSY_TRIM_FACTOR, HeapTrimmer
from sagemaker_embeddings.engine.startup import load_engine
from sagemaker_embeddings.settings import Settings

INTERVAL = 0.02


class Calls:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self, pad: int) -> int:
        self.count += 1
        return 1


def run_for(trimmer: HeapTrimmer, seconds: float) -> None:
    trimmer.start()
    time.sleep(seconds)
    trimmer.stop()
    time.sleep(3 * INTERVAL)  # let the thread see the stop


def test_no_work_no_trim() -> None:
    calls = Calls()
    long_ago = time.monotonic() - 60
    run_for(HeapTrimmer(INTERVAL, lambda: long_ago, trim=calls), 10 * INTERVAL)
    assert calls.count == 0


def test_one_trim_after_the_model_goes_idle() -> None:
    calls = Calls()
    finished = time.monotonic() + 2 * INTERVAL  # a pass that ends shortly
    run_for(HeapTrimmer(INTERVAL, lambda: min(time.monotonic(), finished), trim=calls), 0.3)
    assert calls.count == 1


def test_busy_model_is_trimmed_rarely() -> None:
    calls = Calls()
    seconds = 3 * BUSY_TRIM_FACTOR * INTERVAL
    run_for(HeapTrimmer(INTERVAL, time.monotonic, trim=calls), seconds)
    # Every interval would be 30 trims; busy, about one per BUSY_TRIM_FACTOR intervals.
    assert 1 <= calls.count <= 4


def test_zero_interval_never_starts() -> None:
    calls = Calls()
    trimmer = HeapTrimmer(0, time.monotonic, trim=calls)
    trimmer.start()
    trimmer.stop()
    assert calls.count == 0


def test_the_engine_runs_the_trimmer_without_http(model_dirs: Callable[[str], Path]) -> None:
    # Toolkit mode has no HTTP app: MALLOC_TRIM_SECONDS must work with the engine alone.
    def trimmers() -> set[threading.Thread]:
        return {t for t in threading.enumerate() if t.name == "malloc-trim"}

    others = trimmers()  # engines of other tests in this process may have their own
    settings = Settings(model_id=str(model_dirs("bert")), dtype="float32", malloc_trim_seconds=0.05)
    engine = load_engine(settings)
    try:
        ours = trimmers() - others
        assert len(ours) == 1
    finally:
        engine.stop()
    # stop() waits for the thread, so no sleep is needed however loaded the machine is.
    assert not any(t.is_alive() for t in ours)
