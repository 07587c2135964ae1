"""Give freed heap memory back to the OS (glibc ``malloc_trim``), as TEI does.

Batches of varying shapes leave glibc's per-thread arenas fragmented: resident memory
keeps creeping up under mixed traffic although nothing leaks. A daemon thread calls
``malloc_trim(0)`` every MALLOC_TRIM_SECONDS (TEI: every 100 ms, issue #156); where
glibc is absent (musl, macOS) it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import threading
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


class HeapTrimmer:
    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._stop = threading.Event()
        self._trim = _malloc_trim() if interval > 0 else None
        self._thread = threading.Thread(target=self._run, name="malloc-trim", daemon=True)

    def start(self) -> None:
        if self._trim is not None:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        assert self._trim is not None
        while not self._stop.wait(self.interval):
            self._trim(0)
