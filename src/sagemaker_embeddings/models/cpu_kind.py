"""The kinds of CPU whose fastest path differs, told apart by their feature flags.

Torch-free: the choice of backend is made before anything heavy is imported.
"""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Literal

CpuKind = Literal["amx", "avx512_bf16", "avx512", "avx2", "arm64", "other"]
CPU_KINDS: tuple[CpuKind, ...] = ("amx", "avx512_bf16", "avx512", "avx2", "arm64", "other")

# Sapphire Rapids and later (ml.c7i/m7i/r7i): bfloat16 matrix tiles.
_AMX = frozenset({"amx_bf16", "amx_tile"})
# Cooper Lake and AMD Zen 4 (ml.*7a): bfloat16 dot products in AVX-512.
_AVX512_BF16 = "avx512_bf16"


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    """Feature flags of the first CPU listed in ``cpuinfo`` (x86 "flags", arm64
    "Features"); empty where it cannot be read."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            return frozenset(line.partition(":")[2].split())
    return frozenset()


def native_bfloat16(flags: frozenset[str]) -> bool:
    """Whether x86 ``flags`` name bfloat16 arithmetic in hardware; elsewhere torch and
    the other backends emulate it, slower than float32."""
    return bool(flags & (_AMX | {_AVX512_BF16}))


def cpu_kind(flags: frozenset[str], machine: str | None = None) -> CpuKind:
    """The kind of CPU ``flags`` (and ``machine``, platform.machine() when not given)
    describe; the most capable kind the flags allow."""
    machine = platform.machine() if machine is None else machine
    if machine.lower() in ("aarch64", "arm64"):
        return "arm64"
    if flags >= _AMX:
        return "amx"
    if _AVX512_BF16 in flags:
        return "avx512_bf16"
    if "avx512f" in flags:
        return "avx512"
    if "avx2" in flags:
        return "avx2"
    return "other"
