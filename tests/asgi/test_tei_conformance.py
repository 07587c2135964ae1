"""Conformance with TEI 1.9.3's own OpenAPI document (tests/data/tei-1.9.3-openapi.json).

TEI's examples and variants of them go to an embedder, a reranker, a classifier, a SPLADE
model and a similarity model (in process, fake runner: the shapes and statuses are what is
checked here; the numbers are checked against the reference libraries elsewhere). Every
answer's status must be one TEI documents for that route, and its body must validate
against TEI's schema for that status.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.harness.asgi import InProcessClient, in_process

SPEC_PATH = Path(__file__).parents[1] / "data" / "tei-1.9.3-openapi.json"
SPEC: dict[str, Any] = json.loads(SPEC_PATH.read_text())

# TEI's examples, as its document gives them (SimilarityInput, RerankRequest, ...).
QUERY = "What is Deep Learning?"
PASSAGE = "Deep Learning is ..."
OTHER = "What is Machine Learning?"
FEELING = "I like you."

Request = tuple[str, str, Any, int]  # method, path, JSON body (None: GET), TEI's status

COMMON: list[Request] = [
    ("GET", "/health", None, 200),
    ("GET", "/info", None, 200),
    ("POST", "/tokenize", {"inputs": QUERY}, 200),
    ("POST", "/tokenize", {"inputs": [QUERY, OTHER], "add_special_tokens": False}, 200),
    ("POST", "/tokenize", {"inputs": " ".join([QUERY] * 200)}, 200),  # over the model limit
    ("POST", "/decode", {"ids": [101, 2054, 102]}, 200),
    ("POST", "/decode", {"ids": [[101, 2054, 102]], "skip_special_tokens": False}, 200),
    ("POST", "/tokenize", {"inputs": ""}, 400),
]
EMBEDDER: list[Request] = [
    ("POST", "/embed", {"inputs": QUERY}, 200),
    ("POST", "/embed", {"inputs": [QUERY, OTHER], "normalize": False, "truncate": True}, 200),
    ("POST", "/embed", {"inputs": [QUERY, [101, 2054, 102]], "truncation_direction": "Left"}, 200),
    ("POST", "/embed", {"inputs": QUERY, "dimensions": 4, "truncation_direction": "Right"}, 200),
    ("POST", "/embed", {"inputs": QUERY, "dimensions": 100_000}, 422),
    ("POST", "/embed", {"inputs": ["", QUERY]}, 400),
    ("POST", "/embed", {"inputs": [QUERY] * 33}, 422),  # over max_client_batch_size
    ("POST", "/embed", {"inputs": QUERY, "prompt_name": "nope"}, 422),
    ("POST", "/embed_all", {"inputs": [QUERY, OTHER]}, 200),
    ("POST", "/v1/embeddings", {"input": QUERY, "model": "null"}, 200),
    ("POST", "/v1/embeddings", {"input": [QUERY, OTHER], "encoding_format": "base64"}, 200),
    ("POST", "/v1/embeddings", {"input": [""]}, 400),
    ("POST", "/rerank", {"query": QUERY, "texts": [PASSAGE]}, 424),  # not a reranker
    ("POST", "/predict", {"inputs": FEELING}, 424),
    ("POST", "/embed_sparse", {"inputs": QUERY}, 424),
]
RERANKER: list[Request] = [
    ("POST", "/rerank", {"query": QUERY, "texts": [PASSAGE]}, 200),
    (
        "POST",
        "/rerank",
        {"query": QUERY, "texts": [PASSAGE, OTHER], "raw_scores": True, "return_text": True},
        200,
    ),
    ("POST", "/rerank", {"query": QUERY, "texts": []}, 400),
    ("POST", "/predict", {"inputs": [QUERY, PASSAGE]}, 200),
    ("POST", "/embed", {"inputs": QUERY}, 424),
]
CLASSIFIER: list[Request] = [
    ("POST", "/predict", {"inputs": FEELING}, 200),
    ("POST", "/predict", {"inputs": [FEELING, QUERY]}, 200),  # one pair
    ("POST", "/predict", {"inputs": [[FEELING], [QUERY, PASSAGE]], "raw_scores": True}, 200),
    ("POST", "/predict", {"inputs": ""}, 400),
    ("POST", "/embed", {"inputs": QUERY}, 424),
]
SPLADE: list[Request] = [
    ("POST", "/embed_sparse", {"inputs": QUERY}, 200),
    ("POST", "/embed_sparse", {"inputs": [QUERY, [101, 2054, 102]], "truncate": True}, 200),
    ("POST", "/embed_sparse", {"inputs": [""]}, 400),
    ("POST", "/embed_all", {"inputs": QUERY}, 424),  # TEI has no token states for SPLADE
]
SIMILARITY: list[Request] = [
    ("POST", "/similarity", {"inputs": {"source_sentence": QUERY, "sentences": [OTHER]}}, 200),
    (
        "POST",
        "/similarity",
        {
            "inputs": {"source_sentence": QUERY, "sentences": [OTHER, PASSAGE]},
            "parameters": {"truncate": True, "truncation_direction": "Left"},
        },
        200,
    ),
    ("POST", "/similarity", {"inputs": {"source_sentence": QUERY, "sentences": []}}, 400),
]


def _nullable_to_json_schema(node: Any) -> Any:
    """OpenAPI 3.0's `nullable: true` -> JSON Schema's null type."""
    if isinstance(node, list):
        return [_nullable_to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _nullable_to_json_schema(value) for key, value in node.items()}
    if out.pop("nullable", False):
        return {"anyOf": [out, {"type": "null"}]}
    return out


def _components() -> dict[str, Any]:
    components: dict[str, Any] = _nullable_to_json_schema(copy.deepcopy(SPEC["components"]))
    # TEI's document names this field `error_type`, but its serializer renames it to
    # `type` on the wire (router/src/http/types.rs: #[serde(rename(serialize = "type"))]).
    # The wire is what clients parse, so the wire is what we match.
    error = components["schemas"]["OpenAICompatErrorResponse"]
    error["properties"]["type"] = error["properties"].pop("error_type")
    error["required"] = ["message", "code", "type"]
    return components


COMPONENTS = _components()


def response_schema(path: str, method: str, status: int) -> dict[str, Any] | None:
    """TEI's schema for this answer; fails when TEI does not document the status."""
    responses = SPEC["paths"][path][method.lower()]["responses"]
    assert str(status) in responses, f"{method} {path}: TEI does not document {status}"
    content = responses[str(status)].get("content", {}).get("application/json")
    return None if content is None else content["schema"]


def check(client: InProcessClient, request: Request) -> None:
    method, path, body, expected = request
    response = client.get(path) if method == "GET" else client.post(path, json=body)
    described = f"{method} {path} {body!r}"[:160]
    assert response.status_code == expected, f"{described}: {response.text[:200]}"
    schema = response_schema(path, method, response.status_code)
    if schema is not None:
        validator = jsonschema.Draft7Validator({**schema, "components": COMPONENTS})
        errors = [e.message for e in validator.iter_errors(response.json())]
        assert not errors, f"{described} -> {response.status_code}: {errors[:3]}"


@pytest.fixture(scope="module")
def serve_kind(
    model_dirs: Callable[[str], Path],
) -> Iterator[Callable[[str], InProcessClient]]:
    servers: dict[str, Any] = {}
    contexts = []

    def get(kind: str) -> InProcessClient:
        if kind not in servers:
            model = None if kind in ("embedder", "similarity") else model_dirs(kind)
            settings = {
                "similarity": {"task": "sentence-similarity"},
                "splade": {"pooling": "splade"},  # as TEI: --pooling splade on a *ForMaskedLM
            }.get(kind, {})
            context = in_process(model, **settings)
            servers[kind] = context.__enter__()
            contexts.append(context)
        client: InProcessClient = servers[kind].client
        return client

    yield get
    for context in reversed(contexts):
        context.__exit__(None, None, None)


CASES = [
    ("embedder", EMBEDDER + COMMON),
    ("reranker", RERANKER + COMMON),
    ("classifier", CLASSIFIER + COMMON),
    ("splade", SPLADE + COMMON),
    ("similarity", SIMILARITY),
]


@pytest.mark.parametrize(("kind", "requests"), CASES, ids=[kind for kind, _ in CASES])
def test_answers_follow_teis_document(
    serve_kind: Callable[[str], InProcessClient], kind: str, requests: list[Request]
) -> None:
    client = serve_kind(kind)
    for request in requests:
        check(client, request)


def test_the_checker_can_fail() -> None:
    """A body TEI's schema refuses is refused here too (the converted schemas are live)."""
    schema = response_schema("/rerank", "POST", 200)
    assert schema is not None
    validator = jsonschema.Draft7Validator({**schema, "components": COMPONENTS})
    assert list(validator.iter_errors([{"index": 0, "score": 0.5}])) == []
    assert list(validator.iter_errors([{"index": 0, "relevance_score": 0.5}]))
    openai_error = response_schema("/v1/embeddings", "POST", 400)
    assert openai_error is not None
    error_validator = jsonschema.Draft7Validator({**openai_error, "components": COMPONENTS})
    assert list(error_validator.iter_errors({"error": {"message": "x"}}))
    with pytest.raises(AssertionError):
        response_schema("/embed", "POST", 415)
