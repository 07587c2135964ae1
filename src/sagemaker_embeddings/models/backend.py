"""Which runner executes the model (BACKEND), and the interface every runner offers.

The engine knows runners only through ``Runner``; the torch runner (models/runner.py),
the ONNX Runtime one (models/onnx_runner.py) and the OpenVINO one
(models/openvino_runner.py) are imported only when chosen, so a server on an ONNX file
never imports torch or transformers' modeling code.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from sagemaker_embeddings.errors import ModelLoadError
from sagemaker_embeddings.models.capacity import Device, DTypeName, plan_capacity
from sagemaker_embeddings.models.fastest_path import (
    CPU_DTYPES,
    BackendName,
    ExecutionPath,
    choose_path,
)
from sagemaker_embeddings.models.graph_runner import GraphMismatch
from sagemaker_embeddings.models.m3 import COLBERT_HEAD_FILE, SPARSE_HEAD_FILE
from sagemaker_embeddings.models.source import ModelSource
from sagemaker_embeddings.models.task import ModelSpec, Want
from sagemaker_embeddings.settings import Settings

logger = logging.getLogger(__name__)


# Where Hugging Face repositories keep an ONNX export, in the order we look.
ONNX_FILES = ("onnx/model.onnx", "model.onnx")


class Runner(Protocol):
    """Runs padded batches of token ids; only the inference lanes call ``forward``."""

    @property
    def backend(self) -> BackendName: ...
    @property
    def device_type(self) -> Device: ...
    @property
    def dtype_name(self) -> DTypeName: ...

    def set_threads(self, per_lane: int, alone: int) -> None:
        """Called once, before the first pass: the threads of a pass while other lanes
        run too, and of a pass that runs alone."""

    def collate(
        self,
        ids: Sequence[Sequence[int]],
        type_ids: Sequence[Sequence[int]],
        attended: Sequence[int | None] | None = None,
    ) -> Any:
        """One right-padded batch in the runner's own form; ``attended``: per row, the
        leading tokens the model attends to (None: all; models/collate.py)."""

    def forward(self, batch: Any, wants: Sequence[Want], alone: bool = False) -> list[np.ndarray]:
        """Per input, what its request wants (``Want``); ``alone``: no other pass runs and
        none waits, so this one may take every core."""


def onnx_file(model_dir: Path) -> Path | None:
    for name in ONNX_FILES:
        if (model_dir / name).is_file():
            return model_dir / name
    return None


def gpu_visible(driver: Path = Path("/proc/driver/nvidia/gpus")) -> bool:
    """Whether a CUDA device is visible, decided without importing torch: the NVIDIA
    driver lists its GPUs under /proc, and CUDA_VISIBLE_DEVICES="" (or -1) hides them."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", "unset").strip() in ("", "-1"):
        return False
    try:
        return any(driver.iterdir())
    except OSError:
        return False


def choose_backend(settings: Settings, model_dir: Path, gpu: bool | None = None) -> ExecutionPath:
    """The backend and dtype to run ``model_dir`` with (models/fastest_path.py)."""
    return choose_path(
        settings.backend,
        settings.dtype,
        onnx_file(model_dir) is not None,
        gpu=gpu_visible() if gpu is None else gpu,
    )


def load_runner(source: ModelSource, spec: ModelSpec, settings: Settings) -> Runner:
    """The runner for the chosen path. An ONNX file that auto found but that does not fit
    the task (exported for another TASK or POOLING) falls back to torch, with a warning.
    The GPU image refuses to start without a usable CUDA device unless ALLOW_CPU_FALLBACK."""
    if settings.image_flavor == "gpu" and not settings.allow_cpu_fallback:
        from sagemaker_embeddings.models.gpu_policy import require_cuda

        require_cuda()
    gpu = gpu_visible()
    path = choose_backend(settings, source.path, gpu)
    logger.info("backend=%s dtype=%s (%s)", path.backend, path.dtype, path.why)
    if path.backend != "torch":
        try:
            return _graph_runner(source, spec, settings, path)
        except GraphMismatch as exc:
            if settings.backend != "auto":
                raise
            logger.warning("%s; running on torch instead", exc)
    from sagemaker_embeddings.models.runner import ModelRunner

    if path.dtype not in CPU_DTYPES["torch"]:
        raise ModelLoadError(f"DTYPE={path.dtype} runs on BACKEND=onnx, not torch")
    if path.backend == "torch" and not gpu:
        settings = settings.model_copy(update={"dtype": path.dtype})
    return ModelRunner(source, spec, settings)


def _graph_runner(
    source: ModelSource, spec: ModelSpec, settings: Settings, path: ExecutionPath
) -> Runner:
    if spec.causal_lm_rerank:
        raise GraphMismatch(
            f"{source.model_id} is a causal-LM reranker, whose yes/no head is built at load "
            "time and is not in an ONNX export; serve it with BACKEND=torch"
        )
    if spec.sparse_head or spec.colbert_head:
        raise GraphMismatch(
            f"{source.model_id} has bge-m3's heads ({SPARSE_HEAD_FILE}, {COLBERT_HEAD_FILE}), "
            "which an ONNX export does not hold; serve it with BACKEND=torch"
        )
    graph = onnx_file(source.path)
    if graph is None:
        raise ModelLoadError(
            f"BACKEND={path.backend} but {source.model_id} has no {' or '.join(ONNX_FILES)}; "
            "write one with `sagemaker-embeddings export MODEL_DIR`"
        )
    if path.dtype not in CPU_DTYPES[path.backend]:
        raise ModelLoadError(
            f"BACKEND={path.backend} runs {' or '.join(CPU_DTYPES[path.backend])}, "
            f"not DTYPE={path.dtype}"
        )
    capacity = plan_capacity(settings, "cpu", path.dtype, spec.max_input_length)
    threads = capacity.lanes * capacity.threads_per_lane
    if path.backend == "openvino":
        from sagemaker_embeddings.models.openvino_runner import OpenVinoRunner

        return OpenVinoRunner(source.path, graph, spec, path.dtype, capacity.lanes, threads)
    from sagemaker_embeddings.models.onnx_runner import OnnxRunner

    if path.dtype == "int8":
        from sagemaker_embeddings.models.int8_export import passed_int8

        return OnnxRunner(source.path, passed_int8(source.path), spec, threads, "int8")
    return OnnxRunner(source.path, graph, spec, threads)
