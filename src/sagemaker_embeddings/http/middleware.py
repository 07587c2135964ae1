"""ASGI middleware: the payload limit (before the body is read), the optional API key,
cancelling the work of clients that hang up, and the per-request debug log line."""

from __future__ import annotations

import asyncio
import hmac
import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sagemaker_embeddings.protocol.reply import measured, render_error

PUBLIC_PATHS = frozenset({"/ping", "/health", "/metrics", "/"})


async def _send_error(
    send: Send,
    status: int,
    message: str,
    error_type: str,
    drain: Receive | None = None,
) -> None:
    """One error answer. With ``drain``, the rest of the request body is then read and
    thrown away (bounded: DRAIN_BYTES, DRAIN_SECONDS) before the connection closes, as
    nginx's lingering close does: a client that writes its whole body before reading
    (Python's urllib) would otherwise find the socket closed under it and see a reset
    instead of the answer. The whole answer goes out first (its Content-Length tells the
    client it is complete); the response only ends after the drain, because uvicorn stops
    delivering the body once a response is complete."""
    # TEI's body even under /v1, as before: these answers come before any route is known.
    body = render_error(status, message, error_type).body
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    if drain is None:
        await send({"type": "http.response.body", "body": body})
        return
    await send({"type": "http.response.body", "body": body, "more_body": True})
    await _discard_body(drain)
    await send({"type": "http.response.body", "body": b""})


# What a refused body may still cost before its connection is closed anyway: enough for
# a client that overshot a 6 MB limit a few times over, not for one streaming forever.
DRAIN_BYTES = 16 * 1024 * 1024
DRAIN_SECONDS = 5.0


async def _discard_body(receive: Receive) -> None:
    async def discard() -> None:
        read = 0
        while read <= DRAIN_BYTES:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            read += len(message.get("body", b""))
            if not message.get("more_body", False):
                return

    # wait_for, not asyncio.timeout: the package still runs on Python 3.10.
    try:
        await asyncio.wait_for(discard(), DRAIN_SECONDS)
    except asyncio.TimeoutError:
        return


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
            # A client waiting for "100 Continue" has not sent the body: nothing to drain,
            # and reading would invite it.
            expects = headers.get(b"expect", b"").lower() == b"100-continue"
            await _send_error(
                send, 413, message, "PayloadTooLarge", drain=None if expects else receive
            )
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
                        more = msg.get("more_body", False)
                        drain = receive if more else None
                        await _send_error(send, 413, message, "PayloadTooLarge", drain=drain)
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


# Requests answered sooner never start a watcher: most of them cost one timer handle.
WATCH_AFTER_SECONDS = 0.005


class CancelOnDisconnect:
    """Cancel a request's handler when its client hangs up, so its queued work is dropped.

    uvicorn does not cancel handlers. Once the body has been read completely (and the
    request is still running WATCH_AFTER_SECONDS later), a watcher waits on
    ``receive()`` for ``http.disconnect`` and cancels the handler's task; the engine
    then cancels its queue entries (te_request_failure{err="dropped"}). The watcher
    never takes a body message from the app, and requests that never read a body
    (GET /ping) or that are answered quickly pay no task at all.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        timer: asyncio.TimerHandle | None = None
        watcher: asyncio.Task[None] | None = None
        answered = hung_up = False

        async def watch() -> None:
            nonlocal hung_up
            message = await receive()
            # uvicorn also says "disconnect" once the response is complete: not a hang-up.
            if message["type"] == "http.disconnect" and not answered and task is not None:
                hung_up = True
                task.cancel()

        def start_watching() -> None:
            nonlocal watcher
            if not answered:
                watcher = loop.create_task(watch())

        async def body_receive() -> Message:
            nonlocal timer
            message = await receive()
            body_done = message["type"] == "http.request" and not message.get("more_body")
            if body_done and timer is None and not answered:
                timer = loop.call_later(WATCH_AFTER_SECONDS, start_watching)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal answered
            if message["type"] == "http.response.body" and not message.get("more_body"):
                answered = True
            await send(message)

        try:
            await self.app(scope, body_receive, tracking_send)
        except asyncio.CancelledError:
            if not hung_up:
                raise
            # Our own cancellation: the client is gone, there is nobody to answer.
            if task is not None and hasattr(task, "uncancel"):
                task.uncancel()
        finally:
            if timer is not None:
                timer.cancel()
            if watcher is not None and not watcher.done():
                watcher.cancel()


class RequestLog:
    """One DEBUG line per request: method, path, status, duration and TEI's timings.

    Never the body, the query string or headers: request texts stay out of the logs.
    app.py installs it only when the log level is DEBUG, so it costs nothing otherwise.
    """

    def __init__(self, app: ASGIApp, logger: logging.Logger) -> None:
        self.app = app
        self.logger = logger

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 499  # nginx's "client closed the request": no response was sent

        async def observing_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, observing_send)
        except Exception:
            status = 500
            raise
        finally:
            fields: dict[str, object] = {
                "method": scope["method"],
                "path": scope["path"],
                "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                **measured(scope),
            }
            self.logger.debug(
                "request %s",
                " ".join(f"{k}={v}" for k, v in fields.items()),
                extra={"fields": fields},
            )
