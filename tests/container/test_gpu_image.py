"""The GPU flavor, built here as its stand-in (Debian base, PyPI's CUDA torch: this machine
reaches neither NVIDIA's registry nor PyTorch's index) from the same Dockerfile, and run
on a machine without a GPU: the tag says the CUDA torch reports, the image stops with one
message instead of serving on CPU (and serves when allowed), and its entrypoint's
forward-compatibility decision for a faked older driver."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx
import numpy as np
import pytest

from sagemaker_embeddings.deploy import build
from tests.harness.docker import (
    cpu_image,
    docker,
    docker_engine,
    ensure_base_image,
    run_container,
    state_lock,
    wait_for_ping,
    wheelhouse,
)

__all__ = ["cpu_image", "docker_engine", "wheelhouse"]  # fixtures, re-exported for pytest

pytestmark = [pytest.mark.container, pytest.mark.slow]


@pytest.fixture(scope="module")
def gpu_image(docker_engine: None) -> str:
    ensure_base_image()
    with state_lock("build"):
        return build.build_image("gpu", stand_in=True)


def _run(
    image: str, *command: str, env: dict[str, str] | None = None, mount: str | None = None
) -> subprocess.CompletedProcess[str]:
    options = [item for key, value in (env or {}).items() for item in ("--env", f"{key}={value}")]
    if mount is not None:
        options += ["--volume", mount]
    return subprocess.run(
        ["docker", "run", "--rm", *options, image, *command],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def test_the_tag_says_the_cuda_torch_reports(gpu_image: str) -> None:
    probe = "import platform, torch; print(platform.python_version(), torch.version.cuda)"
    out = docker("run", "--rm", "--entrypoint", "python", gpu_image, "-c", probe)
    python, cuda = out.split()
    tag = gpu_image.split(":", 1)[1]
    assert tag == f"{build.project_version()}-gpu-py{''.join(python.split('.')[:2])}-" \
        f"{build.cuda_tag(cuda)}-debian12"  # fmt: skip
    assert build.built_cuda(gpu_image) == cuda
    config = json.loads(docker("inspect", "--format", "{{json .Config}}", gpu_image))
    assert "IMAGE_FLAVOR=gpu" in config["Env"]
    assert config["Labels"]["io.github.sagemaker-embeddings.flavor"] == "gpu"
    # The stand-in has no nvcc, so no flash-attn; the production build checks its import.
    missing = "import importlib.util as u; print(u.find_spec('flash_attn') is None)"
    assert docker("run", "--rm", "--entrypoint", "python", gpu_image, "-c", missing) == "True"


def test_without_a_gpu_it_refuses_then_serves_when_allowed(gpu_image: str, cpu_image: str) -> None:
    done = _run(gpu_image, "serve")  # SageMaker's command; no --gpus: no CUDA device
    assert done.returncode == 1, done.stdout + done.stderr
    errors = [line for line in (done.stdout + done.stderr).splitlines() if " ERROR " in line]
    assert len(errors) == 1, done.stdout + done.stderr
    assert f"this is the GPU image (CUDA {build.built_cuda(gpu_image)})" in errors[0]
    assert "ALLOW_CPU_FALLBACK=true" in errors[0]
    assert "entrypoint: nvidia driver=none" in done.stderr

    vectors = []
    for image, env in ((gpu_image, {"ALLOW_CPU_FALLBACK": "true"}), (cpu_image, {})):
        with run_container(image, env=env) as container:
            wait_for_ping(container)
            answer = httpx.post(f"{container.url}/invocations",
                                json={"inputs": "the GPU image on CPU"}, timeout=60)  # fmt: skip
            assert answer.status_code == 200, answer.text
            vectors.append(np.asarray(answer.json()[0]))
    gpu, cpu = vectors
    assert float(gpu @ cpu / np.linalg.norm(gpu) / np.linalg.norm(cpu)) >= 0.9999


def test_the_entrypoint_uses_compat_libraries_for_an_older_driver(
    gpu_image: str, tmp_path: Path
) -> None:
    fake = tmp_path / "fake"
    (fake / "compat").mkdir(parents=True)
    (fake / "version").write_text(
        "NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.127.05  Tue Oct  8 2024\n"
    )
    (fake / "compat" / "libcuda.so.580.65.06").write_bytes(b"")
    (fake / "compat" / "libcuda.so.1").symlink_to("libcuda.so.580.65.06")
    env = {"NVIDIA_DRIVER_VERSION_FILE": "/fake/version", "CUDA_COMPAT_DIR": "/fake/compat"}
    done = _run(gpu_image, "serve", env=env, mount=f"{fake}:/fake:ro")
    assert "entrypoint: nvidia driver=550.127.05 compat=580.65.06 compute_capability=unknown: " \
        "forward-compatibility libraries first" in done.stderr  # fmt: skip
    assert done.returncode == 1  # and then, with no GPU, the refusal
