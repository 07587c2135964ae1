"""SageMaker's instance families: the CPU architecture and accelerator of each, and so which
of our images (if any) runs on it.

A family missing here is classified by SageMaker's naming (``g``/``p`` are NVIDIA GPUs,
``inf``/``trn`` are Neuron, a ``g`` after the generation digit is Graviton); tests check
that every family botocore's SageMaker model lists for endpoints and batch transform is in
the table itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from .catalog import Flavor

Arch = Literal["x86_64", "arm64"]
Accelerator = Literal["none", "nvidia", "neuron", "gaudi"]
# The oldest GPUs the GPU image's CUDA line has kernels for (T4, Turing): CUDA 13 and
# current torch wheels carry no code for Volta (V100) or older.
MIN_CAPABILITY = (7, 5)


@dataclass(frozen=True)
class Family:
    arch: Arch
    accelerator: Accelerator = "none"
    gpu: str | None = None
    capability: tuple[int, int] | None = None


def _cpus(arch: Arch, names: str) -> dict[str, Family]:
    return {name: Family(arch) for name in names.split()}


FAMILIES: dict[str, Family] = {
    **_cpus("x86_64", "t2 t3 c4 c5 c5d c5n c6i c6id c6in c7i m4 m5 m5d m6i m6id m7i"),
    **_cpus("x86_64", "r5 r5d r6i r6id r7i"),
    **_cpus("arm64", "c6g c6gd c6gn c7g c7gd c8g m6g m6gd m7g m7gd m8g r6g r6gd r7g r7gd r8g"),
    "g4dn": Family("x86_64", "nvidia", "T4", (7, 5)),
    "g5": Family("x86_64", "nvidia", "A10G", (8, 6)),
    "g6": Family("x86_64", "nvidia", "L4", (8, 9)),
    "g6e": Family("x86_64", "nvidia", "L40S", (8, 9)),
    "g7": Family("x86_64", "nvidia", "RTX PRO 4500 Blackwell", (12, 0)),
    "g7e": Family("x86_64", "nvidia", "RTX PRO 6000 Blackwell", (12, 0)),
    "p2": Family("x86_64", "nvidia", "K80", (3, 7)),
    "p3": Family("x86_64", "nvidia", "V100", (7, 0)),
    "p3dn": Family("x86_64", "nvidia", "V100", (7, 0)),
    "p4d": Family("x86_64", "nvidia", "A100", (8, 0)),
    "p4de": Family("x86_64", "nvidia", "A100", (8, 0)),
    "p5": Family("x86_64", "nvidia", "H100", (9, 0)),
    "p5e": Family("x86_64", "nvidia", "H200", (9, 0)),
    "p5en": Family("x86_64", "nvidia", "H200", (9, 0)),
    "p6-b200": Family("x86_64", "nvidia", "B200", (10, 0)),
    "p6-b300": Family("x86_64", "nvidia", "B300", (10, 3)),
    "p6e-gb200": Family("arm64", "nvidia", "GB200", (10, 0)),  # Grace (arm64) hosts
    "inf1": Family("x86_64", "neuron"),
    "inf2": Family("x86_64", "neuron"),
    "trn1": Family("x86_64", "neuron"),
    "trn1n": Family("x86_64", "neuron"),
    "trn2": Family("x86_64", "neuron"),
    "dl1": Family("x86_64", "gaudi"),
}

# "ml.<family>.<size>" or "ml_<family>", as SageMaker names instance types.
_INSTANCE_TYPE = re.compile(r"^ml[._]([a-z\d-]+?)(?:\.\w+)?$")
_GRAVITON = re.compile(r"^[a-z]+\d+g[a-z]*$")


def family_of(instance_type: str) -> tuple[str, Family]:
    """The family name and what it is; ValueError for a malformed instance type."""
    match = _INSTANCE_TYPE.match(instance_type)
    if match is None:
        raise ValueError(
            f"Invalid instance type {instance_type!r}: expected ml.<family>.<size> "
            "(e.g. ml.g5.xlarge, ml.c6i.2xlarge), 'local' or 'local_gpu'."
        )
    name = match[1]
    known = FAMILIES.get(name)
    if known is not None:
        return name, known
    if name.startswith(("inf", "trn")):
        return name, Family("x86_64", "neuron")
    if name[0] in ("g", "p"):
        return name, Family("x86_64", "nvidia")
    return name, Family("arm64" if _GRAVITON.match(name) else "x86_64")


def flavor_for_instance_type(instance_type: str) -> Flavor:
    """The image flavor that runs on ``instance_type``; a ValueError says why none does."""
    if instance_type == "local":
        return "cpu"
    if instance_type == "local_gpu":
        return "gpu"
    _, family = family_of(instance_type)
    if family.accelerator == "neuron":
        raise ValueError(
            f"{instance_type} has AWS Neuron accelerators (Inferentia/Trainium), which this "
            "server does not run on; use a GPU (ml.g5, ml.g6, ...) or CPU instance type."
        )
    if family.accelerator == "gaudi":
        raise ValueError(f"{instance_type} has Habana Gaudi accelerators, which are not supported.")
    if family.accelerator == "nvidia":
        if family.arch == "arm64":
            raise ValueError(
                f"{instance_type} has {family.gpu} GPUs on arm64 (Grace) hosts; the GPU image "
                "is linux/amd64: use an x86 GPU instance type (e.g. ml.p6-b200, ml.p5)."
            )
        if family.capability is not None and family.capability < MIN_CAPABILITY:
            raise ValueError(
                f"{instance_type} has {family.gpu} GPUs (compute capability "
                f"{family.capability[0]}.{family.capability[1]}); the GPU image's CUDA has "
                f"kernels for {MIN_CAPABILITY[0]}.{MIN_CAPABILITY[1]} (T4) and newer."
            )
        return "gpu"
    return "cpu-arm64" if family.arch == "arm64" else "cpu"


def check_runs_on(instance_type: str, flavor: Flavor) -> None:
    """Raise when ``flavor`` cannot run on ``instance_type`` (another CPU architecture, or
    no GPU for the GPU image); the CPU image on a GPU instance is allowed (it leaves the
    GPU idle)."""
    wanted = flavor_for_instance_type(instance_type)  # raises when no image runs there
    if flavor == wanted or (flavor, wanted) == ("cpu", "gpu"):
        return
    if flavor == "gpu":
        raise ValueError(
            f"The gpu flavor needs a GPU instance, but {instance_type!r} has none. "
            f"Use flavor={wanted!r} or a GPU instance type (ml.g*, ml.p*, local_gpu)."
        )
    raise ValueError(
        f"The {flavor} flavor does not run on {instance_type!r}, which needs {wanted!r} "
        f"({'arm64' if wanted == 'cpu-arm64' else 'x86_64'})."
    )
