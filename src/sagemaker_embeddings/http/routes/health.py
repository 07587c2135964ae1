"""Health, info and metrics: answered on the event loop, never queued behind inference."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from sagemaker_embeddings import __version__
from sagemaker_embeddings.errors import Unhealthy
from sagemaker_embeddings.http.routes.tei import EngineDep
from sagemaker_embeddings.schemas.tei import ErrorResponse, Info

router = APIRouter()
# The body of a 503 is TEI's error JSON ({"error": "unhealthy", "error_type": "Unhealthy"}).
UNHEALTHY: dict[int | str, dict[str, Any]] = {
    503: {"model": ErrorResponse, "description": "Unhealthy"}
}


@router.get("/ping", tags=["Health"], responses=UNHEALTHY)
@router.get("/health", tags=["Health"], responses=UNHEALTHY)
@router.get("/", include_in_schema=False)
async def health(engine: EngineDep) -> Response:
    """200 with an empty body when the model answers (SageMaker's /ping contract)."""
    if not engine.healthy:
        raise Unhealthy()
    return Response(status_code=200)


@router.get("/info", response_model=Info, tags=["Information"])
async def info(request: Request, engine: EngineDep) -> Info:
    spec = engine.spec
    settings = engine.settings
    model_type: dict[str, object]
    if spec.task in ("rerank", "classify"):
        labels = {str(i): label for i, label in spec.id2label.items()}
        kind = "reranker" if spec.task == "rerank" else "classifier"
        model_type = {
            kind: {"id2label": labels, "label2id": {v: int(k) for k, v in labels.items()}}
        }
    else:
        # A ColBERT model has no pooling: it answers one vector per token.
        model_type = {"embedding": {"pooling": spec.pooling or spec.task}}
    return Info(
        model_id=engine.source.model_id,
        model_sha=engine.source.revision,
        model_dtype=engine.runner.dtype_name,
        backend=engine.runner.backend,
        served_model_name=settings.served_model_name or engine.source.model_id,
        model_type=model_type,
        max_concurrent_requests=settings.max_concurrent_requests,
        max_input_length=spec.max_input_length,
        max_batch_tokens=engine.max_batch_tokens,
        max_batch_requests=settings.max_batch_requests,
        max_client_batch_size=settings.max_client_batch_size,
        auto_truncate=settings.auto_truncate,
        tokenization_workers=engine.tokenization_workers,
        version=__version__,
        sha=request.app.state.source_revision,
        docker_label=request.app.state.docker_label,
    )


@router.get("/metrics", tags=["Information"], response_class=Response)
async def metrics(engine: EngineDep) -> Response:
    """Prometheus text format, with TEI's metric names."""
    return Response(engine.metrics.render(), media_type=CONTENT_TYPE_LATEST)
