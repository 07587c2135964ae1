"""OpenAI-compatible /v1/embeddings (and /embeddings)."""

from __future__ import annotations

import base64

import numpy as np
from fastapi import APIRouter, Response

from sagemaker_embeddings.http.responses import json_response
from sagemaker_embeddings.http.routes.tei import EngineDep, as_list, compute_type
from sagemaker_embeddings.schemas.openai import (
    OpenAIEmbeddingRequest,
    OpenAIEmbeddingResponse,
    OpenAIError,
)

router = APIRouter(
    tags=["OpenAI"], responses={code: {"model": OpenAIError} for code in (400, 413, 422, 424, 429)}
)


@router.post("/v1/embeddings", response_model=OpenAIEmbeddingResponse)
@router.post("/embeddings", response_model=OpenAIEmbeddingResponse, include_in_schema=False)
async def openai_embeddings(body: OpenAIEmbeddingRequest, engine: EngineDep) -> Response:
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
        "model": engine.settings.served_model_name or engine.source.model_id,
        "usage": {"prompt_tokens": result.tokens, "total_tokens": result.tokens},
    }
    return json_response(payload, result, compute_type(engine))
