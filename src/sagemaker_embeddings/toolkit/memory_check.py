"""507 for multi-model endpoints: refuse a model that would not fit, and let SageMaker evict.

MMS never checks memory. It answers 507 to ``POST /models`` only when the worker's
load raises ``MemoryError``, so the handler checks before loading: the model's weight
files plus a headroom (the worker's Python and torch runtime) must fit in what the
machine, or the container's cgroup, still has available. A real allocation failure
during the load is turned into the same error.

MMS 1.1.11 leaves a model whose load answered 507 registered with no workers: its own
attempt to unregister it fails (unregister.py says how), so SageMaker's retry after
evicting another model would get 409. (A load that fails otherwise ends the worker
process, and there MMS's own clean-up works: tests/toolkit/test_multi_model.py.)
``unregister_later`` starts a detached process that removes the registration once the
507 is out.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".onnx", ".gguf")
MIB = 1024 * 1024
UNREGISTER_MODULE = "sagemaker_embeddings.toolkit.unregister"


class InsufficientMemory(MemoryError):
    """MMS answers 507 for a MemoryError raised while a model loads."""


def weights_bytes(model_dir: Path) -> int:
    files = (f for f in model_dir.rglob("*") if f.suffix in WEIGHT_SUFFIXES and f.is_file())
    return sum(f.stat().st_size for f in files)


def available_bytes() -> int:
    """Memory a new model may use: the machine's MemAvailable, capped by the cgroup's room."""
    available = _meminfo_available()
    room = _cgroup_room()
    return available if room is None else min(available, room)


def _meminfo_available() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("MemAvailable missing from /proc/meminfo")


# (limit, usage, stat file, reclaimable page-cache key) for cgroup v2, then v1.
_CGROUP_FILES = (
    ("memory.max", "memory.current", "memory.stat", "inactive_file"),
    (
        "memory/memory.limit_in_bytes",
        "memory/memory.usage_in_bytes",
        "memory/memory.stat",
        "total_inactive_file",
    ),
)


def _cgroup_room() -> int | None:
    """The container's limit minus its working set (usage without inactive page cache,
    as `docker stats` counts it: reading weight files must not look like a full box)."""
    root = Path("/sys/fs/cgroup")
    for limit_file, usage_file, stat_file, inactive_key in _CGROUP_FILES:
        try:
            limit = (root / limit_file).read_text().strip()
            usage = int((root / usage_file).read_text().strip())
            stats = dict(line.split() for line in (root / stat_file).read_text().splitlines())
        except (OSError, ValueError):
            continue
        # "max" (v2) or a huge number (v1) means no limit.
        if limit == "max" or int(limit) >= 1 << 60:
            return None
        return int(limit) - (usage - int(stats.get(inactive_key, 0)))
    return None


def ensure_room_for(model_dir: Path, headroom_mb: int) -> None:
    """Raise InsufficientMemory unless the model's weights plus headroom fit."""
    needed = weights_bytes(model_dir) + headroom_mb * MIB
    available = available_bytes()
    if needed > available:
        raise InsufficientMemory(
            f"model at {model_dir} needs about {needed // MIB} MiB "
            f"(weights + MEMORY_HEADROOM_MB={headroom_mb}); {available // MIB} MiB available"
        )


def unregister_later(management_url: str, model_name: str) -> None:
    """Remove the half-registered model once MMS has answered 507 (see module docstring)."""
    subprocess.Popen(
        [sys.executable, "-m", UNREGISTER_MODULE, management_url, model_name],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # outlives this worker, which MMS ends after the 507
    )
