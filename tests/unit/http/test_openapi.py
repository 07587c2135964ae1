"""The schema TEI clients read: where it is served and what it documents."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient

from sagemaker_embeddings.engine.engine import Engine
from sagemaker_embeddings.http.app import create_app
from sagemaker_embeddings.http.error_handlers import error_style
from sagemaker_embeddings.protocol.reply import render_error
from sagemaker_embeddings.schemas.tei import EmbedRequest
from sagemaker_embeddings.settings import Settings


@pytest.fixture(scope="module")
def schema_client() -> TestClient:
    # The schema is built from the routes alone; no model is needed, so no lifespan runs.
    engine = SimpleNamespace(worker=SimpleNamespace(last_active=lambda: 0.0))
    return TestClient(create_app(Settings(), cast(Engine, engine)))


def test_schema_is_also_at_teis_path(schema_client: TestClient) -> None:
    tei_path = schema_client.get("/api-doc/openapi.json")
    assert tei_path.status_code == 200
    assert tei_path.json() == schema_client.get("/openapi.json").json()


def test_health_documents_503(schema_client: TestClient) -> None:
    paths: dict[str, Any] = schema_client.get("/openapi.json").json()["paths"]
    for route in ("/health", "/ping"):
        assert "503" in paths[route]["get"]["responses"], route


def test_truncation_direction_lists_teis_spellings() -> None:
    schema = EmbedRequest.model_json_schema()["properties"]["truncation_direction"]
    assert {"Left", "Right", "left", "right"} <= set(schema["enum"])
    for spelling, expected in (("Left", "left"), ("RIGHT", "right"), ("left", "left")):
        parsed = EmbedRequest.model_validate({"inputs": "x", "truncation_direction": spelling})
        assert parsed.truncation_direction == expected


def test_every_tei_route_is_served(schema_client: TestClient) -> None:
    tei = json.loads((Path(__file__).parents[2] / "data" / "tei-1.9.3-openapi.json").read_text())
    ours: dict[str, Any] = schema_client.get("/api-doc/openapi.json").json()["paths"]
    for path, methods in tei["paths"].items():
        assert path in ours, path
        assert set(methods) <= set(ours[path]), path
        for method, operation in methods.items():
            # TEI's documented statuses, error answers included.
            missing = set(operation["responses"]) - set(ours[path][method]["responses"])
            assert not missing, (path, method, missing)


def test_openai_route_errors_have_teis_flat_body(schema_client: TestClient) -> None:
    # TEI's OpenAICompatErrorResponse: {"message", "code", "type"}, nothing nested.
    answer = schema_client.post("/v1/embeddings", json={"input": 5})
    assert answer.status_code == 422
    body = answer.json()
    assert set(body) == {"message", "code", "type"}
    assert (body["code"], body["type"]) == (422, "Validation")


def _fields(document: dict[str, Any], schema: dict[str, Any]) -> tuple[set[str], set[str]]:
    """(properties, required) of a response schema, following one $ref."""
    if "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return set(schema.get("properties", {})), set(schema.get("required", []))


def _error_schemas(document: dict[str, Any]) -> dict[tuple[str, str, str], dict[str, Any]]:
    found = {}
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            for status, response in operation["responses"].items():
                content = response.get("content", {}).get("application/json")
                if status >= "400" and content is not None:
                    found[(path, method, status)] = content["schema"]
    return found


def test_documented_error_bodies_are_what_is_sent(schema_client: TestClient) -> None:
    ours: dict[str, Any] = schema_client.get("/openapi.json").json()
    errors = _error_schemas(ours)
    assert ("/v1/embeddings", "post", "422") in errors
    assert ("/v1/rerank", "post", "400") in errors
    for (path, method, status), schema in errors.items():
        sent = render_error(int(status), "m", "Validation", error_style(path)).body
        keys = set(json.loads(sent))
        assert _fields(ours, schema) == (keys, keys), (path, method, status)


def test_error_schemas_match_teis(schema_client: TestClient) -> None:
    tei = json.loads((Path(__file__).parents[2] / "data" / "tei-1.9.3-openapi.json").read_text())
    # TEI's document names OpenAICompatErrorResponse's last field `error_type`; its
    # serializer writes `type` (router/src/http/types.rs). Compared as sent.
    wire = {"error_type": "type"}
    ours: dict[str, Any] = schema_client.get("/openapi.json").json()
    ours_errors = _error_schemas(ours)
    for key, schema in _error_schemas(tei).items():
        properties, required = _fields(tei, schema)
        if schema.get("$ref", "").endswith("/OpenAICompatErrorResponse"):
            properties = {wire.get(name, name) for name in properties}
            required = {wire.get(name, name) for name in required}
        assert _fields(ours, ours_errors[key]) == (properties, required), key
