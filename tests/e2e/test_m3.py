"""bge-m3's layout (sparse_linear.pt and colbert_linear.pt beside the weights) through the
real server, against FlagEmbedding's BGEM3FlagModel on a tiny model with the same files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests.conftest import ServerFactory
from tests.harness.serve import refused_start
from tests.reference import assert_close_rows

ModelDirs = Callable[[str], Path]
# Repeated words (one weight per id: the largest), an emoji (the unknown token, dropped)
# and a long text that a narrow MAX_LENGTH would cut.
TEXTS = [
    "What is BGE M3? BGE M3 is an embedding model.",
    "Definition of BM25: a ranking function used in search 🙂",
    "short",
    "many words " * 30,
]


@pytest.fixture(scope="module")
def reference(model_dirs: ModelDirs) -> dict[str, Any]:
    from FlagEmbedding import BGEM3FlagModel

    model = BGEM3FlagModel(str(model_dirs("m3")), use_fp16=False, devices="cpu")
    found: dict[str, Any] = model.encode(
        TEXTS, return_dense=True, return_sparse=True, return_colbert_vecs=True
    )
    return found


def serve(server_factory: ServerFactory, model_dirs: ModelDirs, **env: str) -> str:
    return server_factory(
        "m3" + str(sorted(env.items())), {"HF_MODEL_ID": str(model_dirs("m3")), **env}
    ).url


def as_weights(sparse: list[dict[str, float]]) -> dict[str, float]:
    """TEI's sparse answer -> FlagEmbedding's lexical weights (token id as text -> weight)."""
    return {str(item["index"]): item["value"] for item in sparse}


def assert_same_weights(ours: dict[str, float], theirs: dict[str, Any]) -> None:
    assert set(ours) == set(theirs)
    assert theirs, "the reference gave no weights: the test model checks nothing"
    for token, weight in theirs.items():
        assert abs(ours[token] - float(weight)) < 1e-4, token


def test_dense_and_sparse_from_one_model_match_flagembedding(
    server_factory: ServerFactory, model_dirs: ModelDirs, reference: dict[str, Any]
) -> None:
    url = serve(server_factory, model_dirs)
    dense = httpx.post(f"{url}/embed", json={"inputs": TEXTS})
    assert dense.status_code == 200, dense.text
    assert_close_rows(dense.json(), np.asarray(reference["dense_vecs"]))
    sparse = httpx.post(f"{url}/embed_sparse", json={"inputs": TEXTS})
    assert sparse.status_code == 200, sparse.text
    for ours, theirs in zip(sparse.json(), reference["lexical_weights"], strict=True):
        assert_same_weights(as_weights(ours), theirs)
    # Without POOLING=m3_sparse, /invocations stays the dense embedding.
    invoked = httpx.post(f"{url}/invocations", json={"inputs": TEXTS[0]})
    assert_close_rows(invoked.json(), np.asarray(reference["dense_vecs"][:1]))


def test_huggingface_hub_client_gets_the_dense_vector(
    server_factory: ServerFactory, model_dirs: ModelDirs, reference: dict[str, Any]
) -> None:
    from huggingface_hub import InferenceClient

    client = InferenceClient(base_url=serve(server_factory, model_dirs))
    vectors = client.feature_extraction(TEXTS[0])
    assert_close_rows(np.asarray(vectors).reshape(1, -1), np.asarray(reference["dense_vecs"][:1]))


def test_pooling_m3_sparse_binds_invocations_to_the_sparse_weights(
    server_factory: ServerFactory, model_dirs: ModelDirs, reference: dict[str, Any]
) -> None:
    url = serve(server_factory, model_dirs, POOLING="m3_sparse")
    invoked = httpx.post(f"{url}/invocations", json={"inputs": TEXTS[1]})
    assert invoked.status_code == 200, invoked.text
    assert_same_weights(as_weights(invoked.json()[0]), reference["lexical_weights"][1])
    # A dense request in the same server still gets the dense vector, from the same head.
    dense = httpx.post(f"{url}/embed", json={"inputs": TEXTS[1]})
    assert_close_rows(dense.json(), np.asarray(reference["dense_vecs"][1:2]))


def test_embed_all_gives_the_colbert_vectors(
    server_factory: ServerFactory, model_dirs: ModelDirs, reference: dict[str, Any]
) -> None:
    url = serve(server_factory, model_dirs)
    answer = httpx.post(f"{url}/embed_all", json={"inputs": TEXTS})
    assert answer.status_code == 200, answer.text
    for ours, theirs in zip(answer.json(), reference["colbert_vecs"], strict=True):
        # One vector per token after CLS, as FlagEmbedding keeps them.
        assert np.asarray(ours).shape == np.asarray(theirs).shape
        assert_close_rows(ours, np.asarray(theirs))


@pytest.mark.parametrize(
    ("model", "env", "expected"),
    [
        ("m3", {"BACKEND": "onnx"}, "sparse_linear.pt"),
        ("bert", {"POOLING": "m3_sparse"}, "POOLING=m3_sparse needs"),
    ],
    ids=["onnx-has-no-sparse-head", "no-head-file"],
)
def test_refusals_say_why(
    tmp_path: Path, model_dirs: ModelDirs, model: str, env: dict[str, str], expected: str
) -> None:
    error = refused_start({"HF_MODEL_ID": str(model_dirs(model)), **env}, tmp_path)
    assert expected in error, error
