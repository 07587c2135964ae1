"""What a protocol handler returns, and the one renderer of error bodies."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from sagemaker_embeddings.engine.engine import Result
from sagemaker_embeddings.errors import ServingError

JSON = "application/json"
# SageMaker's header for per-request options; echoed back when it carried any.
CUSTOM_ATTRIBUTES = "x-amzn-sagemaker-custom-attributes"
ErrorStyle = Literal["tei", "openai"]
# Where an adapter leaves the engine's Result for its logging and tracing (an ASGI scope key).
TIMINGS_KEY = "sagemaker_embeddings.result"


def json_body(content: Any) -> bytes:
    """orjson: numpy arrays serialise natively, without a round trip through lists."""
    return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)


@dataclass(frozen=True)
class Reply:
    """A successful answer: the body, its media type, and what the engine measured.

    ``result`` carries the counts and timings as values; adapters send them on as
    TEI's ``x-*`` headers (``headers``) and hand them to logs and traces directly.
    """

    body: bytes
    content_type: str = JSON
    result: Result[Any] | None = None
    compute_type: str = "cpu"
    extra_headers: tuple[tuple[str, str], ...] = ()

    def headers(self) -> dict[str, str]:
        """TEI's per-response headers (times in milliseconds), then any extra ones."""
        headers = dict(self.extra_headers)
        if self.result is None:
            return headers
        t = self.result.timings
        return {
            "x-compute-type": self.compute_type,
            "x-compute-time": _ms(t.total),
            "x-compute-characters": str(self.result.chars),
            "x-compute-tokens": str(self.result.tokens),
            "x-total-time": _ms(t.total),
            "x-tokenization-time": _ms(t.tokenization),
            "x-queue-time": _ms(t.queue),
            "x-inference-time": _ms(t.inference),
            **headers,
        }


def measured(state: Mapping[str, Any]) -> dict[str, int]:
    """Tokens and per-stage milliseconds of the engine call left at TIMINGS_KEY; {} if none."""
    result = state.get(TIMINGS_KEY)
    if not isinstance(result, Result):
        return {}
    t = result.timings
    return {
        "tokens": result.tokens,
        "tokenization_ms": round(t.tokenization * 1000),
        "queue_ms": round(t.queue * 1000),
        "inference_ms": round(t.inference * 1000),
    }


def json_reply(content: Any, result: Result[Any] | None = None, compute_type: str = "cpu") -> Reply:
    return Reply(json_body(content), JSON, result, compute_type)


def _ms(seconds: float) -> str:
    return str(round(seconds * 1000))


@dataclass(frozen=True)
class ErrorReply:
    status: int
    body: bytes
    content_type: str = JSON


def render_error(
    status: int, message: str, error_type: str, style: ErrorStyle = "tei"
) -> ErrorReply:
    """The only place error bodies are built: TEI's, or OpenAI's for the /v1 routes."""
    body: dict[str, object]
    if style == "openai":
        # TEI's OpenAICompatErrorResponse: flat, not nested under "error" as in OpenAI's API.
        body = {"message": message, "code": status, "type": error_type}
    else:
        body = {"error": message, "error_type": error_type}
    return ErrorReply(status, json_body(body))


def render_serving_error(exc: ServingError, style: ErrorStyle = "tei") -> ErrorReply:
    return render_error(exc.status_code, exc.message, exc.error_type, style)


INTERNAL_MESSAGE = "internal server error"


def render_internal(style: ErrorStyle = "tei") -> ErrorReply:
    """Unknown errors: a generic 500; the caller logs the traceback, clients see none."""
    return render_error(500, INTERNAL_MESSAGE, "Internal", style)


def describe_validation_errors(errors: list[dict[str, object]]) -> str:
    """pydantic's errors as one short line (the first five), without the ``body`` prefix."""
    parts = []
    for error in errors[:5]:
        location = ".".join(str(p) for p in error.get("loc", ()) if p != "body")  # type: ignore[attr-defined]
        parts.append(f"{location}: {error.get('msg')}" if location else str(error.get("msg")))
    return "; ".join(parts) or "invalid request"
