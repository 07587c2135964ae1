"""Prometheus metrics with TEI's names, in a registry owned by one server instance.

TEI's exporter writes a counter under its own name (``te_request_count``) and no
``_created`` series; prometheus_client's text format adds ``_total`` and ``_created``,
which breaks dashboards and alerts written for TEI. ``render`` writes TEI's spelling.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics_core import Metric

from sagemaker_embeddings.errors import ServingError

# TEI: 35 geometric buckets from 15 microseconds, factor 1.5.
_DURATION_BUCKETS = tuple(15e-6 * 1.5**i for i in range(35))


def _powers_of_two(limit: int) -> tuple[float, ...]:
    buckets, value = [], 1
    while value <= limit:
        buckets.append(float(value))
        value *= 2
    return tuple(buckets)


def failure_label(error: BaseException) -> str:
    """TEI's `err` label for te_request_failure: the error class names it."""
    return error.metric_label if isinstance(error, ServingError) else "internal"


class Metrics:
    def __init__(self, max_input_length: int) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.request_count = Counter(
            "te_request_count", "Requests received", ["method"], registry=r
        )
        self.request_success = Counter(
            "te_request_success", "Requests answered", ["method"], registry=r
        )
        self.request_failure = Counter("te_request_failure", "Requests failed", ["err"], registry=r)
        self.request_duration = self._histogram("te_request_duration", "Request time")
        self.tokenization_duration = self._histogram(
            "te_request_tokenization_duration", "Tokenization time"
        )
        self.queue_duration = self._histogram("te_request_queue_duration", "Time in the queue")
        self.inference_duration = self._histogram(
            "te_request_inference_duration", "Forward-pass time"
        )
        self.input_length = Histogram(
            "te_request_input_length",
            "Input length in tokens",
            buckets=_powers_of_two(max_input_length),
            registry=r,
        )
        self.queue_size = Gauge("te_queue_size", "Inputs waiting for the model", registry=r)
        self.batch_size = Histogram(
            "te_batch_next_size",
            "Inputs per forward pass",
            buckets=_powers_of_two(4096),
            registry=r,
        )
        self.batch_tokens = Histogram(
            "te_batch_next_tokens",
            "Padded tokens per forward pass",
            buckets=_powers_of_two(2**20),
            registry=r,
        )
        # TEI counts these per input (a batch of 3 is 3 embeds), in infer.rs.
        self.embed = _OperationMetrics(self, "embed")
        self.predict = _OperationMetrics(self, "predict")
        self.worker_busy = Counter(
            "te_inference_busy_seconds",
            "Seconds of forward passes, summed over the lanes (utilisation = rate / lanes)",
            registry=r,
        )

    def _histogram(self, name: str, documentation: str) -> Histogram:
        return Histogram(name, documentation, buckets=_DURATION_BUCKETS, registry=self.registry)

    def render(self) -> bytes:
        """Prometheus text format 0.0.4 with TEI's names (see the module docstring)."""
        return "".join(_family_lines(family) for family in self.registry.collect()).encode()


class _OperationMetrics:
    """te_<op>_count, _success and the four _duration histograms of one TEI operation."""

    def __init__(self, metrics: Metrics, op: str) -> None:
        r = metrics.registry
        self.count = Counter(f"te_{op}_count", f"Inputs received by {op}", registry=r)
        self.success = Counter(f"te_{op}_success", f"Inputs answered by {op}", registry=r)
        self.duration = metrics._histogram(f"te_{op}_duration", f"{op} time")
        self.tokenization_duration = metrics._histogram(
            f"te_{op}_tokenization_duration", f"{op} tokenization time"
        )
        self.queue_duration = metrics._histogram(f"te_{op}_queue_duration", f"{op} queue time")
        self.inference_duration = metrics._histogram(
            f"te_{op}_inference_duration", f"{op} forward-pass time"
        )

    def answered(
        self, inputs: int, total: float, tokenization: float, queue: float, inference: float
    ) -> None:
        self.success.inc(inputs)
        for _ in range(inputs):
            self.duration.observe(total)
            self.tokenization_duration.observe(tokenization)
            self.queue_duration.observe(queue)
            self.inference_duration.observe(inference)


def _family_lines(family: Metric) -> str:
    kind = family.type if family.type in ("counter", "gauge", "histogram") else "untyped"
    lines = [
        f"# HELP {family.name} {_escape(family.documentation, quote=False)}\n",
        f"# TYPE {family.name} {kind}\n",
    ]
    for name, labels, value in _tei_samples(family):
        label_text = ",".join(f'{key}="{_escape(val)}"' for key, val in labels.items())
        selector = f"{name}{{{label_text}}}" if label_text else name
        lines.append(f"{selector} {_number(value)}\n")
    return "".join(lines)


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)


def _escape(text: str, *, quote: bool = True) -> str:
    escaped = text.replace("\\", "\\\\").replace("\n", "\\n")
    return escaped.replace('"', '\\"') if quote else escaped


def _tei_samples(family: Metric) -> Iterable[tuple[str, dict[str, str], float]]:
    for sample in family.samples:
        if sample.name.endswith("_created"):
            continue
        name = sample.name
        if family.type == "counter":
            name = name.removesuffix("_total")
        yield name, dict(sample.labels), float(sample.value)
