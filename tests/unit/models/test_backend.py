"""BACKEND: which runner serves a model folder (no model is loaded here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sagemaker_embeddings.errors import ModelLoadError
from sagemaker_embeddings.models.backend import (
    choose_backend,
    gpu_visible,
    load_runner,
    onnx_file,
)
from sagemaker_embeddings.models.source import ModelSource
from sagemaker_embeddings.models.task import ModelSpec
from sagemaker_embeddings.settings import Settings


@pytest.fixture
def with_onnx(tmp_path: Path) -> Path:
    (tmp_path / "onnx").mkdir()
    (tmp_path / "onnx" / "model.onnx").write_bytes(b"")
    return tmp_path


def test_the_onnx_file_is_found_in_onnx_or_at_the_top(tmp_path: Path, with_onnx: Path) -> None:
    top = tmp_path / "top"
    top.mkdir()
    (top / "model.onnx").write_bytes(b"")
    assert onnx_file(with_onnx) == with_onnx / "onnx" / "model.onnx"
    assert onnx_file(top) == top / "model.onnx"
    assert onnx_file(tmp_path / "nothing") is None


def test_choose_backend_passes_the_folder_and_settings_on(with_onnx: Path, tmp_path: Path) -> None:
    assert choose_backend(Settings(), with_onnx, gpu=True).backend == "torch"
    assert choose_backend(Settings(backend="torch"), with_onnx, gpu=False).backend == "torch"
    assert choose_backend(Settings(backend="onnx"), tmp_path, gpu=True).backend == "onnx"
    # Whatever this machine's CPU, a folder without an ONNX file runs on torch.
    assert choose_backend(Settings(), tmp_path / "empty", gpu=False).backend == "torch"


def test_backend_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKEND", "onnx")
    assert Settings().backend == "onnx"
    monkeypatch.setenv("BACKEND", "tensorrt")
    with pytest.raises(ValueError, match="BACKEND"):
        Settings()


def test_gpu_visible_reads_the_driver_and_cuda_visible_devices(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert not gpu_visible(tmp_path / "missing")
    assert not gpu_visible(tmp_path)  # the driver is loaded but lists no GPU
    (tmp_path / "0000:00:1e.0").mkdir()
    assert gpu_visible(tmp_path)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert not gpu_visible(tmp_path)


def test_onnx_without_a_file_names_the_export_command(tmp_path: Path) -> None:
    spec = ModelSpec("embed", "embed", "BertModel", "bert", "mean", 128)
    with pytest.raises(ModelLoadError, match="sagemaker-embeddings export"):
        load_runner(ModelSource(tmp_path, "m"), spec, Settings(backend="onnx"))


def test_onnx_refuses_reduced_dtypes(with_onnx: Path) -> None:
    spec = ModelSpec("embed", "embed", "BertModel", "bert", "mean", 128)
    settings = Settings(backend="onnx", dtype="float16")
    with pytest.raises(ModelLoadError, match="runs float32 or int8, not DTYPE=float16"):
        load_runner(ModelSource(with_onnx, "m"), spec, settings)
    settings = Settings(backend="openvino", dtype="float16")
    with pytest.raises(ModelLoadError, match="runs float32 or bfloat16, not DTYPE=float16"):
        load_runner(ModelSource(with_onnx, "m"), spec, settings)


def test_hub_downloads_fetch_the_onnx_export_only_where_it_can_run() -> None:
    from sagemaker_embeddings.models.source import weight_patterns

    assert "onnx/model.onnx" in weight_patterns(Settings(), gpu=False)
    assert "onnx/model.onnx" not in weight_patterns(Settings(), gpu=True)
    assert "onnx/model.onnx" not in weight_patterns(Settings(backend="torch"), gpu=False)
    assert "onnx/model.onnx" in weight_patterns(Settings(backend="onnx"), gpu=True)
    assert "onnx/model.onnx" in weight_patterns(Settings(backend="openvino"), gpu=True)
    assert "*.safetensors" in weight_patterns(Settings(backend="onnx"), gpu=False)
