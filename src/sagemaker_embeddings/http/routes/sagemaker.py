"""SageMaker's routes: /invocations bound to the detected task, /execution-parameters.

/invocations is a thin binding: it decodes the body by Content-Type into one or more
records, validates each with the task's request schema, and runs the same handler as
/embed, /rerank or /predict. Multi-record bodies (JSON Lines, CSV) run their records
concurrently, so the batcher packs them into forward passes.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ValidationError

from sagemaker_embeddings.engine.engine import Engine
from sagemaker_embeddings.errors import ValidationFailed
from sagemaker_embeddings.http.content import (
    Decoded,
    apply_custom_attributes,
    choose_accept,
    decode_body,
    encode_records,
    parse_custom_attributes,
)
from sagemaker_embeddings.http.error_handlers import describe_validation_errors
from sagemaker_embeddings.http.routes.tei import (
    EngineDep,
    handle_embed,
    handle_embed_sparse,
    handle_predict,
    handle_rerank,
    handle_similarity,
)
from sagemaker_embeddings.models.task import Route
from sagemaker_embeddings.schemas.tei import (
    EmbedRequest,
    EmbedSparseRequest,
    PredictRequest,
    RerankRequest,
    SimilarityRequest,
)

Handler = Callable[[Any, Engine], Awaitable[Response]]
BINDINGS: dict[Route, tuple[type[BaseModel], Handler]] = {
    "embed": (EmbedRequest, handle_embed),
    "rerank": (RerankRequest, handle_rerank),
    "predict": (PredictRequest, handle_predict),
    "embed_sparse": (EmbedSparseRequest, handle_embed_sparse),
    "similarity": (SimilarityRequest, handle_similarity),
}
CUSTOM_ATTRIBUTES = "x-amzn-sagemaker-custom-attributes"

router = APIRouter(tags=["SageMaker"])


@router.post("/invocations")
@router.post("/", include_in_schema=False)
async def invocations(request: Request, engine: EngineDep) -> Response:
    """The task's payload: {"inputs": ...} for embedders and classifiers,
    {"query": ..., "texts": [...]} for rerankers; JSON, JSON Lines or CSV."""
    return await invoke(
        engine,
        await request.body(),
        content_type=request.headers.get("content-type"),
        accept=request.headers.get("accept"),
        custom_attributes=request.headers.get(CUSTOM_ATTRIBUTES),
    )


async def invoke(
    engine: Engine,
    body: bytes,
    *,
    content_type: str | None,
    accept: str | None,
    custom_attributes: str | None,
) -> Response:
    """/invocations without HTTP: toolkit mode (MMS) answers through this same code."""
    schema, _ = BINDINGS[engine.spec.route]
    media = choose_accept(accept)
    decoded = decode_body(body, content_type)
    attributes = parse_custom_attributes(custom_attributes)
    payloads = [apply_custom_attributes(p, attributes, schema) for p in decoded.records]
    response = await run_payloads(engine, payloads, decoded.multi_record, media)
    if attributes and custom_attributes is not None:
        response.headers[CUSTOM_ATTRIBUTES] = custom_attributes
    return response


async def run_payloads(
    engine: Engine, payloads: list[Any], multi_record: bool, accept: str
) -> Response:
    """Validate decoded records with the task's schema and answer them in ``accept``."""
    schema, handler = BINDINGS[engine.spec.route]
    bodies = [_validate(schema, payload) for payload in payloads]
    if not multi_record:
        response = await handler(bodies[0], engine)
        if accept != "application/json":
            response = _reencode(response, accept)
    else:
        # A batch-transform body may hold thousands of records: admit them in waves
        # (the batcher still packs each wave into full forward passes) instead of
        # refusing the whole body with 429.
        slots = asyncio.Semaphore(max(1, engine.settings.max_concurrent_requests // 2))

        async def answer(body: BaseModel) -> Response:
            async with slots:
                return await handler(body, engine)

        responses = await asyncio.gather(*(answer(body) for body in bodies))
        merged = encode_records([bytes(r.body) for r in responses], accept)
        response = Response(merged, media_type=accept)
    return response


def _validate(schema: type[BaseModel], payload: Any) -> BaseModel:
    try:
        return schema.model_validate(payload)
    except ValidationError as exc:
        raise ValidationFailed(describe_validation_errors(list(exc.errors()))) from exc  # type: ignore[arg-type]


def _reencode(response: Response, accept: str) -> Response:
    body = bytes(response.body)
    out = Response(encode_records([body], accept), media_type=accept)
    for key, value in response.headers.items():
        if key.startswith("x-"):
            out.headers[key] = value
    return out


@router.get("/execution-parameters")
async def execution_parameters(engine: EngineDep) -> dict[str, Any]:
    """What SageMaker batch transform should use with this container."""
    limit_mb = max(1, engine.settings.effective_payload_limit // (1024 * 1024))
    return {
        # One worker owns the model; a few concurrent transforms keep it fed while
        # others are being read, parsed and tokenized.
        "MaxConcurrentTransforms": max(2, min(os.cpu_count() or 2, 8)),
        "BatchStrategy": "MULTI_RECORD",
        "MaxPayloadInMB": limit_mb,
    }


__all__ = ["BINDINGS", "Decoded", "invoke", "router", "run_payloads"]
