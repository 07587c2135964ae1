"""ColBERT late interaction (PyLate's layout) through the real server, against PyLate
itself, run in its own environment (tests/harness/pylate_env.py) on a tiny model that
PyLate built."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests.conftest import ServerFactory
from tests.harness import pylate_env
from tests.reference import SEED_TEXT, cosine

ModelDirs = Callable[[str], Path]
# Punctuation in a query is kept, in a document it is dropped; "x" is shorter than any
# other document; the seed text is longer than the document length (40) and the query
# built from it longer than the query length (24): both are cut.
QUERIES = ["what is a cat?", "How do magnets work, and why?", SEED_TEXT]
DOCUMENTS = [
    "Cats are small, furry animals.",
    "A magnet makes a field; iron is pulled toward it!",
    "x",
    SEED_TEXT,
]
SCORE_BOUND = 1e-4


@pytest.fixture(scope="module")
def reference(model_dirs: ModelDirs) -> dict[str, Any]:
    request = json.dumps({"queries": QUERIES, "documents": DOCUMENTS})
    found: dict[str, Any] = json.loads(
        pylate_env.run("encode", str(model_dirs("colbert")), stdin=request)
    )
    return found


@pytest.fixture(scope="module")
def onnx_dir(model_dirs: ModelDirs, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from sagemaker_embeddings.models.onnx_export import export_onnx
    from sagemaker_embeddings.settings import Settings

    target = tmp_path_factory.mktemp("colbert-onnx") / "colbert"
    source = model_dirs("colbert")
    export_onnx(source, target, Settings(model_id=str(source)))
    return target


def serve(server_factory: ServerFactory, model_dir: Path, backend: str) -> str:
    env = {"HF_MODEL_ID": str(model_dir), "BACKEND": backend, "DTYPE": "float32"}
    return server_factory(f"colbert-{backend}", env).url


def assert_vectors(ours: list[Any], theirs: list[Any]) -> None:
    assert len(ours) == len(theirs)
    for text, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        assert np.shape(a) == np.shape(b), f"text {text}: {np.shape(a)} != {np.shape(b)}"
        for token, (x, y) in enumerate(zip(a, b, strict=True)):
            assert cosine(x, y) >= 0.9999, f"text {text}, token {token}: {cosine(x, y)}"


def assert_scores(ours: list[float], theirs: list[float]) -> None:
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs, strict=True):
        assert abs(a - b) < SCORE_BOUND, (ours, theirs)


@pytest.mark.parametrize("backend", ["torch", "onnx", "openvino"])
def test_vectors_and_scores_match_pylate(
    server_factory: ServerFactory,
    model_dirs: ModelDirs,
    onnx_dir: Path,
    reference: dict[str, Any],
    backend: str,
) -> None:
    folder = model_dirs("colbert") if backend == "torch" else onnx_dir
    url = serve(server_factory, folder, backend)
    assert httpx.get(f"{url}/info").json()["backend"] == backend
    queries = httpx.post(f"{url}/embed_all", json={"inputs": QUERIES, "prompt_name": "query"})
    assert queries.status_code == 200, queries.text
    assert_vectors(queries.json(), reference["queries"])
    # Every query is expanded to the query length, even the one cut to it.
    assert {len(q) for q in queries.json()} == {reference["query_length"]}
    documents = httpx.post(f"{url}/embed_all", json={"inputs": DOCUMENTS})
    assert_vectors(documents.json(), reference["documents"])
    assert len(documents.json()[3]) <= reference["document_length"]
    # SageMaker's /invocations binds to the token vectors; documents by default.
    invoked = httpx.post(f"{url}/invocations", json={"inputs": DOCUMENTS[:2]})
    assert invoked.status_code == 200, invoked.text
    assert_vectors(invoked.json(), reference["documents"][:2])
    for query, expected in zip(QUERIES, reference["scores"], strict=True):
        answer = httpx.post(f"{url}/rerank", json={"query": query, "texts": DOCUMENTS})
        assert answer.status_code == 200, answer.text
        ranks = answer.json()
        assert [r["index"] for r in ranks] == sorted(range(4), key=lambda i: -expected[i])
        assert_scores([r["score"] for r in sorted(ranks, key=lambda r: r["index"])], expected)


def test_query_side_without_prompts_in_the_config(
    server_factory: ServerFactory,
    model_dirs: ModelDirs,
    reference: dict[str, Any],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Older PyLate models define no "query"/"document" prompts: the names still choose
    the side (and token ids still go in as text)."""
    folder = tmp_path_factory.mktemp("colbert-no-prompts") / "colbert"
    shutil.copytree(model_dirs("colbert"), folder)
    config_path = folder / "config_sentence_transformers.json"
    config = json.loads(config_path.read_text())
    del config["prompts"]
    config_path.write_text(json.dumps(config))
    url = server_factory("colbert-no-prompts", {"HF_MODEL_ID": str(folder), "DTYPE": "float32"}).url
    queries = httpx.post(f"{url}/embed_all", json={"inputs": QUERIES, "prompt_name": "query"})
    assert queries.status_code == 200, queries.text
    assert_vectors(queries.json(), reference["queries"])
    cohere_body = {"query": QUERIES[0], "documents": DOCUMENTS, "instruction": "x"}
    refused = httpx.post(f"{url}/v1/rerank", json=cohere_body)
    assert refused.status_code == 422, refused.text


def test_cohere_client_and_refusals(
    server_factory: ServerFactory, model_dirs: ModelDirs, reference: dict[str, Any]
) -> None:
    import cohere

    url = serve(server_factory, model_dirs("colbert"), "torch")
    client = cohere.ClientV2(api_key="unused", base_url=url)
    answer = client.rerank(model="colbert", query=QUERIES[0], documents=DOCUMENTS, top_n=2)
    expected = reference["scores"][0]
    best = sorted(range(len(DOCUMENTS)), key=lambda i: -expected[i])[:2]
    assert [r.index for r in answer.results] == best
    assert_scores([r.relevance_score for r in answer.results], [expected[i] for i in best])
    info = httpx.get(f"{url}/info").json()
    assert info["model_type"] == {"embedding": {"pooling": "colbert"}}
    # No pooled vector: /embed says where to go instead, in TEI's error shape.
    embed = httpx.post(f"{url}/embed", json={"inputs": "a cat"})
    assert embed.status_code == 424
    assert "/embed_all" in embed.json()["error"]
    pair = httpx.post(f"{url}/predict", json={"inputs": [["a", "b"]]})
    assert pair.status_code == 424
