"""Graceful shutdown: on SIGTERM the server stops accepting, finishes every accepted
request within GRACEFUL_SHUTDOWN_SECONDS (SageMaker kills at 30 s), then exits 0."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from tests.harness.serve import RunningServer, start_server
from tests.model_factory import minilm_dir
from tests.reference import SEED_TEXT, assert_close_rows, st_encode
from tests.reliability.conftest import figure, metrics, wait_for

REQUESTS = 6
INPUTS = 4  # per request: 24 inputs of 256 tokens, 6 forward passes of 1024 tokens


def _start(tmp_path: Path, grace: float) -> RunningServer:
    return start_server(
        {
            "GRACEFUL_SHUTDOWN_SECONDS": str(grace),
            "MAX_BATCH_TOKENS": "1024",
            "MAX_CONCURRENT_REQUESTS": "256",
        },
        tmp_path,
    )


Results = list[httpx.Response | BaseException]


def _in_background(
    server: RunningServer, batches: list[list[str]]
) -> tuple[threading.Thread, Results]:
    results: Results = []

    async def send_all() -> None:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            gathered = await asyncio.gather(
                *(client.post("/embed", json={"inputs": b}) for b in batches),
                return_exceptions=True,
            )
            results.extend(gathered)

    thread = threading.Thread(target=asyncio.run, args=(send_all(),))
    thread.start()
    return thread, results


def _logged_at(server: RunningServer, message: str) -> float:
    """The wall-clock time of the first log line containing ``message``."""
    for line in server.log().splitlines():
        if message in line:
            stamp = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")
            return stamp.timestamp()
    raise AssertionError(f"{message!r} is not in the log")


def _accepted(server: RunningServer, count: int) -> bool:
    return metrics(server).get('te_request_count{method="batch"}', 0) >= count


def test_sigterm_drains_in_flight_requests_then_exits_0(tmp_path: Path) -> None:
    server = _start(tmp_path, grace=20)
    batches = [[f"r{r} i{i}: {SEED_TEXT}" for i in range(INPUTS)] for r in range(REQUESTS)]
    expected = st_encode(minilm_dir(), [t for b in batches for t in b])
    try:
        thread, results = _in_background(server, batches)
        wait_for(lambda: _accepted(server, REQUESTS), 30, "every request to be accepted")
        signalled = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        # The listening socket closes at once: new clients are refused while we drain.
        time.sleep(0.3)
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{server.url}/ping", timeout=2)
        refused_while_draining = thread.is_alive()
        code = server.process.wait(30)
        drain = time.monotonic() - signalled
        thread.join(30)
    finally:
        server.stop(signal.SIGKILL)
    assert code == 0, server.log()[-2000:]
    assert refused_while_draining, "the requests finished before the refusal was checked"
    assert len(results) == REQUESTS
    for index, result in enumerate(results):
        assert isinstance(result, httpx.Response), f"request {index} lost: {result!r}"
        assert result.status_code == 200, result.text[:300]
        assert_close_rows(result.json(), expected[index * INPUTS : (index + 1) * INPUTS])
    assert drain < 20
    assert "Traceback" not in server.log()
    figure(
        f"shutdown: SIGTERM with {REQUESTS} requests x {INPUTS} inputs in flight: all "
        f"{REQUESTS} answered 200 (reference-checked), new connections refused, exit 0, "
        f"drain {drain:.2f}s (grace 20s)"
    )


def test_grace_period_bounds_the_drain(tmp_path: Path) -> None:
    """Work that outlasts GRACEFUL_SHUTDOWN_SECONDS does not hold the process."""
    server = _start(tmp_path, grace=1)
    batches = [[f"r{r} i{i}: {SEED_TEXT}" for i in range(32)] for r in range(8)]
    try:
        thread, _ = _in_background(server, batches)
        wait_for(lambda: _accepted(server, len(batches)), 30, "every request to be accepted")
        signalled, signalled_wall = time.monotonic(), time.time()
        server.process.send_signal(signal.SIGTERM)
        code = server.process.wait(20)
        drain = time.monotonic() - signalled
        thread.join(60)
    finally:
        server.stop(signal.SIGKILL)
    assert code == 0
    stopped = _logged_at(server, "Application shutdown complete") - signalled_wall
    # The grace period, then at most the forward pass already running: the cancelled
    # requests' queued inputs are dropped, not computed.
    assert stopped < 1 + 3, f"shutdown took {stopped:.1f}s with a 1 s grace period"
    assert drain < 1 + 10, f"the process took {drain:.1f}s to exit"
    figure(
        f"shutdown: GRACEFUL_SHUTDOWN_SECONDS=1 with ~20 s of queued work: application "
        f"stopped {stopped:.2f}s after SIGTERM, process exited after {drain:.2f}s"
    )
