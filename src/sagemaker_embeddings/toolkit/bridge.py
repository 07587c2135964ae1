"""The synchronous MMS worker meets the async Engine: one event loop on its own thread.

MMS calls ``handle`` on its own thread and waits for the answer; the Engine's
batching needs a running event loop. Coroutines are handed to that loop and the
caller blocks on the result, so every request of an MMS batch can be in the
engine's queue at once and share forward passes.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sagemaker_embeddings.engine.engine import Engine
from sagemaker_embeddings.engine.tokenize import TextInput
from sagemaker_embeddings.protocol.tei import as_list
from sagemaker_embeddings.schemas.tei import Inputs

T = TypeVar("T")


class LoopThread:
    """An asyncio loop running forever on a daemon thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name="engine-loop", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run on the loop and wait; the coroutine's exception is raised here."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)


@dataclass(frozen=True)
class ToolkitModel:
    """What the default ``model_fn`` returns, and what user hooks get as ``model``.

    ``engine`` is the async Engine; the methods are its thin synchronous face for
    a custom ``predict_fn`` (values only; timings stay with the engine).
    """

    engine: Engine
    loop: LoopThread

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.loop.run(coroutine)

    def embed(self, inputs: Inputs, **options: Any) -> list[Any]:
        return self.run(self.engine.embed(as_list(inputs), **options)).value

    def rerank(self, query: str, texts: Sequence[str], **options: Any) -> list[float]:
        return self.run(self.engine.rerank(query, texts, **options)).value

    def predict(self, inputs: Sequence[TextInput], **options: Any) -> list[Any]:
        return self.run(self.engine.predict(inputs, **options)).value
