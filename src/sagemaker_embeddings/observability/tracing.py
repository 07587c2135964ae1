"""OpenTelemetry tracing when OTLP_ENDPOINT is set: one server span per request.

The span continues the caller's trace when the request carries a W3C ``traceparent``
header, and records the method, path, status and TEI's timings (tokens, tokenization,
queue and inference milliseconds). Spans go to an OTLP collector over HTTP/protobuf in
batches, off the request path. The SDK and exporter are the optional ``otel`` extra;
without them, setting OTLP_ENDPOINT logs one warning and the server runs untraced.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sagemaker_embeddings.protocol.reply import measured

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

logger = logging.getLogger(__name__)


def traces_url(endpoint: str) -> str:
    """A collector's base URL gets OTLP/HTTP's traces path; a full URL is kept."""
    endpoint = endpoint.rstrip("/")
    return endpoint if endpoint.endswith("/v1/traces") else f"{endpoint}/v1/traces"


def start_tracing(endpoint: str, service_name: str) -> TracerProvider | None:
    """A provider exporting to ``endpoint``, or None when the `otel` extra is missing."""
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        logger.warning(
            "OTLP_ENDPOINT is set but the OpenTelemetry SDK is not installed "
            "(pip install 'sagemaker-embeddings[otel]'); tracing is off"
        )
        return None
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=traces_url(endpoint))))
    logger.info("tracing to %s as %s", traces_url(endpoint), service_name)
    return provider


class TraceRequests:
    """ASGI middleware: a SERVER span per HTTP request, parented by ``traceparent``."""

    def __init__(self, app: ASGIApp, provider: TracerProvider) -> None:
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        self.app = app
        self.tracer = provider.get_tracer("sagemaker_embeddings")
        self.propagator = TraceContextTextMapPropagator()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from opentelemetry.trace import SpanKind, Status, StatusCode

        carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        parent = self.propagator.extract(carrier)
        method, path = scope["method"], scope["path"]
        attributes: dict[str, Any] = {"http.request.method": method, "url.path": path}
        with self.tracer.start_as_current_span(
            f"{method} {path}", context=parent, kind=SpanKind.SERVER, attributes=attributes
        ) as span:

            async def observing_send(message: Message) -> None:
                if message["type"] == "http.response.start":
                    status = int(message["status"])
                    span.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        span.set_status(Status(StatusCode.ERROR))
                await send(message)

            try:
                await self.app(scope, receive, observing_send)
            finally:
                # The engine's measurements, left in the scope by the route as values.
                for name, value in measured(scope).items():
                    span.set_attribute(f"te.{name}", float(value))
