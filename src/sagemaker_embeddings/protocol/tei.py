"""TEI's requests: schema in -> engine call -> Reply out.

/invocations binds to these very handlers, so both paths answer byte for byte alike.
"""

from __future__ import annotations

from typing import Any

from sagemaker_embeddings.engine.engine import Engine, RawInput
from sagemaker_embeddings.engine.tokenize import TextInput
from sagemaker_embeddings.protocol.reply import Reply, json_reply
from sagemaker_embeddings.schemas.tei import (
    DecodeRequest,
    EmbedAllRequest,
    EmbedRequest,
    EmbedSparseRequest,
    Inputs,
    PredictRequest,
    RerankRequest,
    SimilarityRequest,
    TokenizeRequest,
)


def as_list(inputs: Inputs) -> list[RawInput]:
    """ "text" | ["a", "b"] | [ids] | [[ids], [ids]] -> one entry per input."""
    if isinstance(inputs, str):
        return [inputs]
    if inputs and isinstance(inputs[0], int):
        return [[int(i) for i in inputs]]
    return list(inputs)  # type: ignore[arg-type]


def compute_type(engine: Engine) -> str:
    return "gpu" if engine.runner.device_type == "cuda" else "cpu"


async def handle_embed(body: EmbedRequest, engine: Engine) -> Reply:
    result = await engine.embed(
        as_list(body.inputs),
        truncate=body.truncate,
        direction=body.truncation_direction,
        prompt_name=body.prompt_name,
        normalize=body.normalize,
        dimensions=body.dimensions,
    )
    return json_reply(result.value, result, compute_type(engine))


async def handle_embed_all(body: EmbedAllRequest, engine: Engine) -> Reply:
    result = await engine.embed_all(
        as_list(body.inputs),
        truncate=body.truncate,
        direction=body.truncation_direction,
        prompt_name=body.prompt_name,
    )
    return json_reply(result.value, result, compute_type(engine))


async def handle_embed_sparse(body: EmbedSparseRequest, engine: Engine) -> Reply:
    result = await engine.embed_sparse(
        as_list(body.inputs),
        truncate=body.truncate,
        direction=body.truncation_direction,
        prompt_name=body.prompt_name,
    )
    sparse = [[{"index": i, "value": v} for i, v in row] for row in result.value]
    return json_reply(sparse, result, compute_type(engine))


async def handle_predict(body: PredictRequest, engine: Engine) -> Reply:
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
    return json_reply(rows[0] if single else rows, result, compute_type(engine))


async def handle_rerank(body: RerankRequest, engine: Engine) -> Reply:
    result = await engine.rerank(
        body.query,
        body.texts,
        truncate=body.truncate,
        direction=body.truncation_direction,
        raw_scores=body.raw_scores,
        instruction=body.instruction,
    )
    ranks = []
    for index in sorted(range(len(result.value)), key=lambda i: -result.value[i]):
        rank: dict[str, Any] = {"index": index, "score": result.value[index]}
        if body.return_text:
            rank["text"] = body.texts[index]
        ranks.append(rank)
    return json_reply(ranks, result, compute_type(engine))


async def handle_similarity(body: SimilarityRequest, engine: Engine) -> Reply:
    params = body.parameters
    result = await engine.similarity(
        body.inputs.source_sentence,
        body.inputs.sentences,
        truncate=params.truncate if params else None,
        direction=params.truncation_direction if params else "right",
        prompt_name=params.prompt_name if params else None,
    )
    return json_reply(result.value, result, compute_type(engine))


async def handle_tokenize(body: TokenizeRequest, engine: Engine) -> Reply:
    inputs = [body.inputs] if isinstance(body.inputs, str) else body.inputs
    rows = await engine.tokenize(
        inputs, add_special_tokens=body.add_special_tokens, prompt_name=body.prompt_name
    )
    return json_reply([[token.__dict__ for token in row] for row in rows])


def handle_decode(body: DecodeRequest, engine: Engine) -> Reply:
    ids = body.ids
    batch = [ids] if ids and isinstance(ids[0], int) else ids
    return json_reply(engine.decode(batch, body.skip_special_tokens))  # type: ignore[arg-type]


def _as_text_input(parts: list[str]) -> TextInput:
    return parts[0] if len(parts) == 1 else (parts[0], parts[1])
