"""The app in this process: a real Engine over a fake runner, driven through httpx.ASGITransport.

Routes, middleware, validation and error bodies are checked in milliseconds, with no
`serve` process and no model weights. Only the runner is replaced; the tokenizer, the
batching queue, the worker threads, admission and the app's lifespan are the real ones.
Numbers are not checked here: parity with sentence-transformers runs on the real runner.

This is the one place that knows how an engine is put together for tests
(engine/startup.py: load_engine does the same with the real runner).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import numpy as np

from sagemaker_embeddings.engine.engine import Engine
from sagemaker_embeddings.engine.tokenize import InputTokenizer, load_tokenizer
from sagemaker_embeddings.http.app import create_app
from sagemaker_embeddings.models.runner import ModelRunner
from sagemaker_embeddings.models.source import resolve_model_source
from sagemaker_embeddings.models.task import ModelSpec, Want, detect
from sagemaker_embeddings.settings import Settings

T = TypeVar("T")
WIDTH = 8  # width of the fake pooled vectors and token states
SPARSE_WIDTH = 64  # the fake SPLADE "vocabulary": token id modulo this


@dataclass(frozen=True)
class FakeBatch:
    ids: tuple[tuple[int, ...], ...]
    type_ids: tuple[tuple[int, ...], ...]
    lengths: tuple[int, ...]


class FakeRunner:
    """The runner interface the engine uses (models/runner.py: ModelRunner), with
    deterministic outputs computed from the token ids, and failures on demand."""

    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec
        self.backend = "torch"
        self.device_type = "cpu"
        self.dtype_name = "float32"
        self.threads_per_pass = 0
        self.threads_alone = 0
        self.alone_passes = 0
        self.passes = 0
        # When set, every forward pass raises it (as a model failing inside torch would).
        self.error: Exception | None = None

    def set_threads(self, per_lane: int, alone: int) -> None:
        self.threads_per_pass = per_lane
        self.threads_alone = alone

    def collate(
        self,
        ids: Sequence[Sequence[int]],
        type_ids: Sequence[Sequence[int]],
        attended: Sequence[int | None] | None = None,
    ) -> Any:
        return FakeBatch(
            tuple(tuple(x) for x in ids),
            tuple(tuple(x) for x in type_ids),
            tuple(len(x) for x in ids),
        )

    def forward(self, batch: Any, wants: Sequence[Want], alone: bool = False) -> list[np.ndarray]:
        assert isinstance(batch, FakeBatch)
        self.passes += 1
        self.alone_passes += alone
        if self.error is not None:
            raise self.error
        task = self.spec.task
        if task == "rerank":
            return [np.array([token_score(ids)], dtype=np.float32) for ids in batch.ids]
        if task == "classify":
            labels = max(1, len(self.spec.id2label))
            return [token_states(ids, labels).sum(axis=0) for ids in batch.ids]
        if task == "sparse":
            return [sparse_vector(ids) for ids in batch.ids]
        return [
            token_states(ids, WIDTH) if want == "tokens" else fake_embedding(ids)
            for ids, want in zip(batch.ids, wants, strict=True)
        ]


def token_states(ids: Sequence[int], width: int) -> np.ndarray:
    """One row per token, a function of the token id and its position only."""
    rows = [
        [np.sin(0.01 * token + 0.1 * column + 0.001 * position) for column in range(width)]
        for position, token in enumerate(ids)
    ]
    return np.asarray(rows, dtype=np.float32).reshape(len(ids), width)


def fake_embedding(ids: Sequence[int]) -> np.ndarray:
    """What the fake runner pools for ``ids``: the mean of its token states."""
    states = token_states(ids, WIDTH)
    mean: np.ndarray = states.mean(axis=0) if len(ids) else np.zeros(WIDTH, dtype=np.float32)
    return mean.astype(np.float32)


def token_score(ids: Sequence[int]) -> float:
    return float(np.tanh(sum(ids) % 1000 / 250.0 - 2.0))


def sparse_vector(ids: Sequence[int]) -> np.ndarray:
    vector = np.zeros(SPARSE_WIDTH, dtype=np.float32)
    for token in ids:
        vector[token % SPARSE_WIDTH] += 1.0
    return vector


def build_engine(settings: Settings, real_runner: bool = False) -> tuple[Engine, Any]:
    """An Engine as load_engine builds it, with the fake runner (or the real one, which
    loads the weights); started, so the warm-up pass ran. Returns (engine, runner)."""
    source = resolve_model_source(settings)
    spec = detect(source.path, settings)
    tokenizer = InputTokenizer(load_tokenizer(source.path, settings.trust_remote_code), spec)
    runner = ModelRunner(source, spec, settings) if real_runner else FakeRunner(spec)
    engine = Engine(source, spec, tokenizer, runner, settings)  # type: ignore[arg-type]
    engine.start()
    return engine, runner


class InProcessServer:
    """The app and its lifespan on an event loop in a background thread.

    Tests stay synchronous (as with a `serve` process): ``server.client`` has httpx's
    sync API and ``server.run(coroutine)`` runs async code (bursts) on the app's loop.
    """

    def __init__(self, settings: Settings, engine: Engine, runner: Any) -> None:
        self.settings = settings
        self.engine = engine
        self.runner = runner
        self.app = create_app(settings, engine)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._lifespan = self.app.router.lifespan_context(self.app)
        self.client = InProcessClient(self)

    def start(self) -> None:
        self._thread.start()
        self.run(self._lifespan.__aenter__())

    def stop(self) -> None:
        self.run(self._lifespan.__aexit__(None, None, None))
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def async_client(self) -> httpx.AsyncClient:
        """A client for use inside ``run``; the transport calls the app on this loop."""
        transport = httpx.ASGITransport(app=self.app, client=("127.0.0.1", 50000))
        return httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=60)


class InProcessClient:
    """httpx-like get/post/request, each sent through ASGITransport on the app's loop."""

    def __init__(self, server: InProcessServer) -> None:
        self._server = server

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        async def send() -> httpx.Response:
            async with self._server.async_client() as client:
                response = await client.request(method, url, **kwargs)
                await response.aread()
                return response

        return self._server.run(send())

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)


@contextmanager
def in_process(
    model_dir: Path | None, real_runner: bool = False, **settings: Any
) -> Iterator[InProcessServer]:
    """The app for ``model_dir`` with ``settings`` (Settings field names), started and stopped.

    ``model_dir=None`` serves the embedded default model (all-MiniLM-L6-v2), as `serve`
    does without HF_MODEL_ID.
    ``server.runner`` is a FakeRunner unless ``real_runner``; float32 as the `serve`
    processes of tests/harness/env.py.
    """
    model_id = None if model_dir is None else str(model_dir)
    built = Settings(model_id=model_id, dtype="float32", **settings)
    engine, runner = build_engine(built, real_runner)
    server = InProcessServer(built, engine, runner)
    server.start()
    try:
        yield server
    finally:
        server.stop()
