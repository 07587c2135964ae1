"""Clients that hang up: their queued inputs are dropped, not computed; permits and
memory come back."""

from __future__ import annotations

import json
import socket
import time
from urllib.parse import urlsplit

import httpx

from tests.harness.serve import RunningServer
from tests.model_factory import minilm_dir
from tests.reference import SEED_TEXT, assert_close_rows, st_encode
from tests.reliability.conftest import MINILM_CAPACITY, figure, metrics, rss_mb, wait_for

ROUNDS = 20
DROPPED = 'te_request_failure{err="dropped"}'


def _hang_up(server: RunningServer, inputs: list[str]) -> None:
    """Post a full-capacity batch and close the connection 50 ms later, answered or not."""
    parts = urlsplit(server.url)
    body = json.dumps({"inputs": inputs}).encode()
    head = (
        f"POST /embed HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as sock:
        sock.sendall(head.encode() + body)
        time.sleep(0.05)


def test_work_of_clients_that_hang_up_is_dropped(minilm: RunningServer) -> None:
    inputs = [f"input {i}: {SEED_TEXT}" for i in range(MINILM_CAPACITY)]
    before = metrics(minilm)
    _hang_up(minilm, inputs)
    _hang_up(minilm, inputs)
    warm_rss = rss_mb(minilm)
    for _ in range(ROUNDS - 2):
        _hang_up(minilm, inputs)
    # Drained: nothing waits for the model any more (a dropped entry leaves the queue).
    wait_for(lambda: metrics(minilm)["te_queue_size"] == 0, 30, "an empty queue")
    # A full-capacity request is admitted: the hung-up requests gave their permits back.
    answer = httpx.post(f"{minilm.url}/embed", json={"inputs": inputs}, timeout=120)
    assert answer.status_code == 200, answer.text[:300]
    assert_close_rows(answer.json(), st_encode(minilm_dir(), inputs))
    after = metrics(minilm)
    sent = ROUNDS * len(inputs)
    dropped = after.get(DROPPED, 0) - before.get(DROPPED, 0)
    # te_batch_next_size's sum counts every input that went through a forward pass.
    computed = after["te_batch_next_size_sum"] - before["te_batch_next_size_sum"] - len(inputs)
    end_rss = rss_mb(minilm)
    # Requests cancelled while still tokenizing never reach the queue: neither count.
    assert computed <= sent * 0.25, f"{computed} of {sent} inputs computed"
    assert dropped >= max(1, computed), f"{dropped} dropped, {computed} computed"
    assert end_rss - warm_rss < 30, f"RSS {warm_rss:.0f} -> {end_rss:.0f} MiB"
    figure(
        f"disconnects: {ROUNDS} clients hung up 50 ms into a {len(inputs)}-input request: "
        f"{dropped:.0f} of {sent} inputs dropped from the queue, {computed:.0f} computed "
        "(the rest were cancelled before they were queued); "
        f"RSS {warm_rss:.0f} -> {end_rss:.0f} MiB"
    )
