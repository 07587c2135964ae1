"""The real all-MiniLM-L6-v2 behind every embedding route, checked against the references."""

from __future__ import annotations

import base64
import json

import httpx
import numpy as np
import pytest
from transformers import AutoModel, AutoTokenizer

from tests.conftest import ServerFactory
from tests.harness.serve import RunningServer
from tests.model_factory import minilm_dir
from tests.reference import (
    SEED_TEXT,
    assert_close_rows,
    cosine,
    sentence_transformer,
    st_encode,
)

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


def pooled_without_normalize(texts: list[str]) -> np.ndarray:
    from sentence_transformers import SentenceTransformer

    full = sentence_transformer(str(minilm_dir()))
    assert type(full[-1]).__name__ == "Normalize"
    unnormalized = SentenceTransformer(modules=list(full)[:-1], device="cpu")
    return np.asarray(unnormalized.encode(texts, convert_to_numpy=True))


def test_dimensions_and_normalize(client: httpx.Client) -> None:
    full = np.array(client.post("/embed", json={"inputs": "hello"}).json()[0])
    cut = np.array(client.post("/embed", json={"inputs": "hello", "dimensions": 128}).json()[0])
    assert cut.shape == (128,)
    assert np.allclose(cut, full[:128] / np.linalg.norm(full[:128]), atol=1e-6)
    # MiniLM ships a Normalize module; as in TEI, `normalize: false` still returns the raw
    # pooled vector: sentence-transformers' output without its Normalize module.
    raw = np.array(client.post("/embed", json={"inputs": "hello", "normalize": False}).json()[0])
    assert abs(np.linalg.norm(raw) - 1) > 0.1
    np.testing.assert_allclose(raw, pooled_without_normalize(["hello"])[0], atol=1e-4)
    np.testing.assert_allclose(raw / np.linalg.norm(raw), full, atol=1e-6)
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
