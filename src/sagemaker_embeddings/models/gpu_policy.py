"""GPU choices that need no GPU to decide: which attention kernels a device may run, which
NVIDIA driver a CUDA release needs, and the message the GPU image stops with when it finds
no usable CUDA device (rather than serving on CPU on a GPU bill).

Pure functions over plain values; torch is asked only by :func:`require_cuda`.
"""

from __future__ import annotations

import re
from pathlib import Path

from sagemaker_embeddings.errors import ModelLoadError

DRIVER_VERSION_FILE = Path("/proc/driver/nvidia/version")
# The oldest Linux driver each CUDA release runs on without forward compatibility
# (NVIDIA's CUDA toolkit release notes, "CUDA Toolkit and Corresponding Driver Versions").
MIN_DRIVER = {
    "12.1": "530",
    "12.2": "535",
    "12.4": "550",
    "12.6": "560",
    "12.8": "570",
    "12.9": "575",
    "13.0": "580",
}
# SageMaker's newest GPU inference AMI that can be chosen per endpoint (InferenceAmiVersion).
NEWEST_INFERENCE_AMI = "al2-ami-sagemaker-inference-gpu-3-1 (driver 550, CUDA 12.4)"
Capability = tuple[int, int]

_ARCH = re.compile(r"^(\d+)\.?(\d)(?:\+ptx|a|f)?$", re.IGNORECASE)
_KERNEL_MODULE = re.compile(r"Kernel Module\s+(?:for \S+\s+)?(\d+(?:\.\d+)+)")


def parse_archs(text: str) -> list[Capability]:
    """``80;90``, ``8.0 9.0`` or ``80,90+PTX`` → [(8, 0), (9, 0)]; unknown items are dropped."""
    found: list[Capability] = []
    for item in re.split(r"[;,\s]+", text.strip()):
        match = _ARCH.match(item)
        if match:
            found.append((int(match[1]), int(match[2])))
    return found


def flash_attention_fits(capability: Capability, built_for: str | None) -> bool:
    """Whether flash-attn kernels built for ``built_for`` run on a device of ``capability``.

    A cubin runs on its own major version at the same or a newer minor (sm80 code runs on
    sm86 and sm89, not on sm90 or sm100). With the archs unknown, flash-attn's own floor
    holds: Ampere or Hopper (flash-attn 2 refuses older GPUs; Blackwell needs a build
    made for it).
    """
    if built_for is None:
        return capability[0] in (8, 9)
    return any(
        major == capability[0] and minor <= capability[1] for major, minor in parse_archs(built_for)
    )


def installed_driver(version_file: Path = DRIVER_VERSION_FILE) -> str | None:
    """The NVIDIA kernel driver's version (``550.127.05``), or None without one."""
    try:
        text = version_file.read_text(errors="replace")
    except OSError:
        return None
    match = _KERNEL_MODULE.search(text)
    return match[1] if match else None


def no_gpu_message(cuda: str | None, driver: str | None) -> str:
    """One line: what was found, what is needed, and the two ways out."""
    release = ".".join((cuda or "").split(".")[:2])
    needed = MIN_DRIVER.get(release, "?")
    return (
        f"this is the GPU image (CUDA {cuda or 'unknown'}), but no usable CUDA device was "
        f"found (NVIDIA driver: {driver or 'none'}; CUDA {release or '?'} needs driver >= "
        f"{needed}, or forward-compatibility libraries on a datacenter GPU). On SageMaker, "
        f"use a GPU instance with InferenceAmiVersion {NEWEST_INFERENCE_AMI} or newer, or "
        "deploy the CPU image (get_image_uri(flavor='cpu')); ALLOW_CPU_FALLBACK=true serves "
        "on CPU anyway"
    )


def require_cuda() -> None:
    """Raise ModelLoadError with :func:`no_gpu_message` unless torch sees a CUDA device."""
    import torch

    if not torch.cuda.is_available():
        raise ModelLoadError(no_gpu_message(torch.version.cuda, installed_driver()))
