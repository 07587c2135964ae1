"""Cohere/Jina-style /v1/rerank, for Dify, FastGPT and LangChain rerankers."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from sagemaker_embeddings.http.responses import json_response
from sagemaker_embeddings.http.routes.tei import EngineDep, compute_type
from sagemaker_embeddings.schemas.openai import OpenAIError
from sagemaker_embeddings.schemas.rerank import CohereRerankRequest, CohereRerankResponse

router = APIRouter(
    tags=["Rerank"], responses={code: {"model": OpenAIError} for code in (400, 422, 424, 429)}
)


@router.post("/v1/rerank", response_model=CohereRerankResponse)
@router.post("/v2/rerank", response_model=CohereRerankResponse, include_in_schema=False)
async def cohere_rerank(body: CohereRerankRequest, engine: EngineDep) -> Response:
    result = await engine.rerank(body.query, body.documents, truncate=body.truncate)
    order = sorted(range(len(result.value)), key=lambda i: -result.value[i])
    results: list[dict[str, Any]] = []
    for index in order[: body.top_n]:
        item: dict[str, Any] = {"index": index, "relevance_score": result.value[index]}
        if body.return_documents:
            item["document"] = {"text": body.documents[index]}
        results.append(item)
    model = engine.settings.served_model_name or engine.source.model_id
    return json_response({"model": model, "results": results}, result, compute_type(engine))
