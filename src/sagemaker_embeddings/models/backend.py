"""Which runner executes the model (BACKEND), and the interface every runner offers.

The engine knows runners only through ``Runner``; the torch runner (models/runner.py)
and the ONNX Runtime one (models/onnx_runner.py) are imported only when chosen, so a
server on ONNX Runtime never imports torch or transformers' modeling code.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from sagemaker_embeddings.errors import ModelLoadError
from sagemaker_embeddings.models.capacity import Device, DTypeName, plan_capacity
from sagemaker_embeddings.models.source import ModelSource
from sagemaker_embeddings.models.task import ModelSpec
from sagemaker_embeddings.settings import Settings

logger = logging.getLogger(__name__)

BackendName = Literal["torch", "onnx"]

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

    def set_threads_per_pass(self, threads: int) -> None:
        """Called once, before the first pass: the threads each lane's pass may use."""

    def collate(self, ids: Sequence[Sequence[int]], type_ids: Sequence[Sequence[int]]) -> Any:
        """One right-padded batch in the runner's own form."""

    def forward(self, batch: Any, raw: Sequence[bool]) -> list[np.ndarray]:
        """Per input: its pooled vector / logits, or its token states when ``raw``."""


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


def choose_backend(settings: Settings, model_dir: Path, gpu: bool | None = None) -> BackendName:
    """BACKEND wins; auto is ONNX Runtime on CPU, in float32, when the model folder holds
    an ONNX file, and torch otherwise (GPUs, other dtypes, no export)."""
    if settings.backend != "auto":
        return settings.backend
    if settings.dtype not in ("auto", "float32"):
        return "torch"
    if gpu_visible() if gpu is None else gpu:
        return "torch"
    return "onnx" if onnx_file(model_dir) is not None else "torch"


def load_runner(source: ModelSource, spec: ModelSpec, settings: Settings) -> Runner:
    """The runner BACKEND asks for. An ONNX file that auto found but that does not fit
    the task (exported for another TASK or POOLING) falls back to torch, with a warning.
    The GPU image refuses to start without a usable CUDA device unless ALLOW_CPU_FALLBACK."""
    if settings.image_flavor == "gpu" and not settings.allow_cpu_fallback:
        from sagemaker_embeddings.models.gpu_policy import require_cuda

        require_cuda()
    backend = choose_backend(settings, source.path)
    if backend == "onnx":
        from sagemaker_embeddings.models.onnx_runner import OnnxGraphMismatch, OnnxRunner

        path = onnx_file(source.path)
        if path is None:
            raise ModelLoadError(
                f"BACKEND=onnx but {source.model_id} has no {' or '.join(ONNX_FILES)}; "
                "write one with `sagemaker-embeddings export MODEL_DIR`"
            )
        if settings.dtype not in ("auto", "float32"):
            raise ModelLoadError(f"BACKEND=onnx runs float32 only, not DTYPE={settings.dtype}")
        threads = plan_capacity(settings, "cpu", "float32", spec.max_input_length)
        try:
            return OnnxRunner(source.path, path, spec, threads.threads_per_lane)
        except OnnxGraphMismatch as exc:
            if settings.backend == "onnx":
                raise
            logger.warning("%s; running on torch instead", exc)
    from sagemaker_embeddings.models.runner import ModelRunner

    return ModelRunner(source, spec, settings)
