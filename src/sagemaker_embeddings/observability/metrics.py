"""Prometheus metrics with TEI's names, in a registry owned by one server instance."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

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
        self.worker_busy = Counter(
            "te_inference_busy_seconds",
            "Seconds of forward passes, summed over the lanes (utilisation = rate / lanes)",
            registry=r,
        )

    def _histogram(self, name: str, documentation: str) -> Histogram:
        return Histogram(name, documentation, buckets=_DURATION_BUCKETS, registry=self.registry)

    def render(self) -> bytes:
        return generate_latest(self.registry)
