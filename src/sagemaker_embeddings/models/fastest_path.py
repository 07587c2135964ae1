"""BACKEND=auto and DTYPE=auto on CPU: the backend and dtype the benchmark measured
fastest, at equal correctness, on this kind of CPU.

The table (fastest_paths.json beside this file) is written by
``python -m bench.fastest_path --write``; each kind's entry ranks what was measured and
says on which machine. The first entry this server can run wins: ONNX Runtime and
OpenVINO need an ONNX file in the model folder, OpenVINO needs its package. Torch-free.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal, cast

from sagemaker_embeddings.models.capacity import DTypeName, choose_dtype
from sagemaker_embeddings.models.cpu_kind import CpuKind, cpu_flags, cpu_kind

BackendName = Literal["torch", "onnx", "openvino"]
TABLE = Path(__file__).with_name("fastest_paths.json")

# What each backend can run on CPU.
CPU_DTYPES: dict[BackendName, tuple[DTypeName, ...]] = {
    "torch": ("float32", "bfloat16", "float16"),
    "onnx": ("float32", "int8"),
    "openvino": ("float32", "bfloat16"),
}


@dataclass(frozen=True)
class ExecutionPath:
    backend: BackendName
    dtype: DTypeName
    why: str


@cache
def load_table(path: Path = TABLE) -> dict[str, Any]:
    return cast(dict[str, Any], json.loads(path.read_text()))


def ranking(
    kind: CpuKind, flags: frozenset[str], table: dict[str, Any] | None = None
) -> tuple[list[tuple[BackendName, DTypeName]], str]:
    """The table's candidates for ``kind``, fastest first, and where they come from.
    A kind it lacks keeps what served before anything was measured: ONNX Runtime in
    float32, else torch in bfloat16 where the CPU has it natively."""
    entry = (load_table() if table is None else table).get("kinds", {}).get(kind)
    if not entry:
        fallback = [("onnx", "float32"), ("torch", choose_dtype("auto", "cpu", flags))]
        return cast(list[tuple[BackendName, DTypeName]], fallback), (
            f"nothing measured on {kind} CPUs: ONNX Runtime first"
        )
    rows = [(row["backend"], row["dtype"]) for row in entry["ranking"]]
    return rows, f"fastest measured on {kind} CPUs ({entry['measured_on']})"


def runnable(backend: BackendName, has_onnx_file: bool, openvino_installed: bool) -> bool:
    if backend == "torch":
        return True
    return has_onnx_file and (backend == "onnx" or openvino_installed)


def choose_path(
    backend: str,
    dtype: str,
    has_onnx_file: bool,
    *,
    gpu: bool,
    flags: frozenset[str] | None = None,
    machine: str | None = None,
    openvino_installed: bool | None = None,
    table: dict[str, Any] | None = None,
) -> ExecutionPath:
    """The path for BACKEND=``backend`` and DTYPE=``dtype`` ("auto" or a name).

    On GPU, torch (unless a backend is named). On CPU, the first ranked candidate that
    fits both settings and can run here; a named backend with no fitting candidate gets
    its own best dtype, a named dtype gets torch (which runs every dtype).
    """
    if dtype == "int8":  # opt-in only, never in the ranking: ONNX Runtime runs it
        return ExecutionPath(
            "onnx" if backend == "auto" else cast(BackendName, backend), "int8", "DTYPE=int8"
        )
    if gpu and backend in ("auto", "torch"):
        return ExecutionPath("torch", choose_dtype(dtype, "cuda"), "a GPU is visible")
    flags = cpu_flags() if flags is None else flags
    if openvino_installed is None:
        openvino_installed = importlib.util.find_spec("openvino") is not None
    candidates, source = ranking(cpu_kind(flags, machine), flags, table)
    for candidate_backend, candidate_dtype in candidates:
        if backend not in ("auto", candidate_backend) or dtype not in ("auto", candidate_dtype):
            continue
        if runnable(candidate_backend, has_onnx_file, openvino_installed):
            return ExecutionPath(candidate_backend, candidate_dtype, source)
    if backend != "auto":
        named = cast(BackendName, backend)
        dtype_name = dtype if dtype != "auto" else _own_default(named, flags)
        return ExecutionPath(named, cast(DTypeName, dtype_name), "BACKEND is set")
    return ExecutionPath("torch", choose_dtype(dtype, "cpu", flags), "torch runs every dtype")


def _own_default(backend: BackendName, flags: frozenset[str]) -> DTypeName:
    best = choose_dtype("auto", "cpu", flags)
    return best if best in CPU_DTYPES[backend] else "float32"
