"""Admission: at most MAX_CONCURRENT_REQUESTS inputs in flight; beyond that, 429 at once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sagemaker_embeddings.errors import Overloaded


class Admission:
    """One permit per input, as TEI counts them; never waits."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._in_flight = 0
        self._lock = threading.Lock()

    @contextmanager
    def acquire(self, count: int) -> Iterator[None]:
        with self._lock:
            if self._in_flight + count > self.capacity:
                raise Overloaded()
            self._in_flight += count
        try:
            yield
        finally:
            with self._lock:
                self._in_flight -= count
