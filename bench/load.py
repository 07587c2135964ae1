"""The load generator: N concurrent clients on one event loop, bounded by time and count."""

from __future__ import annotations

import asyncio
import itertools
import statistics
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

MAX_REQUESTS_PER_CLIENT = 100_000
MAX_CONSECUTIVE_ERRORS = 20
REQUEST_TIMEOUT = 300.0


@dataclass(frozen=True)
class Request:
    path: str
    body: Any
    inputs: int  # how many inputs (texts or pairs) this request carries


@dataclass(frozen=True)
class LoadResult:
    requests: int
    inputs: int
    errors: int
    seconds: float
    latencies_ms: tuple[float, ...]
    first_error: str | None = None

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def inputs_per_s(self) -> float:
        return self.inputs / self.seconds if self.seconds else 0.0

    def percentile_ms(self, q: float) -> float | None:
        if not self.latencies_ms:
            return None
        if len(self.latencies_ms) == 1:
            return self.latencies_ms[0]
        cuts = statistics.quantiles(self.latencies_ms, n=100, method="inclusive")
        return cuts[min(98, max(0, round(q * 100) - 1))]


@dataclass
class _Tally:
    requests: int = 0
    inputs: int = 0
    errors: int = 0
    consecutive_errors: int = 0
    first_error: str | None = None


async def _client(
    http: httpx.AsyncClient, requests: Iterator[Request], deadline: float,
    tally: _Tally, latencies: list[float],
) -> None:
    for _ in range(MAX_REQUESTS_PER_CLIENT):
        if time.perf_counter() >= deadline or tally.consecutive_errors >= MAX_CONSECUTIVE_ERRORS:
            return
        request = next(requests)
        started = time.perf_counter()
        try:
            reply = await http.post(request.path, json=request.body)
            error = None if reply.status_code == 200 else f"{reply.status_code}: {reply.text[:300]}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        if error is not None:
            tally.errors += 1
            tally.consecutive_errors += 1
            tally.first_error = tally.first_error or error
            continue
        latencies.append(1000 * (time.perf_counter() - started))
        tally.requests += 1
        tally.inputs += request.inputs
        tally.consecutive_errors = 0


async def _drive(base_url: str, requests: Sequence[Request], clients: int,
                 seconds: float) -> LoadResult:
    cycle = itertools.cycle(requests)  # shared: clients take the next request in turn
    tally, latencies = _Tally(), list[float]()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base_url, timeout=REQUEST_TIMEOUT, limits=limits) as http:
        started = time.perf_counter()
        deadline = started + seconds
        await asyncio.gather(
            *(_client(http, cycle, deadline, tally, latencies) for _ in range(clients))
        )
        elapsed = time.perf_counter() - started
    return LoadResult(tally.requests, tally.inputs, tally.errors, elapsed,
                      tuple(latencies), tally.first_error)


def run_load(base_url: str, requests: Sequence[Request], clients: int, seconds: float,
             warmup_seconds: float) -> LoadResult:
    """Warm up (results dropped), then measure for ``seconds``."""
    if warmup_seconds > 0:
        asyncio.run(_drive(base_url, requests, clients, warmup_seconds))
    return asyncio.run(_drive(base_url, requests, clients, seconds))
