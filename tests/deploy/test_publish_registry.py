"""``publish`` for real: a local registry (Debian's docker-registry on 127.0.0.1) receives the
push, the test pulls back by digest, and the pulled serving image answers /ping.

The ECR login runs against moto's ECR mock: the token it hands out is what
``docker login`` sends to the local registry (which accepts any credentials).
"""

from __future__ import annotations

import base64
import io
import json
import shutil
import subprocess
import tarfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from moto import mock_aws

from sagemaker_embeddings.cli import main
from sagemaker_embeddings.deploy import build
from tests.harness.docker import (
    cpu_image,
    docker,
    docker_engine,
    ensure_docker,
    run_container,
    state_lock,
    wait_for_ping,
    wheelhouse,
)
from tests.harness.ports import free_port

__all__ = ["cpu_image", "docker_engine", "wheelhouse"]  # fixtures, re-exported for pytest

pytestmark = pytest.mark.container

REGISTRY_START_TIMEOUT_S = 15.0


def _ensure_docker_registry() -> str:
    with state_lock("setup"):
        if shutil.which("docker-registry") is None:
            subprocess.run(["apt-get", "update", "-qq"], check=True, timeout=600)
            subprocess.run(["apt-get", "install", "-y", "-qq", "docker-registry"],
                           check=True, timeout=600)  # fmt: skip
    path = shutil.which("docker-registry")
    assert path is not None
    return path


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A private registry on 127.0.0.1 (no TLS, no auth); yields ``127.0.0.1:PORT``."""
    ensure_docker()
    program = _ensure_docker_registry()
    folder = tmp_path_factory.mktemp("registry")
    port = free_port()
    config = folder / "config.yml"
    config.write_text(
        "version: 0.1\n"
        f"storage:\n  filesystem:\n    rootdirectory: {folder / 'data'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    with (folder / "registry.log").open("wb") as log:
        process = subprocess.Popen([program, "serve", str(config)], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + REGISTRY_START_TIMEOUT_S
        while not _answers(f"http://127.0.0.1:{port}/v2/"):
            assert process.poll() is None, (folder / "registry.log").read_text()
            assert time.monotonic() < deadline, "the registry did not answer /v2/"
            time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture
def tiny_image() -> Iterator[str]:
    """A one-file image with unique content (so its digest is new to the registry)."""
    reference = f"publish-test:{uuid.uuid4().hex[:12]}"
    payload = f"{reference}\n".encode()
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        member = tarfile.TarInfo("hello.txt")
        member.size = len(payload)
        tar.addfile(member, io.BytesIO(payload))
    subprocess.run(["docker", "import", "-", reference], input=archive.getvalue(),
                   check=True, capture_output=True, timeout=120)  # fmt: skip
    yield reference
    docker("image", "rm", "--force", reference, check=False)


@pytest.fixture
def cleanup() -> Iterator[list[str]]:
    """Image references the test created; removed afterwards, passed or failed."""
    references: list[str] = []
    yield references
    _forget(*references)


def _image_id(reference: str) -> str:
    return docker("image", "inspect", "--format", "{{.Id}}", reference)


def _forget(*references: str) -> None:
    """Remove local tags, so a later pull has to ask the registry."""
    for reference in references:
        docker("image", "rm", reference, check=False)


def test_publish_pushes_replicas_and_they_pull_back_by_digest(
    registry: str, tiny_image: str, tmp_path: Path, cleanup: list[str]
) -> None:
    image_id = _image_id(tiny_image)
    tag = tiny_image.split(":")[1]
    report = tmp_path / "pushed.json"
    argv = ["publish", "--image", tiny_image, "--flavor", "cpu", "--tag", tag,
            "--registry", f"{registry}/{{region}}", "--region", "us-east-1",
            "--replicate-to", "eu-west-1", "--login", "always",
            "--report", str(report)]  # fmt: skip
    uris = [
        f"{registry}/{region}/sagemaker-embeddings:{tag}" for region in ("us-east-1", "eu-west-1")
    ]
    cleanup += uris
    with mock_aws():
        assert main(argv) == 0

    # docker login got moto's ECR token (user and password) for the registry host.
    auths = json.loads((tmp_path / "docker-config" / "config.json").read_text())["auths"]
    assert base64.b64decode(auths[registry]["auth"]) == b"AWS:123456789012-auth-token"

    written = json.loads(report.read_text())
    assert written["complete"] is True
    pushed = written["pushed"]
    cleanup += [entry["pinned"] for entry in pushed]
    assert [p["uri"] for p in pushed] == uris
    assert [p["region"] for p in pushed] == ["us-east-1", "eu-west-1"]
    assert pushed[0]["digest"] == pushed[1]["digest"]  # the same content in both "regions"
    assert pushed[0]["digest"].startswith("sha256:")
    for region in ("us-east-1", "eu-west-1"):
        with urllib.request.urlopen(
            f"http://{registry}/v2/{region}/sagemaker-embeddings/tags/list", timeout=5
        ) as response:
            assert json.loads(response.read())["tags"] == [tag]

    _forget(tiny_image, *uris)
    for entry in pushed:
        docker("pull", entry["pinned"], timeout=120)
        assert _image_id(entry["pinned"]) == image_id


def test_push_without_a_build_step_says_what_is_missing(
    registry: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["publish", "--only", "push", "--flavor", "cpu", "--tag", "never-built",
            "--registry", registry, "--region", "us-east-1"]  # fmt: skip
    assert main(argv) == 1
    assert "no local image" in capsys.readouterr().err


def test_a_failure_part_way_still_reports_what_was_pushed(
    registry: str, tiny_image: str, tmp_path: Path, cleanup: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """The cpu image is tagged for the registry, the gpu image is not: the push step
    pushes cpu, fails on gpu, exits 1, and the report still lists the cpu push."""
    cpu_remote = f"{registry}/sagemaker-embeddings:{build.image_tag('cpu')}"
    cleanup.append(cpu_remote)
    docker("tag", tiny_image, cpu_remote)
    report = tmp_path / "pushed.json"
    argv = ["publish", "--only", "push", "--flavor", "cpu,gpu", "--registry", registry,
            "--region", "us-east-1", "--report", str(report)]  # fmt: skip
    assert main(argv) == 1
    assert "no local image" in capsys.readouterr().err
    written = json.loads(report.read_text())
    cleanup += [entry["pinned"] for entry in written["pushed"]]
    assert written["complete"] is False
    assert [(p["flavor"], p["uri"]) for p in written["pushed"]] == [("cpu", cpu_remote)]


@pytest.mark.slow
def test_publish_builds_pushes_and_the_pulled_image_answers_ping(
    registry: str, cpu_image: str, wheelhouse: Path, tmp_path: Path, cleanup: list[str]
) -> None:
    """The whole path: build through deploy/build.py (the harness's cpu_image fixture has
    just built the same tree, so the layers come from the cache), tag with the truthful
    tag, push, pull back by digest, run, /ping."""
    report = tmp_path / "pushed.json"
    tag = build.image_tag("cpu")
    remote = f"{registry}/sagemaker-embeddings:{tag}"
    cleanup.append(remote)
    # The steps split the way buildspec.yml splits them.
    common = ["publish", "--flavor", "cpu", "--registry", registry, "--region", "eu-west-1",
              "--wheelhouse", str(wheelhouse)]  # fmt: skip
    with state_lock("build"):  # the harness's lock: one build of this tree at a time
        assert main([*common, "--only", "build"]) == 0
    # By id: other sessions may rebuild (and so move) the local tag meanwhile.
    image_id = _image_id(remote)
    assert main([*common, "--only", "push", "--report", str(report)]) == 0
    (entry,) = json.loads(report.read_text())["pushed"]
    cleanup.append(entry["pinned"])
    assert entry["uri"] == remote

    _forget(remote)  # the local build stays (other tests use it); the pull checks the
    # manifest and content the registry holds against the digest either way
    docker("pull", entry["pinned"], timeout=300)
    assert _image_id(entry["pinned"]) == image_id
    with run_container(entry["pinned"]) as container:
        waited = wait_for_ping(container)
    print(f"pulled by digest, docker run -> /ping 200: {waited:.1f} s")
