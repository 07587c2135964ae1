"""One MMS batch in, one answer per request out: the native /invocations code or user hooks.

Without request hooks every request of the batch goes to the engine at once through
``protocol.invocations.invoke`` (the native server's /invocations), so answers are
byte for byte the native ones and the engine packs them into shared forward passes.
With hooks, each request runs input_fn -> predict_fn -> output_fn (or transform_fn);
the defaults of the hooks a user leaves out are the native decoding, engine call and
JSON encoding. A failing request is answered with its own status; the others are not
affected.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from sagemaker_inference.errors import BaseInferenceToolkitError

from sagemaker_embeddings.errors import ServingError
from sagemaker_embeddings.protocol.content import (
    CSV,
    JSON_LINES,
    choose_accept,
    encode_records,
    parse_custom_attributes,
)
from sagemaker_embeddings.protocol.invocations import decode_payloads, invoke, run_payloads
from sagemaker_embeddings.protocol.reply import (
    CUSTOM_ATTRIBUTES,
    JSON,
    ErrorReply,
    Reply,
    json_body,
    render_error,
    render_internal,
    render_serving_error,
)
from sagemaker_embeddings.toolkit.bridge import ToolkitModel
from sagemaker_embeddings.toolkit.hooks import UserHooks

logger = logging.getLogger(__name__)

# Bodies the toolkit hands to input_fn/transform_fn as text rather than bytes.
TEXT_TYPES = (JSON, CSV, *JSON_LINES)


@dataclass(frozen=True)
class Request:
    body: bytes
    headers: dict[str, str]  # lower-case names

    @property
    def content_type(self) -> str | None:
        return self.headers.get("content-type")

    @property
    def accept(self) -> str | None:
        return self.headers.get("accept")


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    content_type: str = JSON
    headers: dict[str, str] = field(default_factory=dict)


def answer_batch(
    requests: Sequence[Request], model: Any, hooks: UserHooks, context: Any
) -> list[Answer]:
    if not hooks.any_request_hook and isinstance(model, ToolkitModel):
        outcomes = model.run(_invoke_all(model, requests))
        return [_from_outcome(outcome) for outcome in outcomes]
    return [_answer_with_hooks(request, model, hooks, context) for request in requests]


async def _invoke_all(model: ToolkitModel, requests: Sequence[Request]) -> list[object]:
    calls = [
        invoke(
            model.engine,
            r.body,
            content_type=r.content_type,
            accept=r.accept,
            custom_attributes=r.headers.get(CUSTOM_ATTRIBUTES),
        )
        for r in requests
    ]
    return list(await asyncio.gather(*calls, return_exceptions=True))


def _from_outcome(outcome: object) -> Answer:
    if isinstance(outcome, Reply):
        return Answer(200, outcome.body, outcome.content_type, outcome.headers())
    if isinstance(outcome, Exception):
        return error_answer(outcome)
    assert isinstance(outcome, BaseException)
    raise outcome  # KeyboardInterrupt, SystemExit...: not a request's answer


def error_answer(exc: Exception) -> Answer:
    """The native server's error JSON and status; unknown errors are a generic 500."""
    if isinstance(exc, ServingError):
        return _error(render_serving_error(exc))
    if isinstance(exc, BaseInferenceToolkitError):
        # User code written for the toolkit raises these with the status it wants.
        status, phrase = int(exc.status_code), str(exc.phrase or "Toolkit")
        return _error(render_error(status, str(exc.message), phrase))
    logger.error("request failed", exc_info=exc)
    return _error(render_internal())


def _error(reply: ErrorReply) -> Answer:
    return Answer(reply.status, reply.body, reply.content_type)


# --- with user hooks ---------------------------------------------------------------
def _answer_with_hooks(request: Request, model: Any, hooks: UserHooks, context: Any) -> Answer:
    try:
        data = _as_text(request)
        if hooks.transform_fn is not None:
            out = hooks.transform_fn(
                model, data, request.content_type, request.accept, context=context
            )
            return _to_answer(out, request.accept)
        if hooks.input_fn is not None:
            decoded = hooks.input_fn(data, request.content_type, context=context)
        else:
            decoded = default_input_fn(request, model)
        if hooks.predict_fn is not None:
            prediction = hooks.predict_fn(decoded, model, context=context)
        else:
            prediction = default_predict_fn(decoded, model)
        if hooks.output_fn is not None:
            out = hooks.output_fn(prediction, request.accept, context=context)
            return _to_answer(out, request.accept)
        return default_output(prediction, request.accept, multi_record=isinstance(decoded, list))
    except Exception as exc:  # one request's failure is that request's answer only
        return error_answer(exc)


def _as_text(request: Request) -> str | bytes:
    media = (request.content_type or JSON).split(";", 1)[0].strip().lower()
    return request.body.decode("utf-8") if media in TEXT_TYPES else request.body


def default_input_fn(request: Request, model: Any) -> Any:
    """The native decoding: one payload dict, or a list of them for JSON Lines and CSV."""
    engine = _model(model).engine
    attributes = parse_custom_attributes(request.headers.get(CUSTOM_ATTRIBUTES))
    payloads, multi_record = decode_payloads(engine, request.body, request.content_type, attributes)
    return payloads if multi_record else payloads[0]


def default_predict_fn(data: Any, model: Any) -> Any:
    """The native answer as Python values: one per record when ``data`` is a list."""
    toolkit_model = _model(model)
    multi_record = isinstance(data, list)
    records = data if multi_record else [data]
    payloads = [{"inputs": r} if isinstance(r, str) else r for r in records]
    reply = toolkit_model.run(run_payloads(toolkit_model.engine, payloads, multi_record, JSON))
    # Plain Python values (lists, floats), as user output_fn hooks have always received.
    return orjson.loads(reply.body)


def default_output(prediction: Any, accept: str | None, *, multi_record: bool) -> Answer:
    media = choose_accept(accept)
    if media == JSON:
        return Answer(200, json_body(prediction), media)
    rows = prediction if multi_record and isinstance(prediction, list) else [prediction]
    return Answer(200, encode_records([json_body(row) for row in rows], media), media)


def _to_answer(out: Any, accept: str | None) -> Answer:
    """A hook's result: body or (body, content_type); bodies that are not bytes become JSON."""
    content_type = None
    if isinstance(out, tuple) and len(out) == 2:
        out, content_type = out
    if isinstance(out, bytes | bytearray):
        body = bytes(out)
    elif isinstance(out, str):
        body = out.encode("utf-8")
    else:
        body = json_body(out)
    media = content_type or (accept if accept and accept != "*/*" else JSON)
    return Answer(200, body, media)


def _model(model: Any) -> ToolkitModel:
    if not isinstance(model, ToolkitModel):
        raise TypeError(
            "the default input_fn/predict_fn need the default model_fn's model; "
            "a custom model_fn needs its own predict_fn"
        )
    return model
