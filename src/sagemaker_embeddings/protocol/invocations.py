"""/invocations without a transport: the body decoded into records, each validated with
the task's request schema and answered by the same handler as /embed, /rerank, /predict.

Multi-record bodies (JSON Lines, CSV) run their records concurrently, so the batcher
packs them into shared forward passes. The native server and toolkit mode (MMS) both
answer through ``invoke``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel, ValidationError

from sagemaker_embeddings.engine.engine import Engine
from sagemaker_embeddings.errors import ValidationFailed
from sagemaker_embeddings.models.task import Route
from sagemaker_embeddings.protocol.content import (
    apply_custom_attributes,
    choose_accept,
    decode_body,
    encode_records,
    parse_custom_attributes,
)
from sagemaker_embeddings.protocol.reply import (
    CUSTOM_ATTRIBUTES,
    JSON,
    Reply,
    describe_validation_errors,
)
from sagemaker_embeddings.protocol.tei import (
    handle_embed,
    handle_embed_all,
    handle_embed_sparse,
    handle_predict,
    handle_rerank,
    handle_similarity,
)
from sagemaker_embeddings.schemas.tei import (
    EmbedAllRequest,
    EmbedRequest,
    EmbedSparseRequest,
    PredictRequest,
    RerankRequest,
    SimilarityRequest,
)

Handler = Callable[[Any, Engine], Awaitable[Reply]]
BINDINGS: dict[Route, tuple[type[BaseModel], Handler]] = {
    "embed": (EmbedRequest, handle_embed),
    "rerank": (RerankRequest, handle_rerank),
    "predict": (PredictRequest, handle_predict),
    "embed_sparse": (EmbedSparseRequest, handle_embed_sparse),
    "similarity": (SimilarityRequest, handle_similarity),
    "embed_all": (EmbedAllRequest, handle_embed_all),  # ColBERT models' token vectors
}


def request_schema(engine: Engine) -> type[BaseModel]:
    """The request schema of the task the engine serves."""
    return BINDINGS[engine.spec.route][0]


def decode_payloads(
    engine: Engine, body: bytes, content_type: str | None, attributes: dict[str, Any]
) -> tuple[list[Any], bool]:
    """The body's records as payloads, custom attributes filled in; and multi-record?"""
    schema = request_schema(engine)
    decoded = decode_body(body, content_type)
    payloads = [apply_custom_attributes(p, attributes, schema) for p in decoded.records]
    return payloads, decoded.multi_record


async def invoke(
    engine: Engine,
    body: bytes,
    *,
    content_type: str | None,
    accept: str | None,
    custom_attributes: str | None,
) -> Reply:
    """One /invocations request, from its body and three header values."""
    media = choose_accept(accept)
    attributes = parse_custom_attributes(custom_attributes)
    payloads, multi_record = decode_payloads(engine, body, content_type, attributes)
    reply = await run_payloads(engine, payloads, multi_record, media)
    if attributes and custom_attributes is not None:
        echo = ((CUSTOM_ATTRIBUTES, custom_attributes),)
        reply = Reply(reply.body, reply.content_type, reply.result, reply.compute_type, echo)
    return reply


async def run_payloads(
    engine: Engine, payloads: list[Any], multi_record: bool, accept: str
) -> Reply:
    """Validate decoded records with the task's schema and answer them in ``accept``."""
    schema, handler = BINDINGS[engine.spec.route]
    bodies = [_validate(schema, payload) for payload in payloads]
    if not multi_record:
        reply = await handler(bodies[0], engine)
        if accept == JSON:
            return reply
        body = encode_records([reply.body], accept)
        return Reply(body, accept, reply.result, reply.compute_type)
    # A batch-transform body may hold thousands of records: admit them in waves
    # (the batcher still packs each wave into full forward passes) instead of
    # refusing the whole body with 429.
    slots = asyncio.Semaphore(max(1, engine.settings.max_concurrent_requests // 2))

    async def answer(body: BaseModel) -> Reply:
        async with slots:
            return await handler(body, engine)

    replies = await asyncio.gather(*(answer(body) for body in bodies))
    return Reply(encode_records([r.body for r in replies], accept), accept)


def _validate(schema: type[BaseModel], payload: Any) -> BaseModel:
    try:
        return schema.model_validate(payload)
    except ValidationError as exc:
        raise ValidationFailed(describe_validation_errors(list(exc.errors()))) from exc  # type: ignore[arg-type]
