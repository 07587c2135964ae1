"""SageMaker's content contract for /invocations: bodies decoded by Content-Type (JSON,
JSON Lines, CSV), answers encoded by Accept, and custom attributes as request options."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import BaseModel

from sagemaker_embeddings.errors import EmptyInput, MalformedBody, NotAcceptable, UnsupportedMedia
from sagemaker_embeddings.protocol.reply import JSON

JSON_LINES = ("application/jsonlines", "application/x-jsonlines", "application/jsonl")
CSV = "text/csv"
SUPPORTED_CONTENT_TYPES = (JSON, *JSON_LINES, CSV)
SUPPORTED_ACCEPT = (JSON, *JSON_LINES)


@dataclass(frozen=True)
class Decoded:
    records: list[Any]
    multi_record: bool


def _media_type(header: str | None) -> str:
    return (header or "").split(";", 1)[0].strip().lower()


def decode_body(body: bytes, content_type: str | None) -> Decoded:
    media = _media_type(content_type) or JSON  # SageMaker clients may omit it
    if media not in SUPPORTED_CONTENT_TYPES:
        raise UnsupportedMedia(
            f"unsupported Content-Type {media!r}; supported: {', '.join(SUPPORTED_CONTENT_TYPES)}"
        )
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedBody(f"the body is not valid UTF-8 ({exc.reason})") from exc
    if not text.strip():
        raise EmptyInput("the body is empty")
    if media == JSON:
        return Decoded([_as_payload(_loads(text))], multi_record=False)
    if media == CSV:
        return Decoded(_csv_records(text), multi_record=True)
    lines = [line for line in text.splitlines() if line.strip()]
    return Decoded([_as_payload(_loads(line)) for line in lines], multi_record=True)


def _loads(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise MalformedBody(f"the body is not valid JSON: {exc}") from exc


def _as_payload(value: Any) -> Any:
    # A bare string record is the `inputs` of the task.
    return {"inputs": value} if isinstance(value, str) else value


def _csv_records(text: str) -> list[Any]:
    try:
        rows = [row for row in csv.reader(io.StringIO(text)) if row]
    except csv.Error as exc:
        raise MalformedBody(f"the body is not valid CSV: {exc}") from exc
    # One text per row; two columns make a (text, pair) for classifiers.
    return [{"inputs": row[0] if len(row) == 1 else row} for row in rows]


def choose_accept(header: str | None) -> str:
    """The first supported type the client accepts; JSON when it accepts anything."""
    if not header:
        return JSON
    for part in header.split(","):
        media = _media_type(part)
        if media in ("*/*", "application/*", ""):
            return JSON
        if media in SUPPORTED_ACCEPT:
            return media
    raise NotAcceptable(f"cannot answer in {header!r}; supported: {', '.join(SUPPORTED_ACCEPT)}")


def encode_records(bodies: list[bytes], accept: str) -> bytes:
    """One answer per record: a JSON array, or one JSON document per line."""
    if accept == JSON:
        return b"[" + b",".join(bodies) + b"]"
    return b"".join(body + b"\n" for body in bodies)


def parse_custom_attributes(header: str | None) -> dict[str, Any]:
    """``normalize=false, truncate=true; prompt_name=query`` -> typed values."""
    attributes: dict[str, Any] = {}
    for part in (header or "").replace(";", ",").split(","):
        key, sep, raw = part.partition("=")
        if not sep or not key.strip():
            continue
        attributes[key.strip()] = _typed(raw.strip())
    return attributes


def _typed(raw: str) -> Any:
    lowered = raw.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if raw.lstrip("-").isdigit() and len(raw) < 10:
        return int(raw)
    return raw


def apply_custom_attributes(
    payload: Any, attributes: dict[str, Any], schema: type[BaseModel]
) -> Any:
    """Attributes the task's schema knows fill fields the record leaves unset."""
    if not attributes or not isinstance(payload, dict):
        return payload
    known = {k: v for k, v in attributes.items() if k in schema.model_fields and k not in payload}
    return {**payload, **known}
