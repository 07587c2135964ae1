"""OpenAI's /v1/embeddings and Cohere/Jina's /v1/rerank over the same engine calls."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np

from sagemaker_embeddings.engine.engine import Engine
from sagemaker_embeddings.protocol.reply import Reply, json_reply
from sagemaker_embeddings.protocol.tei import as_list, compute_type
from sagemaker_embeddings.schemas.openai import OpenAIEmbeddingRequest
from sagemaker_embeddings.schemas.rerank import CohereRerankRequest


def _model_name(engine: Engine) -> str:
    return engine.settings.served_model_name or engine.source.model_id


async def handle_openai_embeddings(body: OpenAIEmbeddingRequest, engine: Engine) -> Reply:
    """Always normalized; truncation follows the server's AUTO_TRUNCATE."""
    result = await engine.embed(as_list(body.input), dimensions=body.dimensions)
    data = []
    for index, vector in enumerate(result.value):
        embedding: object = vector
        if body.encoding_format == "base64":
            little_endian = np.asarray(vector, dtype="<f4").tobytes()
            embedding = base64.b64encode(little_endian).decode("ascii")
        data.append({"object": "embedding", "embedding": embedding, "index": index})
    payload = {
        "object": "list",
        "data": data,
        "model": _model_name(engine),
        "usage": {"prompt_tokens": result.tokens, "total_tokens": result.tokens},
    }
    return json_reply(payload, result, compute_type(engine))


async def handle_cohere_rerank(body: CohereRerankRequest, engine: Engine) -> Reply:
    result = await engine.rerank(
        body.query, body.documents, truncate=body.truncate, instruction=body.instruction
    )
    order = sorted(range(len(result.value)), key=lambda i: -result.value[i])
    results: list[dict[str, Any]] = []
    for index in order[: body.top_n]:
        item: dict[str, Any] = {"index": index, "relevance_score": result.value[index]}
        if body.return_documents:
            item["document"] = {"text": body.documents[index]}
        results.append(item)
    payload = {"model": _model_name(engine), "results": results}
    return json_reply(payload, result, compute_type(engine))
