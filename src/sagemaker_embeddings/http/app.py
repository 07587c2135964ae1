"""create_app(settings, engine) -> FastAPI: routes, error handlers, middleware."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from sagemaker_embeddings import __version__
from sagemaker_embeddings.engine.engine import Engine
from sagemaker_embeddings.http import error_handlers
from sagemaker_embeddings.http.middleware import (
    ApiKey,
    CancelOnDisconnect,
    PayloadLimit,
    RequestLog,
)
from sagemaker_embeddings.http.routes import health, openai, rerank, sagemaker, tei
from sagemaker_embeddings.observability.tracing import TraceRequests, start_tracing
from sagemaker_embeddings.settings import Settings

request_logger = logging.getLogger("sagemaker_embeddings.request")


def create_app(settings: Settings, engine: Engine) -> FastAPI:
    tracing = None
    if settings.otlp_endpoint:
        tracing = start_tracing(settings.otlp_endpoint, settings.otlp_service_name)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        # uvicorn has drained in-flight requests by now, or cancelled those still running
        # at the end of the grace period. Stop the worker threads off the event loop, so
        # that cancelled requests withdraw their queued inputs meanwhile (a blocking join
        # here kept the loop from running them, and the worker computed everything left).
        await asyncio.to_thread(engine.stop)
        if tracing is not None:
            tracing.shutdown()  # flushes the spans still batched

    app = FastAPI(
        title="sagemaker-embeddings",
        version=__version__,
        description="TEI-compatible embedding, reranking and classification, SageMaker-native.",
        lifespan=lifespan,
    )
    app.state.engine = engine
    app.state.source_revision = settings.source_revision
    app.state.docker_label = settings.docker_label
    for module in (health, tei, openai, rerank, sagemaker):
        app.include_router(module.router)

    @app.get("/api-doc/openapi.json", include_in_schema=False)
    async def tei_openapi() -> dict[str, Any]:
        # TEI serves its schema at this path; clients written against TEI fetch it there.
        return app.openapi()

    error_handlers.install(app)
    # Middleware added first runs innermost.
    app.add_middleware(CancelOnDisconnect)
    if settings.api_key is not None:
        app.add_middleware(ApiKey, key=settings.api_key.get_secret_value())
    # Refuse oversized bodies before anything reads them.
    app.add_middleware(PayloadLimit, limit=settings.effective_payload_limit)
    # Outermost, so that they see every answer (413 included); neither reads the body.
    if tracing is not None:
        app.add_middleware(TraceRequests, provider=tracing)
    if request_logger.isEnabledFor(logging.DEBUG):
        app.add_middleware(RequestLog, logger=request_logger)
    return app
