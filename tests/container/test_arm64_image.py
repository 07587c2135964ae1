"""The cpu-arm64 flavor (Graviton) from the same Dockerfile, built and run here under QEMU
emulation as its stand-in (a debootstrapped arm64 Debian, PyPI's aarch64 CPU torch): it is
one linux/arm64 image that answers /ping, and its embedding of a text is the amd64
image's within cosine 0.9999."""

from __future__ import annotations

import httpx
import numpy as np
import pytest

from sagemaker_embeddings.deploy import build
from tests.harness.docker import (
    ARM64_BASE_IMAGE,
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

# On a machine whose engine has no arm64 layers yet, the fixture debootstraps Debian and
# builds the image instruction by instruction under QEMU: more than the suite's 900 s
# (it timed out so on a fresh machine, 2026-12-07); later builds take minutes.
pytestmark = [pytest.mark.container, pytest.mark.slow, pytest.mark.timeout(3600)]
EMULATED_START_S = 900.0  # python and torch imports run instruction by instruction under QEMU
TEXT = "Graviton serves the same embedding"


@pytest.fixture(scope="module")
def arm64_image(docker_engine: None) -> str:
    ensure_base_image(ARM64_BASE_IMAGE, arch="arm64")
    with state_lock("build"):
        return build.build_image("cpu-arm64", stand_in=True)


def _embed(image: str) -> np.ndarray:
    with run_container(image) as container:
        wait_for_ping(container, timeout=EMULATED_START_S)
        answer = httpx.post(f"{container.url}/invocations", json={"inputs": TEXT}, timeout=300)
        assert answer.status_code == 200, answer.text
        return np.asarray(answer.json()[0], dtype=np.float64)


def test_it_is_one_linux_arm64_image_with_its_truthful_tag(arm64_image: str) -> None:
    platform = docker("image", "inspect", "--format", "{{.Os}}/{{.Architecture}}", arm64_image)
    assert platform == "linux/arm64"
    probe = (
        "import platform, torch; print(platform.machine(), torch.__version__, torch.version.cuda)"
    )
    machine, torch_version, cuda = docker(
        "run", "--rm", "--entrypoint", "python", arm64_image, "-c", probe
    ).split()
    assert (machine, cuda) == ("aarch64", "None")
    tag = arm64_image.split(":", 1)[1]
    assert (
        tag
        == f"{build.project_version()}-cpu-arm64-py311-torch{torch_version.split('+')[0]}-debian12"
    )
    config = docker("inspect", "--format", "{{json .Config.Env}}", arm64_image)
    assert '"IMAGE_FLAVOR=cpu-arm64"' in config


def test_it_serves_the_amd64_images_embedding(arm64_image: str, cpu_image: str) -> None:
    arm64, amd64 = _embed(arm64_image), _embed(cpu_image)
    cosine = float(arm64 @ amd64 / np.linalg.norm(arm64) / np.linalg.norm(amd64))
    assert cosine >= 0.9999, cosine
