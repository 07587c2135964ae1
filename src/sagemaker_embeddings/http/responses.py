"""Protocol replies as FastAPI responses; the engine's measurements ride along as values.

The timings go to clients as TEI's ``x-*`` headers, and to the request log and trace
middleware through the ASGI scope (``TIMINGS_KEY``), so nothing parses them back.
"""

from __future__ import annotations

from fastapi import Request, Response

from sagemaker_embeddings.protocol.reply import TIMINGS_KEY, ErrorReply, Reply


def to_response(reply: Reply, request: Request | None = None) -> Response:
    if request is not None and reply.result is not None:
        request.scope[TIMINGS_KEY] = reply.result
    return Response(reply.body, media_type=reply.content_type, headers=reply.headers())


def error_to_response(reply: ErrorReply) -> Response:
    return Response(reply.body, status_code=reply.status, media_type=reply.content_type)
