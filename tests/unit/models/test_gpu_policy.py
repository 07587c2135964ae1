"""GPU choices checked without a GPU: flash-attn by compute capability, the driver file, and
the GPU image's refusal to serve on CPU (this machine has no CUDA device, which is exactly
the case the refusal is for)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from sagemaker_embeddings.errors import ModelLoadError
from sagemaker_embeddings.models.gpu_policy import (
    flash_attention_fits,
    installed_driver,
    no_gpu_message,
    parse_archs,
    require_cuda,
)
from sagemaker_embeddings.models.runner import attention_candidates
from sagemaker_embeddings.settings import Settings

T4, A10G, L4, A100, H100, B200, RTX_PRO_6000, V100 = (
    (7, 5), (8, 6), (8, 9), (8, 0), (9, 0), (10, 0), (12, 0), (7, 0),
)  # fmt: skip


def test_arch_lists_in_the_forms_builds_write_them() -> None:
    assert parse_archs("80;90") == [(8, 0), (9, 0)]
    assert parse_archs("8.0 9.0") == [(8, 0), (9, 0)]
    assert parse_archs("80,90+PTX, 100a;120f") == [(8, 0), (9, 0), (10, 0), (12, 0)]
    assert parse_archs("") == []


@pytest.mark.parametrize(
    ("capability", "archs", "fits"),
    [
        (A100, "80;90", True),
        (A10G, "80;90", True),  # sm80 code runs on sm86
        (L4, "80;90", True),
        (H100, "80;90", True),
        (H100, "80", False),  # a newer major needs its own code
        (T4, "80;90", False),  # flash-attn refuses pre-Ampere GPUs
        (V100, "70;80;90", True),  # whatever the build says wins
        (B200, "80;90", False),
        (B200, "80;90;100;120", True),
        (RTX_PRO_6000, "80;90;100;120", True),
        (A100, None, True),  # archs unknown: flash-attn's own floor
        (T4, None, False),
        (B200, None, False),
    ],
)
def test_flash_attention_fits(capability: tuple[int, int], archs: str | None, fits: bool) -> None:
    assert flash_attention_fits(capability, archs) is fits


def test_attention_candidates_by_capability_and_switch() -> None:
    cuda = torch.device("cuda")
    settings = Settings(flash_attn_cuda_archs="80;90")
    flash = ["flash_attention_2", "sdpa", "eager"]
    assert attention_candidates(cuda, settings, A10G, flash_attn_installed=True) == flash
    assert attention_candidates(cuda, settings, T4, flash_attn_installed=True) == ["sdpa", "eager"]
    assert attention_candidates(cuda, settings, B200, flash_attn_installed=True) == [
        "sdpa",
        "eager",
    ]
    off = Settings(flash_attn_cuda_archs="80;90", use_flash_attention=False)
    assert attention_candidates(cuda, off, A100, flash_attn_installed=True) == ["sdpa", "eager"]
    assert attention_candidates(cuda, settings, A100, flash_attn_installed=False) == [
        "sdpa",
        "eager",
    ]
    cpu = torch.device("cpu")
    assert attention_candidates(cpu, settings, A100, flash_attn_installed=True) == [
        "sdpa",
        "eager",
    ]


def test_settings_read_the_switches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("USE_FLASH_ATTENTION", "false")
    monkeypatch.setenv("ALLOW_CPU_FALLBACK", "true")
    monkeypatch.setenv("IMAGE_FLAVOR", "gpu")
    monkeypatch.setenv("FLASH_ATTN_CUDA_ARCHS", "80;90")
    settings = Settings()
    assert settings.use_flash_attention is False
    assert settings.allow_cpu_fallback is True
    assert settings.image_flavor == "gpu"
    assert settings.flash_attn_cuda_archs == "80;90"


def test_the_driver_version_file(tmp_path: Path) -> None:
    version = tmp_path / "version"
    version.write_text(
        "NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.127.05  Tue Oct  8 03:22:07 UTC 2024\n"
        "GCC version:  gcc version 7.3.1 20180712 (Red Hat 7.3.1-17) (GCC)\n"
    )
    assert installed_driver(version) == "550.127.05"
    version.write_text(
        "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.65.06  Release Build\n"
    )
    assert installed_driver(version) == "580.65.06"
    assert installed_driver(tmp_path / "missing") is None


def test_the_refusal_names_driver_needs_ami_and_cpu_image() -> None:
    message = no_gpu_message("13.0", "550.127.05")
    assert "\n" not in message
    for part in ("CUDA 13.0", "driver: 550.127.05", "needs driver >= 580",
                 "InferenceAmiVersion al2-ami-sagemaker-inference-gpu-3-1",
                 "get_image_uri(flavor='cpu')", "ALLOW_CPU_FALLBACK=true"):  # fmt: skip
        assert part in message, part
    assert "driver: none" in no_gpu_message(None, None)


def test_require_cuda_refuses_here() -> None:
    assert not torch.cuda.is_available()  # this machine: the case the refusal is for
    with pytest.raises(ModelLoadError, match=r"this is the GPU image .* no usable CUDA device"):
        require_cuda()
