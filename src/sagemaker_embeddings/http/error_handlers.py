"""Errors -> responses: TEI's JSON, or OpenAI's under /v1 (bodies from protocol/reply.py)."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from sagemaker_embeddings.errors import ServingError
from sagemaker_embeddings.http.responses import error_to_response
from sagemaker_embeddings.protocol.reply import (
    ErrorStyle,
    describe_validation_errors,
    render_error,
    render_internal,
)

logger = logging.getLogger(__name__)


def error_style(path: str) -> ErrorStyle:
    """The error body a route answers with; its OpenAPI entry must say the same."""
    return "openai" if path.startswith("/v1/") else "tei"


def error_response(request: Request, status: int, message: str, error_type: str) -> Response:
    return error_to_response(
        render_error(status, message, error_type, error_style(request.url.path))
    )


async def _serving_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ServingError)
    return error_response(request, exc.status_code, exc.message, exc.error_type)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    if any(e.get("type") == "json_invalid" for e in errors):
        return error_response(request, 400, "the body is not valid JSON", "Validation")
    return error_response(request, 422, describe_validation_errors(errors), "Validation")


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    error_type = {404: "NotFound", 405: "MethodNotAllowed"}.get(exc.status_code, "Http")
    return error_response(request, exc.status_code, str(exc.detail), error_type)


async def _client_gone(request: Request, exc: Exception) -> Response:
    # The body stopped arriving: the client hung up, or PayloadLimit refused it with 413
    # (and ends the stream). Nobody reads this answer; it is not a server error.
    logger.debug("client disconnected while sending the body of %s", request.url.path)
    return Response(status_code=400)


async def _unexpected(request: Request, exc: Exception) -> Response:
    # The traceback goes to the log only; clients learn nothing about our internals.
    logger.error("unhandled error on %s", request.url.path, exc_info=exc)
    return error_to_response(render_internal(error_style(request.url.path)))


def install(app: FastAPI) -> None:
    app.add_exception_handler(ServingError, _serving_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(ClientDisconnect, _client_gone)
    app.add_exception_handler(Exception, _unexpected)
