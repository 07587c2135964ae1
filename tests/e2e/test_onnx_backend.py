"""BACKEND=onnx: every task and architecture exported, served by the engine on ONNX
Runtime, and compared with the torch backend and the reference libraries."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sagemaker_embeddings.engine.engine import Engine
from sagemaker_embeddings.engine.startup import load_engine
from sagemaker_embeddings.errors import ModelLoadError
from sagemaker_embeddings.models.onnx_export import export_onnx
from sagemaker_embeddings.settings import Settings
from tests.reference import COSINE_BOUND, assert_close_rows, cosine, st_encode

ModelDirs = Callable[[str], Path]
CLI = str(Path(sys.executable).parent / "sagemaker-embeddings")
EMBEDDERS = ["bert", "xlm-roberta", "distilbert", "modernbert", "qwen3", "dense-prompts"]
# Different lengths in one batch: padding, and a long input.
TEXTS = ["What is Deep Learning?", "A cheetah is running behind its prey.", "short", "x " * 60]
PAIRS = [("What is Deep Learning?", text) for text in TEXTS]


def settings(path: Path, backend: str, name: str) -> Settings:
    extra: dict[str, Any] = {"pooling": "splade"} if name == "splade" else {}
    return Settings(model_id=str(path), backend=backend, dtype="float32", **extra)


@pytest.fixture(scope="module")
def exported(model_dirs: ModelDirs, tmp_path_factory: pytest.TempPathFactory) -> ModelDirs:
    """``exported(name)``: a copy of the tiny model's folder with its ONNX file."""
    done: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in done:
            out = tmp_path_factory.mktemp("onnx") / name
            export_onnx(model_dirs(name), out, settings(model_dirs(name), "auto", name))
            done[name] = out
        return done[name]

    return get


@pytest.fixture(scope="module")
def engines(exported: ModelDirs) -> Iterator[Callable[[str], tuple[Engine, Engine]]]:
    """``engines(name)``: (torch engine, onnx engine) over the same exported folder."""
    started: dict[str, tuple[Engine, Engine]] = {}

    def get(name: str) -> tuple[Engine, Engine]:
        if name not in started:
            path = exported(name)
            torch_engine = load_engine(settings(path, "torch", name))
            onnx_engine = load_engine(settings(path, "auto", name))
            started[name] = (torch_engine, onnx_engine)
        return started[name]

    yield get
    for pair in started.values():
        for engine in pair:
            engine.stop()


@pytest.mark.parametrize("name", EMBEDDERS)
def test_embedders_match_torch_and_sentence_transformers(
    engines: Callable[[str], tuple[Engine, Engine]], exported: ModelDirs, name: str
) -> None:
    torch_engine, onnx_engine = engines(name)
    assert (torch_engine.runner.backend, onnx_engine.runner.backend) == ("torch", "onnx")
    ours = asyncio.run(onnx_engine.embed(TEXTS, normalize=False)).value
    assert_close_rows(ours, asyncio.run(torch_engine.embed(TEXTS, normalize=False)).value)
    assert_close_rows(ours, st_encode(exported(name), TEXTS))
    if name != "dense-prompts":  # token states: /embed_all (no Dense module there)
        states = asyncio.run(onnx_engine.embed_all(TEXTS)).value
        reference = asyncio.run(torch_engine.embed_all(TEXTS)).value
        for a, b in zip(states, reference, strict=True):
            assert a.shape == b.shape
            assert_close_rows(a, b)


def test_dense_prompts_on_onnx(
    engines: Callable[[str], tuple[Engine, Engine]], exported: ModelDirs
) -> None:
    _, onnx_engine = engines("dense-prompts")
    query = asyncio.run(onnx_engine.embed(TEXTS, prompt_name="query")).value
    expected = st_encode(exported("dense-prompts"), TEXTS, prompt_name="query")
    assert len(query[0]) == 16  # the Dense module maps 32 -> 16
    assert_close_rows(query, expected)


@pytest.mark.parametrize("name", ["reranker", "classifier"])
def test_scores_match_torch(engines: Callable[[str], tuple[Engine, Engine]], name: str) -> None:
    torch_engine, onnx_engine = engines(name)
    ours = asyncio.run(onnx_engine.predict(PAIRS, raw_scores=True)).value
    reference = asyncio.run(torch_engine.predict(PAIRS, raw_scores=True)).value
    for a, b in zip(ours, reference, strict=True):
        assert [label for label, _ in a] == [label for label, _ in b]
        assert [s for _, s in a] == pytest.approx([s for _, s in b], abs=1e-4)


def test_reranker_matches_cross_encoder(
    engines: Callable[[str], tuple[Engine, Engine]], exported: ModelDirs
) -> None:
    from sentence_transformers import CrossEncoder

    _, onnx_engine = engines("reranker")
    scores = asyncio.run(onnx_engine.rerank(PAIRS[0][0], TEXTS)).value
    expected = CrossEncoder(str(exported("reranker")), device="cpu").predict(PAIRS)
    assert scores == pytest.approx(list(expected), abs=1e-4)


def test_splade_matches_torch(engines: Callable[[str], tuple[Engine, Engine]]) -> None:
    torch_engine, onnx_engine = engines("splade")
    ours = asyncio.run(onnx_engine.embed_sparse(TEXTS)).value
    reference = asyncio.run(torch_engine.embed_sparse(TEXTS)).value
    for a, b in zip(ours, reference, strict=True):
        width = 1 + max(i for i, _ in a + b)
        dense_a, dense_b = np.zeros(width), np.zeros(width)
        for i, v in a:
            dense_a[i] = v
        for i, v in b:
            dense_b[i] = v
        assert cosine(dense_a, dense_b) >= COSINE_BOUND


def test_the_onnx_path_imports_no_torch(exported: ModelDirs) -> None:
    # A fresh interpreter: start the engine and build the HTTP app as `serve` does.
    script = (
        "import sys\n"
        "from sagemaker_embeddings.settings import Settings\n"
        "from sagemaker_embeddings.engine.startup import load_engine\n"
        "from sagemaker_embeddings.http.app import create_app\n"
        f"engine = load_engine(Settings(model_id={str(exported('bert'))!r}))\n"
        "create_app\n"
        "print(engine.runner.backend)\n"
        "heavy = sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')"
        " or m.startswith('transformers.models'))\n"
        "print(heavy)\n"
        "engine.stop()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == ["onnx", "[]"], result.stdout


def test_export_cli_writes_a_checked_file(model_dirs: ModelDirs, tmp_path: Path) -> None:
    out = tmp_path / "bert-onnx"
    result = subprocess.run(
        [CLI, "export", str(model_dirs("bert")), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(out / "onnx" / "model.onnx")
    assert (out / "onnx" / "model.onnx").is_file()
    assert (out / "config.json").is_file()
    assert (out / "tokenizer.json").is_file()
    assert not (model_dirs("bert") / "onnx").exists()  # the source folder is left alone


def test_export_cli_refuses_a_folder_without_a_model(tmp_path: Path) -> None:
    shutil.copy(Path(__file__), tmp_path / "not-a-model.py")
    result = subprocess.run(
        [CLI, "export", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("export: error:")
    assert "config.json" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "onnx").exists()


def test_the_export_check_catches_a_graph_that_differs(exported: ModelDirs) -> None:
    import torch
    from transformers import AutoModel

    from sagemaker_embeddings.models.onnx_export import MIN_COSINE, cosine_to_torch
    from sagemaker_embeddings.models.task import detect

    path = exported("bert")
    spec = detect(path, settings(path, "auto", "bert"))
    model = AutoModel.from_pretrained(path, attn_implementation="eager").eval()
    names = ["input_ids", "attention_mask", "token_type_ids"]
    assert cosine_to_torch(model, spec, path / "onnx" / "model.onnx", names) >= MIN_COSINE
    with torch.no_grad():  # another model: the same graph no longer reproduces it
        generator = torch.Generator().manual_seed(0)
        for parameter in model.encoder.parameters():
            parameter.add_(torch.randn(parameter.shape, generator=generator) * 0.5)
    assert cosine_to_torch(model, spec, path / "onnx" / "model.onnx", names) < MIN_COSINE


def test_a_graph_for_another_task_falls_back_to_torch_under_auto(
    model_dirs: ModelDirs, tmp_path: Path
) -> None:
    # The SPLADE model exported as an embedder (no POOLING=splade): token states, no logits.
    out = tmp_path / "splade-as-embedder"
    export_onnx(model_dirs("splade"), out, Settings(model_id=str(model_dirs("splade"))))
    engine = load_engine(settings(out, "auto", "splade"))
    try:
        assert engine.runner.backend == "torch"
    finally:
        engine.stop()
    with pytest.raises(ModelLoadError, match="logits"):
        load_engine(settings(out, "onnx", "splade"))
