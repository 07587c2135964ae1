"""Single-model toolkit mode (SERVING_MODE=toolkit) with MiniLM answers what the native
server answers: /ping, /invocations single, batched, multi-record, concurrent, errors."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.harness.toolkit import ToolkitServer, start_toolkit
from tests.model_factory import copy_minilm
from tests.toolkit.conftest import NativeFactory, parse

TEXTS = [
    "SageMaker multi-model endpoints load models on demand.",
    "Embeddings map text to vectors.",
    "Rerankers score a query against documents.",
]
JSON = "application/json"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ToolkitServer]:
    base = tmp_path_factory.mktemp("opt-ml")
    copy_minilm(base / "model")
    running = start_toolkit(base, {"SERVING_MODE": "toolkit"}, tmp_path_factory.mktemp("mms"))
    yield running
    assert running.stop() == 0  # SIGTERM ends MMS and serve cleanly


def _post(
    server: ToolkitServer, body: bytes, content_type: str = JSON, **headers: str
) -> httpx.Response:
    return httpx.post(
        f"{server.url}/invocations",
        content=body,
        headers={"content-type": content_type, **headers},
        timeout=60,
    )


def test_ping(server: ToolkitServer) -> None:
    response = httpx.get(f"{server.url}/ping", timeout=5)
    assert response.status_code == 200
    assert response.json()["status"] == "Healthy"


@pytest.mark.parametrize(
    "body",
    [
        b'{"inputs": "SageMaker multi-model endpoints load models on demand."}',
        b'{"inputs": ["Embeddings map text to vectors.", "Rerankers score a query."]}',
        b'{"inputs": "no normalisation", "normalize": false}',
    ],
)
def test_json_equals_native(
    server: ToolkitServer, native: NativeFactory, minilm: Path, body: bytes
) -> None:
    response = _post(server, body)
    expected = native(minilm)(body)
    assert response.status_code == expected.status == 200
    assert response.headers["content-type"].startswith(JSON)
    np.testing.assert_allclose(response.json(), expected.body, atol=1e-6)
    assert int(response.headers["x-compute-tokens"]) > 0  # the engine's timing headers pass through


@pytest.mark.parametrize(
    ("body", "content_type", "accept"),
    [
        ("\n".join(f'{{"inputs": "{t}"}}' for t in TEXTS).encode(), "application/jsonlines", JSON),
        ("\n".join(TEXTS).encode(), "text/csv", "application/jsonlines"),
    ],
)
def test_multi_record_equals_native(
    server: ToolkitServer,
    native: NativeFactory,
    minilm: Path,
    body: bytes,
    content_type: str,
    accept: str,
) -> None:
    response = _post(server, body, content_type, accept=accept)
    expected = native(minilm)(body, content_type=content_type, accept=accept)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(accept)
    np.testing.assert_allclose(parse(response.content), expected.body, atol=1e-6)


def test_concurrent_requests_each_get_their_own_answer(
    server: ToolkitServer, native: NativeFactory, minilm: Path
) -> None:
    bodies = [f'{{"inputs": "request {i}: {TEXTS[i % 3]}"}}'.encode() for i in range(12)]
    with ThreadPoolExecutor(6) as pool:
        responses = list(pool.map(lambda b: _post(server, b), bodies))
    for body, response in zip(bodies, responses, strict=True):
        assert response.status_code == 200
        np.testing.assert_allclose(response.json(), native(minilm)(body).body, atol=1e-6)


def test_custom_attributes_apply_and_echo(
    server: ToolkitServer, native: NativeFactory, minilm: Path
) -> None:
    body = b'{"inputs": "attributes"}'
    attributes = "normalize=false"
    response = _post(server, body, **{"X-Amzn-SageMaker-Custom-Attributes": attributes})
    expected = native(minilm)(body, attributes=attributes)
    np.testing.assert_allclose(response.json(), expected.body, atol=1e-6)
    assert response.headers["x-amzn-sagemaker-custom-attributes"] == attributes


@pytest.mark.parametrize(
    ("body", "content_type", "accept"),
    [
        (b'{"inputs": []}', JSON, None),  # 400 Empty
        (b'{"inputs": ', JSON, None),  # 400 bad JSON
        (b'{"texts": ["no inputs"]}', JSON, None),  # 422 Validation
        (b"\x93NUMPY", "application/x-npy", None),  # 415
        (b'{"inputs": "x"}', JSON, "image/png"),  # 406
    ],
)
def test_errors_equal_native(
    server: ToolkitServer,
    native: NativeFactory,
    minilm: Path,
    body: bytes,
    content_type: str,
    accept: str | None,
) -> None:
    headers = {"accept": accept} if accept else {}
    response = _post(server, body, content_type, **headers)
    expected = native(minilm)(body, content_type=content_type, accept=accept)
    assert response.status_code == expected.status
    assert response.json() == expected.body
