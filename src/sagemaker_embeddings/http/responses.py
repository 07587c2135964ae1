"""JSON responses: orjson (numpy arrays serialise natively) and TEI's timing headers."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Response

from sagemaker_embeddings.engine.engine import Result

JSON = "application/json"


def json_body(content: Any) -> bytes:
    return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)


def json_response(
    content: Any, result: Result[Any] | None = None, compute_type: str = "cpu"
) -> Response:
    headers = timing_headers(result, compute_type) if result is not None else None
    return Response(json_body(content), media_type=JSON, headers=headers)


def timing_headers(result: Result[Any], compute_type: str) -> dict[str, str]:
    """TEI's per-response headers; times in milliseconds."""
    t = result.timings
    return {
        "x-compute-type": compute_type,
        "x-compute-time": _ms(t.total),
        "x-compute-characters": str(result.chars),
        "x-compute-tokens": str(result.tokens),
        "x-total-time": _ms(t.total),
        "x-tokenization-time": _ms(t.tokenization),
        "x-queue-time": _ms(t.queue),
        "x-inference-time": _ms(t.inference),
    }


def _ms(seconds: float) -> str:
    return str(round(seconds * 1000))
