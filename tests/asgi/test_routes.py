"""Routes, validation, error bodies, payload limit and health, in process (fake runner).

Moved from e2e/test_embedder_routes.py and e2e/test_invocations.py: they check statuses,
headers and bodies, never numbers, so they need no model weights and no `serve` process.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from sagemaker_embeddings.models.capacity import (
    CPU_BATCH_TOKENS_FLOAT32,
    cpu_threads,
    inference_lanes,
)
from tests.harness.asgi import InProcessClient, InProcessServer, fake_embedding


def _samples(text: str) -> dict[str, float]:
    """/metrics as {'name{labels}': value}, names exactly as written."""
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            selector, _, value = line.rpartition(" ")
            samples[selector] = float(value)
    return samples


@pytest.fixture(scope="module")
def client(minilm: InProcessServer) -> InProcessClient:
    return minilm.client


def test_info_metrics_docs(client: InProcessClient) -> None:
    info = client.get("/info").json()
    assert info["model_id"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert info["model_type"] == {"embedding": {"pooling": "mean"}}
    assert info["max_input_length"] == 256
    # The CPU default: 2048 float32 tokens, shared by the inference lanes.
    lanes = inference_lanes(None, "cpu", cpu_threads())
    assert info["max_batch_tokens"] == max(256, CPU_BATCH_TOKENS_FLOAT32 // lanes)
    assert info["max_client_batch_size"] == 32
    before = _samples(client.get("/metrics").text)
    client.post("/embed", json={"inputs": ["count me", "and me"]})
    metrics = client.get("/metrics").text
    after = _samples(metrics)
    # TEI's exporter spells counters without `_total` and writes no `_created` series;
    # te_embed_* count inputs, not requests.
    assert "# TYPE te_request_count counter" in metrics.splitlines()
    # ... and stays valid exposition format for Prometheus' own parser.
    assert {f.name for f in text_string_to_metric_families(metrics)} >= {
        "te_embed_count",
        "te_queue_size",
    }
    assert not [line for line in metrics.splitlines() if "_total" in line or "_created" in line]
    for name, delta in (
        ('te_request_count{method="batch"}', 1),
        ("te_embed_count", 2),
        ("te_embed_success", 2),
        ("te_embed_duration_count", 2),
        ("te_embed_queue_duration_count", 2),
        ("te_predict_count", 0),
    ):
        assert after[name] - before.get(name, 0.0) == delta, name
    assert "te_batch_next_size_bucket" in metrics
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    for route in (
        "/embed",
        "/embed_all",
        "/embed_sparse",
        "/predict",
        "/rerank",
        "/similarity",
        "/tokenize",
        "/decode",
        "/v1/embeddings",
        "/v1/rerank",
        "/invocations",
        "/ping",
        "/health",
        "/info",
        "/metrics",
    ):
        assert route in paths, route


@pytest.mark.parametrize(
    ("payload", "status", "error_type"),
    [
        ({"inputs": []}, 400, "Empty"),
        ({"inputs": ["x"] * 33}, 422, "Validation"),
        ({"inputs": 5}, 422, "Validation"),
        ({"inputs": "x", "truncation_direction": "up"}, 422, "Validation"),
        ({"text": "no inputs field"}, 422, "Validation"),
    ],
)
def test_embed_errors(
    client: InProcessClient, payload: object, status: int, error_type: str
) -> None:
    response = client.post("/embed", json=payload)
    assert response.status_code == status
    assert response.json()["error_type"] == error_type


def test_wrong_route_for_model_is_424(client: InProcessClient) -> None:
    response = client.post("/rerank", json={"query": "q", "texts": ["a"]})
    assert response.status_code == 424
    assert "embedding model" in response.json()["error"]
    assert client.post("/predict", json={"inputs": "x"}).status_code == 424
    assert client.post("/embed_sparse", json={"inputs": "x"}).status_code == 424


def test_malformed_bodies(client: InProcessClient) -> None:
    bad_json = client.post(
        "/embed", content=b'{"inputs": ', headers={"content-type": "application/json"}
    )
    assert bad_json.status_code == 400
    assert bad_json.json()["error_type"] == "Validation"
    for path in ("/invocations", "/embed"):
        invalid_utf8 = client.post(
            path, content=b'{"inputs": "\xff\xfe"}', headers={"content-type": "application/json"}
        )
        assert invalid_utf8.status_code in (400, 422), path
    nan = client.post(
        "/invocations", content=b'{"inputs": NaN}', headers={"content-type": "application/json"}
    )
    assert nan.status_code == 400
    unsupported = client.post(
        "/invocations", content=b"x", headers={"content-type": "application/x-npy"}
    )
    assert unsupported.status_code == 415
    assert "application/json" in unsupported.json()["error"]
    assert client.get("/nowhere").json()["error_type"] == "NotFound"


def test_payload_limit_413(client: InProcessClient) -> None:
    body = json.dumps({"inputs": "a" * (7 * 1024 * 1024)})
    response = client.post("/embed", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.json()["error_type"] == "PayloadTooLarge"
    assert client.get("/ping").status_code == 200


def test_health_routes(client: InProcessClient) -> None:
    for path in ("/ping", "/health", "/"):
        response = client.get(path)
        assert response.status_code == 200
        assert response.content == b""


def test_unacceptable_accept_is_406(client: InProcessClient) -> None:
    response = client.post("/invocations", json={"inputs": "x"}, headers={"accept": "text/html"})
    assert response.status_code == 406
    assert "application/json" in response.json()["error"]


def _expected(client: InProcessClient, text: str) -> list[float]:
    """What /embed must answer for ``text``: the fake runner's vector, normalized."""
    ids = [token["id"] for token in client.post("/tokenize", json={"inputs": text}).json()[0]]
    vector = fake_embedding(ids)
    return [float(x) for x in vector / np.linalg.norm(vector)]


def test_records_come_back_in_order(client: InProcessClient) -> None:
    """Each JSON Lines record is answered on its own line, in order, with its own vector."""
    texts = ["first record", "a second, longer record than the first", "3"]
    response = client.post(
        "/invocations",
        content="\n".join(json.dumps({"inputs": t}) for t in texts) + "\n",
        headers={"content-type": "application/jsonlines", "accept": "application/jsonlines"},
    )
    assert response.status_code == 200
    lines = [json.loads(line)[0] for line in response.text.strip().split("\n")]
    assert len(lines) == len(texts)
    for line, text in zip(lines, texts, strict=True):
        assert np.allclose(line, _expected(client, text), atol=1e-6), text
