"""TEI's routes: FastAPI's request schema in -> protocol handler -> response.

The handlers live in protocol/tei.py, shared with /invocations and toolkit mode.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from sagemaker_embeddings.engine.engine import Engine
from sagemaker_embeddings.http.responses import to_response
from sagemaker_embeddings.protocol import tei as handlers
from sagemaker_embeddings.schemas.tei import (
    DecodeRequest,
    EmbedAllRequest,
    EmbedRequest,
    EmbedSparseRequest,
    ErrorResponse,
    Prediction,
    PredictRequest,
    Rank,
    RerankRequest,
    SimilarityRequest,
    SimpleToken,
    SparseValue,
    TokenizeRequest,
)


async def get_engine(request: Request) -> Engine:
    # async on purpose: FastAPI runs a plain `def` dependency in its thread pool,
    # one more thread hop on every request.
    engine: Engine = request.app.state.engine
    return engine


EngineDep = Annotated[Engine, Depends(get_engine)]
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (400, 413, 422, 424, 429)
}
router = APIRouter(responses=ERRORS)


@router.post("/embed", response_model=list[list[float]], tags=["TEI"])
async def embed(body: EmbedRequest, engine: EngineDep, request: Request) -> Response:
    """Pooled embeddings, one vector per input."""
    return to_response(await handlers.handle_embed(body, engine), request)


@router.post("/embed_all", response_model=list[list[list[float]]], tags=["TEI"])
async def embed_all(body: EmbedAllRequest, engine: EngineDep, request: Request) -> Response:
    """Token embeddings (no pooling): input x token x hidden."""
    return to_response(await handlers.handle_embed_all(body, engine), request)


@router.post("/embed_sparse", response_model=list[list[SparseValue]], tags=["TEI"])
async def embed_sparse(body: EmbedSparseRequest, engine: EngineDep, request: Request) -> Response:
    """SPLADE sparse vectors: non-zero vocabulary entries only."""
    return to_response(await handlers.handle_embed_sparse(body, engine), request)


@router.post("/predict", response_model=list[Prediction] | list[list[Prediction]], tags=["TEI"])
async def predict(body: PredictRequest, engine: EngineDep, request: Request) -> Response:
    """Sequence classification of texts or text pairs."""
    return to_response(await handlers.handle_predict(body, engine), request)


@router.post("/rerank", response_model=list[Rank], tags=["TEI"])
async def rerank(body: RerankRequest, engine: EngineDep, request: Request) -> Response:
    """Scores of a query against texts (or documents), best first."""
    return to_response(await handlers.handle_rerank(body, engine), request)


@router.post("/similarity", response_model=list[float], tags=["TEI"])
async def similarity(body: SimilarityRequest, engine: EngineDep, request: Request) -> Response:
    """Cosine similarity of a source sentence to each of the sentences."""
    return to_response(await handlers.handle_similarity(body, engine), request)


@router.post("/tokenize", response_model=list[list[SimpleToken]], tags=["TEI"])
async def tokenize(body: TokenizeRequest, engine: EngineDep) -> Response:
    return to_response(await handlers.handle_tokenize(body, engine))


@router.post("/decode", response_model=list[str], tags=["TEI"])
async def decode(body: DecodeRequest, engine: EngineDep) -> Response:
    return to_response(handlers.handle_decode(body, engine))
