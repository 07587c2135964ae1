"""ASGI middleware: the payload limit (before the body is read) and the optional API key."""

from __future__ import annotations

import hmac

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sagemaker_embeddings.http.responses import json_body

PUBLIC_PATHS = frozenset({"/ping", "/health", "/metrics", "/"})


async def _send_error(send: Send, status: int, message: str, error_type: str) -> None:
    body = json_body({"error": message, "error_type": error_type})
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"connection", b"close")],
        }
    )
    await send({"type": "http.response.body", "body": body})


class PayloadLimit:
    """413 for bodies over the limit: by Content-Length at once, else while streaming."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        message = f"payload too large: the limit is {self.limit} bytes"
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await _send_error(send, 413, message, "PayloadTooLarge")
            return
        received = 0
        refused = False
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            msg = await receive()
            if msg["type"] == "http.request":
                received += len(msg.get("body", b""))
                if received > self.limit:
                    refused = True
                    if not response_started:
                        await _send_error(send, 413, message, "PayloadTooLarge")
                    return {"type": "http.disconnect"}
            return msg

        async def guarded_send(msg: Message) -> None:
            nonlocal response_started
            if refused:
                return  # we already answered 413
            response_started = True
            await send(msg)

        await self.app(scope, limited_receive, guarded_send)


class ApiKey:
    """Bearer-token check on every route but health and metrics; constant-time compare."""

    def __init__(self, app: ASGIApp, key: str) -> None:
        self.app = app
        self.expected = f"Bearer {key}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (scope["path"] in PUBLIC_PATHS and scope["method"] == "GET"):
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"authorization", b"")
        if not hmac.compare_digest(given, self.expected):
            await _send_error(send, 401, "missing or wrong API key", "Unauthorized")
            return
        await self.app(scope, receive, send)
