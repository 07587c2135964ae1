"""OpenAI-compatible /v1/embeddings (and /embeddings); the handler is in protocol/compat.py."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from sagemaker_embeddings.http.responses import to_response
from sagemaker_embeddings.http.routes.tei import EngineDep
from sagemaker_embeddings.protocol.compat import handle_openai_embeddings
from sagemaker_embeddings.schemas.openai import (
    OpenAICompatErrorResponse,
    OpenAIEmbeddingRequest,
    OpenAIEmbeddingResponse,
)

router = APIRouter(
    tags=["OpenAI"],
    responses={code: {"model": OpenAICompatErrorResponse} for code in (400, 413, 422, 424, 429)},
)


@router.post("/v1/embeddings", response_model=OpenAIEmbeddingResponse)
@router.post("/embeddings", response_model=OpenAIEmbeddingResponse, include_in_schema=False)
async def openai_embeddings(
    body: OpenAIEmbeddingRequest, engine: EngineDep, request: Request
) -> Response:
    """Always normalized; truncation follows the server's AUTO_TRUNCATE."""
    return to_response(await handle_openai_embeddings(body, engine), request)
