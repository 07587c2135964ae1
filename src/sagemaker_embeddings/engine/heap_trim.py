"""Give freed heap memory back to the OS (glibc ``malloc_trim``), as TEI does.

Batches of varying shapes leave glibc's per-thread arenas fragmented: resident memory
keeps creeping up under mixed traffic although nothing leaks. A daemon thread calls
``malloc_trim(0)`` (TEI: every 100 ms, issue #156); where glibc is absent (musl,
macOS) it does nothing.

Trimming is not free: each call walks the heap, and the memory it hands back is
faulted in again by the next forward pass, so TEI's fixed schedule costs the model
CPU under load (figures: bench/notes/engine.md). So it trims once the model has been
idle for MALLOC_TRIM_SECONDS, and under sustained load only every BUSY_TRIM_FACTOR
times that.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import threading
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)


def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim: Callable[[int], int] = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None
    return trim


# Under uninterrupted load, trim this many times less often than when idle.
BUSY_TRIM_FACTOR = 10


class HeapTrimmer:
    """``last_active()``: the monotonic time of the model's last work (now, while busy)."""

    def __init__(
        self,
        interval: float,
        last_active: Callable[[], float],
        trim: Callable[[int], int] | None = None,
    ) -> None:
        self.interval = interval
        self._last_active = last_active
        self._trimmed_at = time.monotonic()
        self._stop = threading.Event()
        self._trim = (trim or _malloc_trim()) if interval > 0 else None
        self._thread = threading.Thread(target=self._run, name="malloc-trim", daemon=True)

    def start(self) -> None:
        if self._trim is not None:
            self._thread.start()

    def stop(self) -> None:
        """Return once the thread has ended (a trim in progress finishes first)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        assert self._trim is not None
        while not self._stop.wait(self.interval):
            now, active = time.monotonic(), self._last_active()
            if active <= self._trimmed_at:
                continue  # nothing ran since the last trim: nothing new to give back
            idle = now - active >= self.interval
            if idle or now - self._trimmed_at >= BUSY_TRIM_FACTOR * self.interval:
                self._trim(0)
                self._trimmed_at = time.monotonic()
