"""TEI's routes: schema in -> engine call -> schema out.

The ``handle_*`` functions are plain coroutines so that /invocations can bind to the
very same code as /embed, /rerank and /predict.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from sagemaker_embeddings.engine.engine import Engine, RawInput
from sagemaker_embeddings.engine.tokenize import TextInput
from sagemaker_embeddings.http.responses import json_response
from sagemaker_embeddings.schemas.tei import (
    DecodeRequest,
    EmbedAllRequest,
    EmbedRequest,
    EmbedSparseRequest,
    ErrorResponse,
    Inputs,
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


def as_list(inputs: Inputs) -> list[RawInput]:
    """ "text" | ["a", "b"] | [ids] | [[ids], [ids]] -> one entry per input."""
    if isinstance(inputs, str):
        return [inputs]
    if inputs and isinstance(inputs[0], int):
        return [[int(i) for i in inputs]]
    return list(inputs)  # type: ignore[arg-type]


def compute_type(engine: Engine) -> str:
    return "gpu" if engine.runner.device.type == "cuda" else "cpu"


# --- handlers shared with /invocations -------------------------------------------
async def handle_embed(body: EmbedRequest, engine: Engine) -> Response:
    result = await engine.embed(
        as_list(body.inputs),
        truncate=body.truncate,
        direction=body.truncation_direction,
        prompt_name=body.prompt_name,
        normalize=body.normalize,
        dimensions=body.dimensions,
    )
    return json_response(result.value, result, compute_type(engine))


async def handle_embed_sparse(body: EmbedSparseRequest, engine: Engine) -> Response:
    result = await engine.embed_sparse(
        as_list(body.inputs),
        truncate=body.truncate,
        direction=body.truncation_direction,
        prompt_name=body.prompt_name,
    )
    sparse = [[{"index": i, "value": v} for i, v in row] for row in result.value]
    return json_response(sparse, result, compute_type(engine))


async def handle_predict(body: PredictRequest, engine: Engine) -> Response:
    inputs = body.inputs
    # `[]` is no input at all (the engine answers 400 Empty), not one empty pair.
    single = isinstance(inputs, str) or (bool(inputs) and all(isinstance(x, str) for x in inputs))
    batch: list[TextInput]
    if isinstance(inputs, str):
        batch = [inputs]
    elif single:
        batch = [_as_text_input([str(x) for x in inputs])]
    else:
        batch = [_as_text_input(list(x)) for x in inputs]
    result = await engine.predict(
        batch,
        truncate=body.truncate,
        direction=body.truncation_direction,
        raw_scores=body.raw_scores,
    )
    rows = [[{"score": s, "label": label} for label, s in row] for row in result.value]
    return json_response(rows[0] if single else rows, result, compute_type(engine))


async def handle_rerank(body: RerankRequest, engine: Engine) -> Response:
    result = await engine.rerank(
        body.query,
        body.texts,
        truncate=body.truncate,
        direction=body.truncation_direction,
        raw_scores=body.raw_scores,
    )
    ranks = []
    for index in sorted(range(len(result.value)), key=lambda i: -result.value[i]):
        rank: dict[str, Any] = {"index": index, "score": result.value[index]}
        if body.return_text:
            rank["text"] = body.texts[index]
        ranks.append(rank)
    return json_response(ranks, result, compute_type(engine))


async def handle_similarity(body: SimilarityRequest, engine: Engine) -> Response:
    params = body.parameters
    result = await engine.similarity(
        body.inputs.source_sentence,
        body.inputs.sentences,
        truncate=params.truncate if params else None,
        direction=params.truncation_direction if params else "right",
        prompt_name=params.prompt_name if params else None,
    )
    return json_response(result.value, result, compute_type(engine))


def _as_text_input(parts: list[str]) -> TextInput:
    return parts[0] if len(parts) == 1 else (parts[0], parts[1])


# --- routes --------------------------------------------------------------------
@router.post("/embed", response_model=list[list[float]], tags=["TEI"])
async def embed(body: EmbedRequest, engine: EngineDep) -> Response:
    """Pooled embeddings, one vector per input."""
    return await handle_embed(body, engine)


@router.post("/embed_all", response_model=list[list[list[float]]], tags=["TEI"])
async def embed_all(body: EmbedAllRequest, engine: EngineDep) -> Response:
    """Token embeddings (no pooling): input x token x hidden."""
    result = await engine.embed_all(
        as_list(body.inputs),
        truncate=body.truncate,
        direction=body.truncation_direction,
        prompt_name=body.prompt_name,
    )
    return json_response(result.value, result, compute_type(engine))


@router.post("/embed_sparse", response_model=list[list[SparseValue]], tags=["TEI"])
async def embed_sparse(body: EmbedSparseRequest, engine: EngineDep) -> Response:
    """SPLADE sparse vectors: non-zero vocabulary entries only."""
    return await handle_embed_sparse(body, engine)


@router.post("/predict", response_model=list[Prediction] | list[list[Prediction]], tags=["TEI"])
async def predict(body: PredictRequest, engine: EngineDep) -> Response:
    """Sequence classification of texts or text pairs."""
    return await handle_predict(body, engine)


@router.post("/rerank", response_model=list[Rank], tags=["TEI"])
async def rerank(body: RerankRequest, engine: EngineDep) -> Response:
    """Scores of a query against texts (or documents), best first."""
    return await handle_rerank(body, engine)


@router.post("/similarity", response_model=list[float], tags=["TEI"])
async def similarity(body: SimilarityRequest, engine: EngineDep) -> Response:
    """Cosine similarity of a source sentence to each of the sentences."""
    return await handle_similarity(body, engine)


@router.post("/tokenize", response_model=list[list[SimpleToken]], tags=["TEI"])
async def tokenize(body: TokenizeRequest, engine: EngineDep) -> Response:
    inputs = [body.inputs] if isinstance(body.inputs, str) else body.inputs
    rows = await engine.tokenize(
        inputs, add_special_tokens=body.add_special_tokens, prompt_name=body.prompt_name
    )
    return json_response([[token.__dict__ for token in row] for row in rows])


@router.post("/decode", response_model=list[str], tags=["TEI"])
async def decode(body: DecodeRequest, engine: EngineDep) -> Response:
    ids = body.ids
    batch = [ids] if ids and isinstance(ids[0], int) else ids
    return json_response(engine.decode(batch, body.skip_special_tokens))  # type: ignore[arg-type]
