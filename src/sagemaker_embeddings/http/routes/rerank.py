"""Cohere/Jina-style /v1/rerank, for Dify, FastGPT and LangChain rerankers."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from sagemaker_embeddings.http.responses import to_response
from sagemaker_embeddings.http.routes.tei import EngineDep
from sagemaker_embeddings.protocol.compat import handle_cohere_rerank
from sagemaker_embeddings.schemas.openai import OpenAICompatErrorResponse
from sagemaker_embeddings.schemas.rerank import CohereRerankRequest, CohereRerankResponse

router = APIRouter(
    tags=["Rerank"],
    responses={code: {"model": OpenAICompatErrorResponse} for code in (400, 422, 424, 429)},
)


@router.post("/v1/rerank", response_model=CohereRerankResponse)
@router.post("/v2/rerank", response_model=CohereRerankResponse, include_in_schema=False)
async def cohere_rerank(body: CohereRerankRequest, engine: EngineDep, request: Request) -> Response:
    return to_response(await handle_cohere_rerank(body, engine), request)
