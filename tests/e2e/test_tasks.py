"""Every task and architecture through the real server, against the reference libraries."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch

from tests.conftest import ServerFactory
from tests.harness.serve import RunningServer
from tests.reference import assert_close_rows, st_encode

ModelDirs = Callable[[str], Path]
TEXTS = ["What is Deep Learning?", "A cheetah is running behind its prey.", "short", "x " * 40]
PAIRS = [("What is Deep Learning?", t) for t in TEXTS]


def serve(
    server_factory: ServerFactory, model_dirs: ModelDirs, name: str, **env: str
) -> RunningServer:
    return server_factory(
        name + str(sorted(env.items())), {"HF_MODEL_ID": str(model_dirs(name)), **env}
    )


@pytest.mark.parametrize(
    "architecture", ["bert", "xlm-roberta", "distilbert", "modernbert", "qwen3"]
)
def test_embedders_match_sentence_transformers(
    server_factory: ServerFactory, model_dirs: ModelDirs, architecture: str
) -> None:
    server = serve(server_factory, model_dirs, architecture)
    response = httpx.post(f"{server.url}/embed", json={"inputs": TEXTS, "normalize": False})
    assert response.status_code == 200, response.text
    assert_close_rows(response.json(), st_encode(model_dirs(architecture), TEXTS))
    invoked = httpx.post(f"{server.url}/invocations", json={"inputs": TEXTS[0]})
    assert_close_rows(invoked.json(), st_encode(model_dirs(architecture), TEXTS[:1]))


def test_qwen3_uses_last_token_pooling(
    server_factory: ServerFactory, model_dirs: ModelDirs
) -> None:
    info = httpx.get(f"{serve(server_factory, model_dirs, 'qwen3').url}/info").json()
    assert info["model_type"] == {"embedding": {"pooling": "last_token"}}


def test_dense_normalize_and_prompts(server_factory: ServerFactory, model_dirs: ModelDirs) -> None:
    server = serve(server_factory, model_dirs, "dense-prompts")
    path = model_dirs("dense-prompts")
    plain = httpx.post(f"{server.url}/embed", json={"inputs": TEXTS}).json()
    assert len(plain[0]) == 16  # the Dense module maps 32 -> 16
    assert_close_rows(plain, st_encode(path, TEXTS))
    query = httpx.post(f"{server.url}/embed", json={"inputs": TEXTS, "prompt_name": "query"})
    assert_close_rows(query.json(), st_encode(path, TEXTS, prompt_name="query"))
    assert not np.allclose(query.json()[0], plain[0])
    unknown = httpx.post(f"{server.url}/embed", json={"inputs": "x", "prompt_name": "nope"})
    assert unknown.status_code == 422


def test_reranker_matches_cross_encoder(
    server_factory: ServerFactory, model_dirs: ModelDirs
) -> None:
    from sentence_transformers import CrossEncoder

    path = model_dirs("reranker")
    server = serve(server_factory, model_dirs, "reranker")
    expected = CrossEncoder(str(path), device="cpu").predict(PAIRS)  # sigmoid for one label
    body = {"query": PAIRS[0][0], "texts": TEXTS, "return_text": True}
    ranks = httpx.post(f"{server.url}/rerank", json=body).json()
    assert [r["index"] for r in ranks] == list(np.argsort(-expected))
    for rank in ranks:
        assert rank["score"] == pytest.approx(float(expected[rank["index"]]), abs=1e-4)
        assert rank["text"] == TEXTS[rank["index"]]
    # `documents` (Dify, FastGPT) and /invocations bind to the same handler.
    documents = {"query": PAIRS[0][0], "documents": TEXTS}
    assert (
        httpx.post(f"{server.url}/invocations", json=documents).json()[0]["index"]
        == ranks[0]["index"]
    )
    raw = httpx.post(f"{server.url}/rerank", json={**documents, "raw_scores": True}).json()
    logits = np.log(expected / (1 - expected))
    assert raw[0]["score"] == pytest.approx(float(logits[raw[0]["index"]]), abs=1e-4)
    assert httpx.post(f"{server.url}/embed", json={"inputs": "x"}).status_code == 424
    assert httpx.post(f"{server.url}/rerank", json={"query": "q", "texts": []}).status_code == 400


def test_cohere_style_rerank(server_factory: ServerFactory, model_dirs: ModelDirs) -> None:
    server = serve(server_factory, model_dirs, "reranker")
    native = httpx.post(f"{server.url}/rerank", json={"query": "q", "texts": TEXTS}).json()
    body = {
        "query": "q",
        "documents": [{"text": t} for t in TEXTS],
        "top_n": 2,
        "return_documents": True,
        "model": "rerank-english-v3.0",
    }
    answer = httpx.post(f"{server.url}/v1/rerank", json=body).json()
    assert [r["index"] for r in answer["results"]] == [r["index"] for r in native[:2]]
    first = answer["results"][0]
    assert first["relevance_score"] == pytest.approx(native[0]["score"], abs=1e-6)
    assert first["document"] == {"text": TEXTS[first["index"]]}


def test_classifier_matches_transformers(
    server_factory: ServerFactory, model_dirs: ModelDirs
) -> None:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    path = model_dirs("classifier")
    server = serve(server_factory, model_dirs, "classifier")
    model = AutoModelForSequenceClassification.from_pretrained(path).eval()
    tokenizer = AutoTokenizer.from_pretrained(path)

    def reference(*texts: str) -> dict[str, float]:
        with torch.no_grad():
            logits = model(**tokenizer(*texts, return_tensors="pt")).logits[0]
        probabilities = torch.softmax(logits, -1).tolist()
        return {model.config.id2label[i]: p for i, p in enumerate(probabilities)}

    single = httpx.post(f"{server.url}/predict", json={"inputs": TEXTS[0]}).json()
    assert [p["score"] for p in single] == sorted((p["score"] for p in single), reverse=True)
    assert {p["label"]: p["score"] for p in single} == pytest.approx(reference(TEXTS[0]), abs=1e-5)
    pair = httpx.post(f"{server.url}/predict", json={"inputs": list(PAIRS[1])}).json()
    assert {p["label"]: p["score"] for p in pair} == pytest.approx(reference(*PAIRS[1]), abs=1e-5)
    batch = httpx.post(f"{server.url}/invocations", json={"inputs": [[TEXTS[1]], list(PAIRS[2])]})
    rows = batch.json()
    assert {p["label"]: p["score"] for p in rows[0]} == pytest.approx(reference(TEXTS[1]), abs=1e-5)
    assert {p["label"]: p["score"] for p in rows[1]} == pytest.approx(
        reference(*PAIRS[2]), abs=1e-5
    )
    info = httpx.get(f"{server.url}/info").json()
    assert set(info["model_type"]["classifier"]["id2label"].values()) == {
        "class_0",
        "class_1",
        "class_2",
    }
    assert (
        httpx.post(f"{server.url}/rerank", json={"query": "q", "texts": ["a"]}).status_code == 424
    )


def test_splade_matches_formula(server_factory: ServerFactory, model_dirs: ModelDirs) -> None:
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    path = model_dirs("splade")
    server = serve(server_factory, model_dirs, "splade", POOLING="splade")
    model = AutoModelForMaskedLM.from_pretrained(path).eval()
    encoded = AutoTokenizer.from_pretrained(path)([TEXTS[0]], return_tensors="pt")
    with torch.no_grad():
        logits = model(**encoded).logits
    expected = torch.log1p(torch.relu(logits)).amax(1)[0].numpy()
    sparse = httpx.post(f"{server.url}/invocations", json={"inputs": TEXTS[0]}).json()[0]
    dense = np.zeros_like(expected)
    for item in sparse:
        dense[item["index"]] = item["value"]
    assert np.flatnonzero(dense).tolist() == np.flatnonzero(expected).tolist()
    assert np.allclose(dense, expected, atol=1e-4)
    direct = httpx.post(f"{server.url}/embed_sparse", json={"inputs": [TEXTS[0]]}).json()
    assert direct == [sparse]
    assert httpx.post(f"{server.url}/embed_all", json={"inputs": "x"}).status_code == 424
