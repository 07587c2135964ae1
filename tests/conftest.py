"""Shared fixtures: real `serve` processes, one per configuration, reused per session."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.harness.serve import RunningServer, start_server

ServerFactory = Callable[[str, dict[str, str]], RunningServer]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--prebuilt-image",
        action="store_true",
        help="container tests: test the local image sagemaker-embeddings:<truthful cpu tag> "
        "that a build made before (CodeBuild's build phase) instead of building one",
    )


@pytest.fixture(scope="session")
def server_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerFactory]:
    """``server_factory(name, env)`` starts (once per name) and returns a ready server."""
    servers: dict[str, RunningServer] = {}

    def get(name: str, env: dict[str, str]) -> RunningServer:
        if name not in servers:
            servers[name] = start_server(env, tmp_path_factory.mktemp(f"serve-{name}"))
        return servers[name]

    yield get
    for server in servers.values():
        server.stop()


@pytest.fixture(scope="session")
def model_dirs(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """``model_dirs(name)`` builds (once) and returns a tiny test model directory."""
    from tests import model_factory as mf

    builders: dict[str, Callable[[Path], Path]] = {
        "xlm-roberta": lambda p: mf.embedder("xlm-roberta", p),
        "distilbert": lambda p: mf.embedder("distilbert", p),
        "modernbert": lambda p: mf.embedder("modernbert", p),
        "qwen3": lambda p: mf.embedder("qwen3", p),
        "bert": lambda p: mf.embedder("bert", p),
        "dense-prompts": mf.dense_prompt_embedder,
        "reranker": lambda p: mf.cross_encoder(p, 1),
        "classifier": lambda p: mf.cross_encoder(p, 3),
        "splade": mf.splade,
        "m3": mf.m3_embedder,
        "colbert": mf.colbert,  # built by PyLate in its own environment
        # Named as the Hub names them: the folder name is how a causal reranker is told.
        "qwen3-reranker": lambda p: mf.causal_reranker(p, tied=True),
        "qwen3-reranker-untied": lambda p: mf.causal_reranker(p, tied=False),
        "short-positions": mf.short_position_embedder,
        "single-segment": mf.single_segment_reranker,
    }
    built: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in built:
            built[name] = builders[name](tmp_path_factory.mktemp("models") / name)
        return built[name]

    return get
