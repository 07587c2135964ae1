"""create_app(settings, engine) -> FastAPI: routes, error handlers, middleware."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from sagemaker_embeddings import __version__
from sagemaker_embeddings.engine.engine import Engine
from sagemaker_embeddings.http import error_handlers
from sagemaker_embeddings.http.middleware import ApiKey, PayloadLimit
from sagemaker_embeddings.http.routes import health, openai, rerank, sagemaker, tei
from sagemaker_embeddings.settings import Settings


def create_app(settings: Settings, engine: Engine) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        # uvicorn has drained in-flight requests by now; stop the worker threads.
        engine.stop()

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
    error_handlers.install(app)
    if settings.api_key is not None:
        app.add_middleware(ApiKey, key=settings.api_key.get_secret_value())
    # Outermost: refuse oversized bodies before anything reads them.
    app.add_middleware(PayloadLimit, limit=settings.effective_payload_limit)
    return app
