"""Capacity policy: dtype, inference lanes, threads per lane and the token budget.

One torch-free place for both backends (torch and ONNX Runtime); devices and dtypes
are plain names. The measurements behind the numbers are in bench/notes/capacity.md.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

from sagemaker_embeddings.models.cpu_kind import cpu_flags, native_bfloat16
from sagemaker_embeddings.settings import TEI_MAX_BATCH_TOKENS, Settings

Device = Literal["cpu", "cuda"]
DTypeName = Literal["float32", "float16", "bfloat16", "int8"]
# Bytes per activation value (int8 quantizes weights; its activations stay float32).
ITEMSIZE: dict[DTypeName, int] = {"float32": 4, "float16": 2, "bfloat16": 2, "int8": 4}

# Tokens per CPU pass in float32, shared by the lanes: throughput per input is flat in
# the batch size on CPU while activations (peak memory) grow with it; bfloat16 gets
# twice the tokens for the same memory (figures: bench/notes/capacity.md).
CPU_BATCH_TOKENS_FLOAT32 = 2048

# Two passes at once on CPU, each on half the cores, beat one pass on all of them: a
# pass is far from twice as fast on twice the threads, and one lane's Python glue
# overlaps the other's compute (figures: bench/notes/capacity.md).
CPU_DEFAULT_LANES = 2


def choose_dtype(setting: str, device: Device, flags: frozenset[str] | None = None) -> DTypeName:
    """``DTYPE`` wins; "auto" is float16 on GPU, bfloat16 on CPUs with native support
    (``flags``: the CPU's feature flags, read from /proc/cpuinfo when not given), else float32.
    """
    if setting in ITEMSIZE:
        return setting
    if device == "cuda":
        return "float16"
    flags = cpu_flags() if flags is None else flags
    return "bfloat16" if native_bfloat16(flags) else "float32"


def cpu_threads() -> int:
    """The intra-op threads a process would use: OMP_NUM_THREADS when set, else the
    CPUs this process may run on."""
    setting = os.environ.get("OMP_NUM_THREADS", "")
    if setting.isdigit() and int(setting) > 0:
        return int(setting)
    return len(os.sched_getaffinity(0))


def inference_lanes(setting: int | None, device: Device, threads: int) -> int:
    """INFERENCE_LANES when set; else one on GPU (one stream), and on CPU two, or one
    where there is a single thread to give."""
    if setting is not None:
        return setting
    if device == "cuda":
        return 1
    return max(1, min(CPU_DEFAULT_LANES, threads))


def threads_per_lane(device: Device, lanes: int, threads: int) -> int:
    """Each lane's equal share of the CPU threads, at least one (GPU: unchanged)."""
    return max(1, threads // lanes) if device == "cpu" else threads


def batch_token_budget(
    setting: int | None,
    device: Device,
    dtype: DTypeName,
    max_input_length: int,
    lanes: int = 1,
) -> int:
    """MAX_BATCH_TOKENS when set; else TEI's default on GPU, and on CPU each lane's share
    of the tokens whose activations take as much memory as CPU_BATCH_TOKENS_FLOAT32 do
    in float32, or the model's longest input, whichever is larger."""
    if setting is not None:
        return setting
    if device == "cuda":
        return TEI_MAX_BATCH_TOKENS
    scaled = CPU_BATCH_TOKENS_FLOAT32 * 4 // ITEMSIZE[dtype] // lanes
    return max(scaled, max_input_length)


@dataclass(frozen=True)
class Capacity:
    lanes: int
    threads_per_lane: int
    max_batch_tokens: int


def plan_capacity(
    settings: Settings, device: Device, dtype: DTypeName, max_input_length: int
) -> Capacity:
    """Lanes, their threads and the token budget for a model on ``device``."""
    threads = cpu_threads()
    lanes = inference_lanes(settings.inference_lanes, device, threads)
    return Capacity(
        lanes=lanes,
        threads_per_lane=threads_per_lane(device, lanes, threads),
        max_batch_tokens=batch_token_budget(
            settings.max_batch_tokens, device, dtype, max_input_length, lanes
        ),
    )
