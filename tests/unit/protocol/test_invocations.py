"""/invocations and the TEI handlers without a transport: Replies carry values and timings."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest

from sagemaker_embeddings.engine.engine import Engine
from sagemaker_embeddings.engine.startup import load_engine
from sagemaker_embeddings.errors import EmptyInput, MalformedBody, Overloaded
from sagemaker_embeddings.observability.metrics import failure_label
from sagemaker_embeddings.protocol.invocations import invoke
from sagemaker_embeddings.protocol.reply import (
    CUSTOM_ATTRIBUTES,
    Reply,
    measured,
    render_internal,
    render_serving_error,
)
from sagemaker_embeddings.protocol.tei import handle_embed
from sagemaker_embeddings.schemas.tei import EmbedRequest
from sagemaker_embeddings.settings import Settings


@pytest.fixture(scope="module")
def engine(model_dirs: Callable[[str], Path]) -> Iterator[Engine]:
    engine = load_engine(Settings(model_id=str(model_dirs("bert")), dtype="float32"))
    yield engine
    engine.stop()


def call(
    engine: Engine,
    body: bytes,
    content_type: str,
    attributes: str | None = None,
    accept: str | None = None,
) -> Reply:
    return asyncio.run(
        invoke(engine, body, content_type=content_type, accept=accept, custom_attributes=attributes)
    )


def test_single_record_is_the_embed_handler_with_its_timings(engine: Engine) -> None:
    reply = call(engine, b'{"inputs": ["a b", "c"]}', "application/json")
    direct = asyncio.run(handle_embed(EmbedRequest(inputs=["a b", "c"]), engine))
    assert reply.body == direct.body
    headers = reply.headers()
    assert reply.result is not None
    assert int(headers["x-compute-tokens"]) == reply.result.tokens > 0
    assert measured({"sagemaker_embeddings.result": reply.result})["tokens"] > 0
    assert CUSTOM_ATTRIBUTES not in headers


def test_multi_record_answers_per_line_and_echoes_attributes(engine: Engine) -> None:
    body, jsonl = b'"one"\n"two"\n', "application/jsonlines"
    assert orjson.loads(call(engine, body, jsonl).body)[1] is not None  # a JSON array by default
    reply = call(engine, body, jsonl, "normalize=false", accept=jsonl)
    assert reply.content_type == "application/jsonlines"
    lines = reply.body.splitlines()
    assert [len(orjson.loads(line)) for line in lines] == [1, 1]
    assert reply.headers() == {CUSTOM_ATTRIBUTES: "normalize=false"}


def test_errors_render_in_one_shape_per_style() -> None:
    tei = render_serving_error(EmptyInput("the body is empty"))
    assert (tei.status, orjson.loads(tei.body)) == (
        400,
        {"error": "the body is empty", "error_type": "Empty"},
    )
    openai = render_serving_error(Overloaded(), "openai")
    assert orjson.loads(openai.body) == {
        "message": "Model is overloaded",
        "type": "Overloaded",
        "code": 429,
    }
    assert orjson.loads(render_internal().body)["error"] == "internal server error"


def test_error_classes_name_their_metric_label() -> None:
    assert failure_label(Overloaded()) == "overloaded"
    assert failure_label(MalformedBody("x")) == "validation"
    assert failure_label(KeyError("x")) == "internal"
