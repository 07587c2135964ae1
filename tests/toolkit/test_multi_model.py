"""Multi-model endpoints (SAGEMAKER_MULTI_MODEL=true): the /models API as SageMaker
calls it, with an embedder, a reranker and a model with its own transform_fn."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import orjson
import pytest

from tests.harness.toolkit import ToolkitServer, start_toolkit, stays_absent
from tests.model_factory import copy_minilm
from tests.toolkit.conftest import NativeFactory

TARGET = "X-Amzn-SageMaker-Target-Model"
# transform_fn with context: cosine similarity of a query to documents, one JSON answer.
TRANSFORM_PY = """
import json

import numpy as np


def transform_fn(model, input_data, content_type, accept, context):
    request = json.loads(input_data)
    vectors = np.asarray(model.embed([request["query"], *request["documents"]]))
    scores = vectors[1:] @ vectors[0]
    return json.dumps({"model": context.model_name, "scores": scores.tolist()}), "application/json"
"""


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from tests import model_factory

    root = tmp_path_factory.mktemp("models")
    custom = copy_minilm(root / "custom")
    (custom / "code").mkdir()
    (custom / "code" / "inference.py").write_text(TRANSFORM_PY)
    return {
        "minilm": copy_minilm(root / "minilm"),
        "reranker": model_factory.cross_encoder(root / "reranker", 1),
        "custom": custom,
    }


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ToolkitServer]:
    base = tmp_path_factory.mktemp("opt-ml")
    (base / "models").mkdir()
    running = start_toolkit(base, {"SAGEMAKER_MULTI_MODEL": "true"}, tmp_path_factory.mktemp("mms"))
    yield running
    running.stop()


def _load(server: ToolkitServer, name: str, path: Path) -> httpx.Response:
    # SageMaker's call: a JSON body with the name and the extracted archive's directory.
    return httpx.post(
        f"{server.url}/models", json={"model_name": name, "url": str(path)}, timeout=120
    )


def _invoke(server: ToolkitServer, name: str, payload: object) -> httpx.Response:
    return httpx.post(
        f"{server.url}/models/{name}/invoke", json=payload, headers={TARGET: name}, timeout=60
    )


@pytest.fixture(scope="module")
def loaded(server: ToolkitServer, models: dict[str, Path]) -> ToolkitServer:
    for name, path in models.items():
        response = _load(server, name, path)
        assert response.status_code == 200, response.text
    return server


def test_list_and_describe(loaded: ToolkitServer) -> None:
    listed = httpx.get(f"{loaded.url}/models", timeout=10).json()
    assert {"minilm", "reranker", "custom"} <= {m["modelName"] for m in listed["models"]}
    described = httpx.get(f"{loaded.url}/models/minilm", timeout=10)
    assert described.status_code == 200
    assert httpx.get(f"{loaded.url}/models/never-loaded", timeout=10).status_code == 404


def test_each_model_answers_as_the_native_server(
    loaded: ToolkitServer, models: dict[str, Path], native: NativeFactory
) -> None:
    embed = {"inputs": ["multi-model endpoints", "share one instance"]}
    response = _invoke(loaded, "minilm", embed)
    assert response.status_code == 200
    expected = native(models["minilm"])(orjson.dumps(embed))
    np.testing.assert_allclose(response.json(), expected.body, atol=1e-6)

    rerank = {"query": "what is a reranker?", "texts": ["a model that scores", "a fish"]}
    response = _invoke(loaded, "reranker", rerank)
    assert response.status_code == 200
    expected = native(models["reranker"])(orjson.dumps(rerank))
    got = sorted(response.json(), key=lambda r: r["index"])
    want = sorted(expected.body, key=lambda r: r["index"])
    np.testing.assert_allclose([r["score"] for r in got], [r["score"] for r in want], atol=1e-6)


def test_transform_fn_model(
    loaded: ToolkitServer, models: dict[str, Path], native: NativeFactory
) -> None:
    payload = {"query": "loading models", "documents": ["models load on demand", "bananas"]}
    response = _invoke(loaded, "custom", payload)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["model"] == "custom"
    vectors = np.asarray(
        native(models["minilm"])(
            b'{"inputs": ["loading models", "models load on demand", "bananas"]}'
        ).body
    )
    np.testing.assert_allclose(answer["scores"], vectors[1:] @ vectors[0], atol=1e-5)


def test_load_twice_is_409(loaded: ToolkitServer, models: dict[str, Path]) -> None:
    assert _load(loaded, "minilm", models["minilm"]).status_code == 409


def test_mms_batch_answers_every_request(loaded: ToolkitServer, models: dict[str, Path]) -> None:
    # SageMaker never sets these, but MMS batching must not let one bad request fail others.
    registered = httpx.post(
        f"{loaded.url}/models",
        params={
            "url": str(models["minilm"]),
            "model_name": "batched",
            "batch_size": 4,
            "max_batch_delay": 500,
            "initial_workers": 1,
            "synchronous": "true",
        },
        timeout=120,
    )
    assert registered.status_code == 200, registered.text
    payloads = [{"inputs": "one"}, {"inputs": []}, {"inputs": "three"}, {"nope": 1}]
    with ThreadPoolExecutor(4) as pool:
        responses = list(pool.map(lambda p: _invoke(loaded, "batched", p), payloads))
    assert [r.status_code for r in responses] == [200, 400, 200, 422]
    assert responses[1].json()["error_type"] == "Empty"
    assert responses[3].json()["error_type"] == "Validation"
    assert len(responses[0].json()[0]) == 384


def test_unload_then_invoke_is_404(loaded: ToolkitServer, models: dict[str, Path]) -> None:
    assert httpx.delete(f"{loaded.url}/models/reranker", timeout=60).status_code == 200
    assert _invoke(loaded, "reranker", {"query": "q", "texts": ["t"]}).status_code == 404
    assert httpx.get(f"{loaded.url}/models/reranker", timeout=10).status_code == 404
    # The others still answer.
    assert _invoke(loaded, "minilm", {"inputs": "still here"}).status_code == 200


BROKEN_PY = "raise RuntimeError('broken on purpose')\n"


def test_failed_loads_are_not_left_registered(
    tmp_path_factory: pytest.TempPathFactory, models: dict[str, Path]
) -> None:
    """A model that does not fit gets 507 (so SageMaker evicts), and neither it nor a model
    whose inference.py fails is left registered: SageMaker's retry gets the same answer
    again, never 409."""
    base = tmp_path_factory.mktemp("opt-ml-507")
    (base / "models").mkdir()
    broken = copy_minilm(base / "broken")
    (broken / "code").mkdir()
    (broken / "code" / "inference.py").write_text(BROKEN_PY)
    env = {"SAGEMAKER_MULTI_MODEL": "true", "MEMORY_HEADROOM_MB": str(1 << 30)}
    server = start_toolkit(base, env, tmp_path_factory.mktemp("mms-507"))
    try:
        for name, path, status in (("too-big", models["minilm"], 507), ("broken", broken, 500)):
            first = _load(server, name, path)
            assert first.status_code == status, first.text
            url = f"{server.url}/models/{name}"
            # The lambda runs within this iteration only: binding `url` late is safe.
            absent = stays_absent(lambda: httpx.get(url, timeout=10).status_code)  # noqa: B023
            assert absent, server.log()[-4000:]
            assert _load(server, name, path).status_code == status
    finally:
        server.stop()
