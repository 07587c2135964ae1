"""The real all-MiniLM-L6-v2 behind every embedding route, checked against the references."""

from __future__ import annotations

import base64
import json

import httpx
import numpy as np
import pytest
import torch
from transformers import AutoModel, AutoTokenizer

from sagemaker_embeddings.models.runner import (
    CPU_BATCH_TOKENS_FLOAT32,
    cpu_threads,
    inference_lanes,
)
from tests.conftest import ServerFactory
from tests.model_factory import minilm_dir
from tests.reference import SEED_TEXT, assert_close_rows, cosine, st_encode
from tests.server_harness import RunningServer

TEXTS = [
    "What is Deep Learning?",
    "the mesmerizing performances of the leads keep the film grounded",
    "Un texte en français, avec des accents.",
    SEED_TEXT,
]


@pytest.fixture(scope="module")
def server(server_factory: ServerFactory) -> RunningServer:
    return server_factory("minilm", {})


@pytest.fixture(scope="module")
def client(server: RunningServer) -> httpx.Client:
    return httpx.Client(base_url=server.url, timeout=60)


def test_embed_matches_sentence_transformers(client: httpx.Client) -> None:
    response = client.post("/embed", json={"inputs": TEXTS})
    assert response.status_code == 200
    assert_close_rows(response.json(), st_encode(minilm_dir(), TEXTS))
    single = client.post("/embed", json={"inputs": TEXTS[0]}).json()
    assert len(single) == 1
    assert len(single[0]) == 384


def test_invocations_is_embed_with_json_charset(client: httpx.Client) -> None:
    body = json.dumps({"inputs": ["What is Deep Learning?"]})
    response = client.post(
        "/invocations",
        content=body,
        headers={"content-type": "application/json; charset=utf-8", "accept": "application/json"},
    )
    assert response.status_code == 200
    assert_close_rows(response.json(), st_encode(minilm_dir(), ["What is Deep Learning?"]))


def test_timing_headers(client: httpx.Client) -> None:
    response = client.post("/embed", json={"inputs": "hello"})
    for header in (
        "x-compute-time",
        "x-compute-tokens",
        "x-total-time",
        "x-tokenization-time",
        "x-queue-time",
        "x-inference-time",
        "x-compute-characters",
    ):
        assert header in response.headers
    assert response.headers["x-compute-tokens"] == "3"  # [CLS] hello [SEP]


def test_token_id_inputs_equal_text(client: httpx.Client) -> None:
    ids = AutoTokenizer.from_pretrained(minilm_dir())("What is Deep Learning?")["input_ids"]
    by_ids = client.post("/embed", json={"inputs": ids}).json()
    by_text = client.post("/embed", json={"inputs": "What is Deep Learning?"}).json()
    assert cosine(by_ids[0], by_text[0]) > 0.99999
    out_of_range = client.post("/embed", json={"inputs": [101, 10**6, 102]})
    assert out_of_range.status_code == 422


def test_dimensions_and_normalize(client: httpx.Client) -> None:
    full = np.array(client.post("/embed", json={"inputs": "hello"}).json()[0])
    cut = np.array(client.post("/embed", json={"inputs": "hello", "dimensions": 128}).json()[0])
    assert cut.shape == (128,)
    assert np.allclose(cut, full[:128] / np.linalg.norm(full[:128]), atol=1e-6)
    # MiniLM ships a Normalize module: it is part of the model, so it always applies.
    raw = np.array(client.post("/embed", json={"inputs": "hello", "normalize": False}).json()[0])
    assert abs(np.linalg.norm(raw) - 1) < 1e-5
    for bad in (0, 385):
        response = client.post("/embed", json={"inputs": "hello", "dimensions": bad})
        assert response.status_code == 422
        assert response.json()["error_type"] == "Validation"


def test_truncation(client: httpx.Client) -> None:
    long_text = " ".join(["word"] * 600)
    right = client.post("/embed", json={"inputs": long_text + " apple"}).json()
    left = client.post(
        "/embed", json={"inputs": "apple " + long_text, "truncation_direction": "Left"}
    ).json()
    assert cosine(right[0], left[0]) > 0.999  # both keep only the repeated words
    refused = client.post("/embed", json={"inputs": long_text, "truncate": False})
    assert refused.status_code == 422
    assert "256" in refused.json()["error"]


def test_openai_client(server: RunningServer) -> None:
    from openai import OpenAI

    api = OpenAI(base_url=f"{server.url}/v1", api_key="unused")
    floats = api.embeddings.create(model="any", input=TEXTS[:2])
    assert [d.index for d in floats.data] == [0, 1]
    assert floats.usage.prompt_tokens > 0
    assert_close_rows([d.embedding for d in floats.data], st_encode(minilm_dir(), TEXTS[:2]))
    raw = httpx.post(
        f"{server.url}/v1/embeddings",
        json={"input": TEXTS[0], "encoding_format": "base64"},
    ).json()
    decoded = np.frombuffer(base64.b64decode(raw["data"][0]["embedding"]), dtype="<f4")
    assert_close_rows([decoded], st_encode(minilm_dir(), TEXTS[:1]))
    error = httpx.post(f"{server.url}/v1/embeddings", json={"input": []})
    assert error.status_code == 400
    assert error.json() == {"message": error.json()["message"], "code": 400, "type": "Empty"}


def test_similarity_matches_sentence_transformers(client: httpx.Client) -> None:
    payload = {"inputs": {"source_sentence": TEXTS[0], "sentences": TEXTS[1:]}}
    scores = client.post("/similarity", json=payload).json()
    vectors = st_encode(minilm_dir(), TEXTS)
    expected = [cosine(vectors[0], v) for v in vectors[1:]]
    assert np.allclose(scores, expected, atol=1e-4)


def test_embed_all_matches_transformers(client: httpx.Client) -> None:
    tokenizer = AutoTokenizer.from_pretrained(minilm_dir())
    model = AutoModel.from_pretrained(minilm_dir()).eval()
    encoded = tokenizer([TEXTS[0]], return_tensors="pt")
    expected = model(**encoded).last_hidden_state[0].detach().numpy()
    ours = np.array(client.post("/embed_all", json={"inputs": TEXTS[0]}).json()[0])
    assert ours.shape == expected.shape
    assert_close_rows(ours, expected)


def test_tokenize_and_decode(client: httpx.Client) -> None:
    tokens = client.post("/tokenize", json={"inputs": "Hello world"}).json()[0]
    assert [t["id"] for t in tokens] == [101, 7592, 2088, 102]
    assert tokens[1] == {"id": 7592, "text": "Hello", "special": False, "start": 0, "stop": 5}
    assert tokens[0]["special"] is True
    bare = client.post("/tokenize", json={"inputs": ["Hello world"], "add_special_tokens": False})
    assert [t["id"] for t in bare.json()[0]] == [7592, 2088]
    decoded = client.post("/decode", json={"ids": [101, 7592, 2088, 102]}).json()
    assert decoded == ["hello world"]
    with_special = client.post(
        "/decode", json={"ids": [[101, 7592, 102]], "skip_special_tokens": False}
    ).json()
    assert with_special == ["[CLS] hello [SEP]"]


def test_info_metrics_docs(client: httpx.Client) -> None:
    info = client.get("/info").json()
    assert info["model_id"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert info["model_type"] == {"embedding": {"pooling": "mean"}}
    assert info["max_input_length"] == 256
    # The CPU default: 2048 float32 tokens, shared by the inference lanes.
    lanes = inference_lanes(None, torch.device("cpu"), cpu_threads())
    assert info["max_batch_tokens"] == max(256, CPU_BATCH_TOKENS_FLOAT32 // lanes)
    assert info["max_client_batch_size"] == 32
    client.post("/embed", json={"inputs": "count me"})
    metrics = client.get("/metrics").text
    assert 'te_request_count_total{method="single"}' in metrics
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
def test_embed_errors(client: httpx.Client, payload: object, status: int, error_type: str) -> None:
    response = client.post("/embed", json=payload)
    assert response.status_code == status
    assert response.json()["error_type"] == error_type


def test_wrong_route_for_model_is_424(client: httpx.Client) -> None:
    response = client.post("/rerank", json={"query": "q", "texts": ["a"]})
    assert response.status_code == 424
    assert "embedding model" in response.json()["error"]
    assert client.post("/predict", json={"inputs": "x"}).status_code == 424
    assert client.post("/embed_sparse", json={"inputs": "x"}).status_code == 424


def test_malformed_bodies(client: httpx.Client) -> None:
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


def test_payload_limit_413(client: httpx.Client) -> None:
    body = json.dumps({"inputs": "a" * (7 * 1024 * 1024)})
    response = client.post("/embed", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.json()["error_type"] == "PayloadTooLarge"
    assert client.get("/ping").status_code == 200


def test_health_routes(client: httpx.Client) -> None:
    for path in ("/ping", "/health", "/"):
        response = client.get(path)
        assert response.status_code == 200
        assert response.content == b""
