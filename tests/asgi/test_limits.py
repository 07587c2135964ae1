"""Admission, truncation and payload limits; inference failures and health (HTTP only).

Moved from e2e/test_limits.py (each `serve` process cost ~9 s there). Statuses and bodies
come from the fake runner; the burst and the real forward-pass failure run the real one.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.harness.asgi import InProcessServer, in_process
from tests.model_factory import minilm_dir
from tests.reference import SEED_TEXT, assert_close_rows, st_encode

ModelDirs = Callable[[str], Path]


@pytest.fixture(scope="module")
def strict() -> Iterator[InProcessServer]:
    with in_process(
        minilm_dir(), max_concurrent_requests=2, auto_truncate=False, payload_limit=100_000
    ) as server:
        yield server


def test_more_inputs_than_permits_is_429(strict: InProcessServer) -> None:
    response = strict.client.post("/embed", json={"inputs": ["a", "b", "c"]})
    assert response.status_code == 429
    assert response.json() == {"error": "Model is overloaded", "error_type": "Overloaded"}


def test_as_many_inputs_as_permits_is_200(strict: InProcessServer) -> None:
    response = strict.client.post("/embed", json={"inputs": ["a", "b"]})
    assert response.status_code == 200
    assert len(response.json()) == 2


def test_burst_gets_only_200_and_429() -> None:
    """On the real runner: the answers that get through match sentence-transformers."""
    with in_process(minilm_dir(), real_runner=True, max_concurrent_requests=2) as server:

        async def burst() -> list[httpx.Response]:
            async with server.async_client() as client:
                requests = [client.post("/embed", json={"inputs": SEED_TEXT}) for _ in range(12)]
                return list(await asyncio.gather(*requests))

        responses = server.run(burst())
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {200, 429}
    assert 200 in statuses
    expected = st_encode(minilm_dir(), [SEED_TEXT])
    for response in responses:
        if response.status_code == 200:
            assert_close_rows(response.json(), expected)


def test_without_auto_truncate_long_input_is_422(strict: InProcessServer) -> None:
    response = strict.client.post("/embed", json={"inputs": "word " * 300})
    assert response.status_code == 422
    assert "must have less than 256 tokens" in response.json()["error"]
    ok = strict.client.post("/embed", json={"inputs": "word " * 300, "truncate": True})
    assert ok.status_code == 200


def test_streamed_body_over_limit_is_413(strict: InProcessServer) -> None:
    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: checked while reading
        yield b'{"inputs": "'
        for _ in range(30):
            yield b"a" * 10_000
        yield b'"}'

    response = strict.client.post(
        "/invocations", content=chunks(), headers={"content-type": "application/json"}
    )
    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert strict.client.get("/ping").status_code == 200


def test_body_under_limit_is_read(strict: InProcessServer) -> None:
    body = json.dumps({"inputs": "a " * 45_000, "truncate": True})
    response = strict.client.post(
        "/invocations", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 200


def test_sagemaker_payload_setting() -> None:
    with in_process(minilm_dir(), sagemaker_max_payload_in_mb=1) as server:
        params = server.client.get("/execution-parameters").json()
        assert params["MaxPayloadInMB"] == 1
        assert params["BatchStrategy"] == "MULTI_RECORD"
        assert params["MaxConcurrentTransforms"] >= 1
        body = json.dumps({"inputs": "a" * 1_500_000})
        response = server.client.post(
            "/invocations", content=body, headers={"content-type": "application/json"}
        )
        assert response.status_code == 413


def _fails_then_heals(
    server: InProcessServer, fail: Callable[[], httpx.Response], succeed: Callable[[], int]
) -> None:
    """``fail()`` is a 424 without a traceback, /ping is then 503, and after ``succeed()``
    (a status, which must be 200) /ping is 200 again."""
    failed = fail()
    assert failed.status_code == 424
    assert failed.json()["error_type"] == "Backend"
    assert "Traceback" not in failed.text
    unhealthy = server.client.get("/ping")
    assert unhealthy.status_code == 503
    assert unhealthy.json() == {"error": "unhealthy", "error_type": "Unhealthy"}
    assert succeed() == 200
    assert server.client.get("/ping").status_code == 200


def test_inference_failure_is_424_and_health_recovers(model_dirs: ModelDirs) -> None:
    """A reranker with one token type, on the real runner: pairs fail inside the forward
    pass, singles work."""
    with in_process(model_dirs("single-segment"), real_runner=True) as server:
        _fails_then_heals(
            server,
            lambda: server.client.post("/rerank", json={"query": "q", "texts": ["a", "b"]}),
            lambda: server.client.post("/predict", json={"inputs": "single"}).status_code,
        )


def test_fake_runner_failure_is_424_and_health_recovers(minilm: InProcessServer) -> None:
    """A forward pass that raises fails its batch only; the next good batch heals /ping."""

    def fail() -> httpx.Response:
        minilm.runner.error = RuntimeError("index out of range in self")
        try:
            return minilm.client.post("/embed", json={"inputs": ["a", "b"]})
        finally:
            minilm.runner.error = None

    _fails_then_heals(
        minilm, fail, lambda: minilm.client.post("/embed", json={"inputs": "single"}).status_code
    )
