"""Observability: TEI's Prometheus metrics with sensible values after traffic, worker
utilisation, timing headers, JSON logs with one DEBUG line per request, and
OpenTelemetry spans (W3C traceparent honoured) received by an in-process collector."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ServerFactory
from tests.harness.serve import RunningServer, start_server
from tests.reliability.conftest import figure, metrics, wait_for

ModelDirs = Callable[[str], Path]
TIMING = ("x-compute-time", "x-total-time", "x-tokenization-time", "x-queue-time",
          "x-inference-time", "x-compute-tokens", "x-compute-characters")  # fmt: skip


def _delta(after: dict[str, float], before: dict[str, float], name: str) -> float:
    return after.get(name, 0.0) - before.get(name, 0.0)


def test_metrics_after_traffic(bert: RunningServer) -> None:
    before = metrics(bert)
    started = time.monotonic()
    tokens = 0
    with httpx.Client(base_url=bert.url, timeout=30) as client:
        for text in ("one", "two words", "three words here"):
            tokens += int(client.post("/embed", json={"inputs": text}).headers["x-compute-tokens"])
        for _ in range(2):
            answer = client.post("/embed", json={"inputs": ["a", "b c", "d e f"]})
            tokens += int(answer.headers["x-compute-tokens"])
        assert client.post("/embed", json={"inputs": ["x"] * 33}).status_code == 422
        assert client.post("/rerank", json={"query": "q", "texts": ["t"]}).status_code == 424
    wall = time.monotonic() - started
    after = metrics(bert)
    d = lambda name: _delta(after, before, name)  # noqa: E731
    assert d('te_request_count{method="single"}') == 3
    assert d('te_request_count{method="batch"}') == 3  # the 33-input one counts as received
    assert d('te_request_success{method="single"}') == 3
    assert d('te_request_success{method="batch"}') == 2
    assert d('te_request_failure{err="validation"}') == 1
    assert d('te_request_failure{err="model_type"}') == 1
    for histogram in ("duration", "tokenization_duration", "queue_duration", "inference_duration"):
        assert d(f"te_request_{histogram}_count") == 5, histogram
        assert 0 < d(f"te_request_{histogram}_sum") < wall, histogram
    # TEI's per-input embed series: 9 inputs received and answered; the 33-input batch is
    # refused before it reaches the model, the rerank before it counts as an embed.
    assert d("te_embed_count") == 9
    assert d("te_embed_success") == 9
    assert d("te_embed_duration_count") == 9
    assert d("te_predict_count") == 0
    assert d("te_request_input_length_count") == 9
    assert d("te_request_input_length_sum") == tokens
    assert d("te_batch_next_size_sum") == 9  # every input went through exactly one pass
    assert d("te_batch_next_tokens_sum") >= tokens  # padded
    assert 1 <= d("te_batch_next_size_count") <= 9
    assert after["te_queue_size"] == 0
    busy = d("te_inference_busy_seconds")
    assert 0 < busy < wall
    figure(
        f"metrics: 5 answered requests (9 inputs, {tokens} tokens) -> every TEI series moved "
        f"as expected; worker utilisation {busy / wall:.1%} of {wall:.2f}s "
        "(rate(te_inference_busy_seconds))"
    )


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/embed", {"inputs": "timing headers"}),
        ("/v1/embeddings", {"input": "timing headers"}),
        ("/invocations", {"inputs": "timing headers"}),
        ("/similarity", {"inputs": {"source_sentence": "timing", "sentences": ["headers"]}}),
    ],
)
def test_timing_headers(bert: RunningServer, path: str, body: dict[str, Any]) -> None:
    answer = httpx.post(f"{bert.url}{path}", json=body)
    assert answer.status_code == 200
    values = {name: int(answer.headers[name]) for name in TIMING}
    assert all(v >= 0 for v in values.values())
    assert answer.headers["x-compute-type"] == "cpu"
    assert values["x-compute-time"] == values["x-total-time"]
    parts = ("x-tokenization-time", "x-queue-time", "x-inference-time")
    assert sum(values[p] for p in parts) <= values["x-total-time"] + 3  # rounding
    assert values["x-compute-tokens"] >= 3  # [CLS] ... [SEP]


def _request_lines(server: RunningServer) -> list[dict[str, Any]]:
    lines = []
    for line in server.log().splitlines():
        if line.startswith("{"):
            entry = json.loads(line)  # every log line is one JSON object
            if entry["target"] == "sagemaker_embeddings.request":
                lines.append(entry)
    return lines


def test_json_logs_one_debug_line_per_request(bert: RunningServer) -> None:
    before = len(_request_lines(bert))
    with httpx.Client(base_url=bert.url, timeout=30) as client:
        client.post("/embed", json={"inputs": ["json", "logs"]})
        client.get("/ping")
        client.post("/embed", json={"inputs": "x", "truncation_direction": "up"})  # 422
    wait_for(lambda: len(_request_lines(bert)) >= before + 3, 5, "three request lines")
    lines = _request_lines(bert)[before:]
    assert len(lines) == 3
    embed, ping, invalid = lines
    assert all(line["level"] == "DEBUG" for line in lines)
    assert (embed["method"], embed["path"], embed["status"]) == ("POST", "/embed", 200)
    for field in ("duration_ms", "tokens", "tokenization_ms", "queue_ms", "inference_ms"):
        assert isinstance(embed[field], int | float), field
        assert embed[field] >= 0, field
    assert (ping["path"], ping["status"]) == ("/ping", 200)
    assert invalid["status"] == 422
    for line in bert.log().splitlines():
        if line.strip() and not line.startswith(("{", "Writing model shards")):
            pytest.fail(f"a log line that is not JSON: {line[:200]}")


def test_no_request_lines_at_info_level(
    server_factory: ServerFactory, model_dirs: ModelDirs
) -> None:
    server = server_factory("rel-reranker", {"HF_MODEL_ID": str(model_dirs("reranker"))})
    httpx.post(f"{server.url}/rerank", json={"query": "q", "texts": ["a"]})
    assert "sagemaker_embeddings.request" not in server.log()


# --- OpenTelemetry ------------------------------------------------------------------
class _Collector(ThreadingHTTPServer):
    spans: list[Any]


class _Traces(BaseHTTPRequestHandler):
    server: _Collector

    def do_POST(self) -> None:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
        )

        body = self.rfile.read(int(self.headers["content-length"]))
        if self.path == "/v1/traces":
            export = ExportTraceServiceRequest.FromString(body)
            for resource in export.resource_spans:
                service = {a.key: a.value.string_value for a in resource.resource.attributes}
                for scope in resource.scope_spans:
                    self.server.spans.extend((service, span) for span in scope.spans)
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[_Collector]:
    server = _Collector(("127.0.0.1", 0), _Traces)
    server.spans = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_otlp_spans_continue_the_callers_trace(
    collector: _Collector, model_dirs: ModelDirs, tmp_path: Path
) -> None:
    endpoint = f"http://127.0.0.1:{collector.server_address[1]}"
    server = start_server(
        {
            "HF_MODEL_ID": str(model_dirs("bert")),
            "OTLP_ENDPOINT": endpoint,
            "OTLP_SERVICE_NAME": "reliability-test",
            "OTEL_BSP_SCHEDULE_DELAY": "100",  # the SDK's own batching setting
        },
        tmp_path,
    )
    trace_id, parent_id = secrets.token_hex(16), secrets.token_hex(8)
    try:
        traced = httpx.post(
            f"{server.url}/embed",
            json={"inputs": "traced"},
            headers={"traceparent": f"00-{trace_id}-{parent_id}-01"},
        )
        assert traced.status_code == 200
        assert httpx.post(f"{server.url}/embed", json={"inputs": ["a"] * 99}).status_code == 422
        wait_for(lambda: len(collector.spans) >= 2, 15, "two spans at the collector")
    finally:
        code = server.stop()
    assert code == 0
    by_name: dict[str, list[Any]] = {}
    for service, span in collector.spans:
        assert service["service.name"] == "reliability-test"
        by_name.setdefault(span.name, []).append(span)
    first, second = by_name["POST /embed"][:2]
    assert first.trace_id.hex() == trace_id  # the caller's trace continues
    assert first.parent_span_id.hex() == parent_id
    assert first.kind == 2  # SPAN_KIND_SERVER
    attributes = {a.key: a.value for a in first.attributes}
    assert attributes["http.response.status_code"].int_value == 200
    assert attributes["te.tokens"].double_value >= 3
    assert "te.inference_ms" in attributes
    assert second.trace_id.hex() != trace_id  # no traceparent: a new trace
    assert not second.parent_span_id
    status = {a.key: a.value for a in second.attributes}["http.response.status_code"]
    assert status.int_value == 422
    assert "traced" not in str(collector.spans)  # no texts in spans either
    figure(f"tracing: {len(collector.spans)} OTLP spans received; traceparent parent honoured")


def test_tracing_without_the_sdk_is_one_warning() -> None:
    """OTLP_ENDPOINT without the `otel` extra: tracing is off, the server still starts."""
    code = (
        "import logging, sys\n"
        "sys.modules['opentelemetry.sdk'] = None  # as if the extra were not installed\n"
        "sys.modules['opentelemetry.exporter'] = None\n"
        "logging.basicConfig()\n"
        "from sagemaker_embeddings.observability.tracing import start_tracing\n"
        "print(start_tracing('http://127.0.0.1:9', 'x'))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "None"
    assert done.stderr.count("OpenTelemetry SDK is not installed") == 1
