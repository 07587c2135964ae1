"""Admission, truncation and payload limits; inference failures and health."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ServerFactory
from tests.model_factory import minilm_dir
from tests.reference import SEED_TEXT, assert_close_rows, st_encode
from tests.server_harness import RunningServer


@pytest.fixture(scope="module")
def strict(server_factory: ServerFactory) -> RunningServer:
    return server_factory(
        "minilm-strict",
        {"MAX_CONCURRENT_REQUESTS": "2", "AUTO_TRUNCATE": "false", "PAYLOAD_LIMIT": "100000"},
    )


def test_more_inputs_than_permits_is_429(strict: RunningServer) -> None:
    response = httpx.post(f"{strict.url}/embed", json={"inputs": ["a", "b", "c"]})
    assert response.status_code == 429
    assert response.json() == {"error": "Model is overloaded", "error_type": "Overloaded"}


def test_burst_gets_only_200_and_429(strict: RunningServer) -> None:
    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=strict.url, timeout=60) as client:
            requests = [client.post("/embed", json={"inputs": SEED_TEXT}) for _ in range(12)]
            return list(await asyncio.gather(*requests))

    responses = asyncio.run(burst())
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {200, 429}
    assert 200 in statuses
    expected = st_encode(minilm_dir(), [SEED_TEXT])
    for response in responses:
        if response.status_code == 200:
            assert_close_rows(response.json(), expected)


def test_without_auto_truncate_long_input_is_422(strict: RunningServer) -> None:
    response = httpx.post(f"{strict.url}/embed", json={"inputs": "word " * 300})
    assert response.status_code == 422
    assert "must have less than 256 tokens" in response.json()["error"]
    ok = httpx.post(f"{strict.url}/embed", json={"inputs": "word " * 300, "truncate": True})
    assert ok.status_code == 200


def test_streamed_body_over_limit_is_413(strict: RunningServer) -> None:
    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit applies while reading
        yield b'{"inputs": "'
        for _ in range(30):
            yield b"a" * 10_000
        yield b'"}'

    response = httpx.post(
        f"{strict.url}/invocations", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert httpx.get(f"{strict.url}/ping").status_code == 200


def test_sagemaker_payload_setting(server_factory: ServerFactory) -> None:
    server = server_factory("minilm-1mb", {"SAGEMAKER_MAX_PAYLOAD_IN_MB": "1"})
    params = httpx.get(f"{server.url}/execution-parameters").json()
    assert params["MaxPayloadInMB"] == 1
    assert params["BatchStrategy"] == "MULTI_RECORD"
    assert params["MaxConcurrentTransforms"] >= 1
    body = json.dumps({"inputs": "a" * 1_500_000})
    response = httpx.post(
        f"{server.url}/invocations", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413


def test_inference_failure_is_424_and_health_recovers(
    server_factory: ServerFactory, model_dirs: Callable[[str], Path]
) -> None:
    """A reranker with one token type: pairs fail inside the forward pass, singles work."""
    server = server_factory("single-segment", {"HF_MODEL_ID": str(model_dirs("single-segment"))})
    failed = httpx.post(f"{server.url}/rerank", json={"query": "q", "texts": ["a", "b"]})
    assert failed.status_code == 424
    assert failed.json()["error_type"] == "Backend"
    assert "Traceback" not in failed.text
    unhealthy = httpx.get(f"{server.url}/ping")
    assert unhealthy.status_code == 503
    assert unhealthy.json() == {"error": "unhealthy", "error_type": "Unhealthy"}
    assert httpx.post(f"{server.url}/predict", json={"inputs": "single"}).status_code == 200
    assert httpx.get(f"{server.url}/ping").status_code == 200
