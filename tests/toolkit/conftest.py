"""Toolkit-mode fixtures: the native answer, computed in process with the same Engine.

Every test here is marked `mms`. The servers are real `serve` processes running real
MMS on Java; run this folder alone and serially (`pytest tests/toolkit`), since each
server takes a few seconds and a few hundred MB per worker.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.harness.docker import cpu_image, docker_engine, wheelhouse
from tests.model_factory import minilm_dir

# The shared Docker fixtures, for test_container.py.
__all__ = ["cpu_image", "docker_engine", "wheelhouse"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.path).parents:
            item.add_marker(pytest.mark.mms)


# float32 on both sides: DTYPE=auto may pick bfloat16 on this CPU, and then answers
# depend on which requests shared a batch.
DTYPE = "float32"


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any


NativeFactory = Callable[[Path], Callable[..., Answer]]


@pytest.fixture(scope="session")
def native() -> Iterator[NativeFactory]:
    """``native(model_dir)(body, content_type=..., accept=..., attributes=...)``: what the
    native server's /invocations answers, through its own code, without HTTP."""
    from sagemaker_embeddings.engine.startup import load_engine
    from sagemaker_embeddings.errors import ServingError
    from sagemaker_embeddings.protocol.invocations import invoke
    from sagemaker_embeddings.settings import Settings

    engines: dict[Path, Any] = {}

    def factory(model_dir: Path) -> Callable[..., Answer]:
        if model_dir not in engines:
            engines[model_dir] = load_engine(Settings(model_id=str(model_dir), dtype=DTYPE))
        engine = engines[model_dir]

        def answer(
            body: bytes,
            content_type: str = "application/json",
            accept: str | None = None,
            attributes: str | None = None,
        ) -> Answer:
            async def call() -> Answer:
                try:
                    reply = await invoke(
                        engine,
                        body,
                        content_type=content_type,
                        accept=accept,
                        custom_attributes=attributes,
                    )
                except ServingError as exc:
                    error = {"error": exc.message, "error_type": exc.error_type}
                    return Answer(exc.status_code, error)
                return Answer(200, orjson.loads(_json_lines(reply.body)))

            return asyncio.run(call())

        return answer

    yield factory
    for engine in engines.values():
        engine.stop()


def _json_lines(body: bytes) -> bytes:
    lines = [line for line in body.split(b"\n") if line]
    if len(lines) > 1:
        return b"[" + b",".join(lines) + b"]"
    return body


def parse(body: bytes) -> Any:
    return orjson.loads(_json_lines(body))


@pytest.fixture(scope="session")
def minilm() -> Path:
    return minilm_dir()
