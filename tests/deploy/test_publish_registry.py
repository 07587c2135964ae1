"""``publish`` for real: a local registry (Debian's docker-registry on 127.0.0.1) receives the
push under the version and release tags, the registry's HTTP API shows one Docker v2
manifest for amd64, a second publish skips, another image is refused, a registry that is
down at first gets the push on a retry, and the pulled serving image answers /ping.

The ECR login runs against moto's ECR mock: the token it hands out is what
``docker login`` sends to the local registry (which accepts any credentials).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
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
from sagemaker_embeddings.deploy import build, publish
from sagemaker_embeddings.deploy.registry import Docker
from tests.deploy.test_catalog import REPO_ROOT
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
REVISION_LABEL = "org.opencontainers.image.revision"
RELEASE_SUFFIX = build.release_tag("x", build.source_revision(REPO_ROOT)) or ""
DOCKER_V2 = "application/vnd.docker.distribution.manifest.v2+json"


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


@contextlib.contextmanager
def running_registry(folder: Path, port: int, read_only: bool = False) -> Iterator[str]:
    """A private registry on 127.0.0.1:``port`` (no TLS, no auth); yields ``127.0.0.1:PORT``.
    ``read_only``: it answers reads and refuses pushes (its maintenance mode)."""
    program = _ensure_docker_registry()
    config = folder / "config.yml"
    maintenance = "  maintenance:\n    readonly:\n      enabled: true\n" if read_only else ""
    config.write_text(
        "version: 0.1\n"
        f"storage:\n  filesystem:\n    rootdirectory: {folder / 'data'}\n{maintenance}"
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


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    ensure_docker()
    with running_registry(tmp_path_factory.mktemp("registry"), free_port()) as address:
        yield address


def _import_image(revision: str | None = None) -> str:
    """A one-file image with unique content (so its digest is new to the registry)."""
    reference = f"publish-test:{uuid.uuid4().hex[:12]}"
    payload = f"{reference}\n".encode()
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        member = tarfile.TarInfo("hello.txt")
        member.size = len(payload)
        tar.addfile(member, io.BytesIO(payload))
    label = [] if revision is None else ["--change", f"LABEL {REVISION_LABEL}={revision}"]
    subprocess.run(["docker", "import", *label, "-", reference], input=archive.getvalue(),
                   check=True, capture_output=True, timeout=120)  # fmt: skip
    return reference


@pytest.fixture
def tiny_image() -> Iterator[str]:
    reference = _import_image()
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


def _read(url: str, accept: str = DOCKER_V2) -> tuple[str, bytes, str]:
    """GET a registry URL: (content type, body, Docker-Content-Digest)."""
    request = urllib.request.Request(url, headers={"Accept": accept})
    with urllib.request.urlopen(request, timeout=10) as response:
        headers = response.headers
        return headers["Content-Type"], response.read(), headers.get("Docker-Content-Digest", "")


def assert_sagemaker_accepts(registry: str, repository: str, tag: str, image_id: str) -> None:
    """Through the registry's HTTP API: one Docker v2 schema 2 manifest whose config is
    the local image and says linux/amd64 (asked for with every media type accepted, so an
    index or an OCI manifest would come back as what it is)."""
    every = ", ".join([DOCKER_V2, "application/vnd.docker.distribution.manifest.list.v2+json",
                       "application/vnd.oci.image.manifest.v1+json",
                       "application/vnd.oci.image.index.v1+json"])  # fmt: skip
    content_type, body, _ = _read(f"http://{registry}/v2/{repository}/manifests/{tag}", every)
    manifest = json.loads(body)
    assert content_type == DOCKER_V2
    assert manifest["mediaType"] == DOCKER_V2
    assert manifest["schemaVersion"] == 2
    assert manifest["config"]["digest"] == image_id
    _, config, _ = _read(f"http://{registry}/v2/{repository}/blobs/{image_id}")
    assert (json.loads(config)["os"], json.loads(config)["architecture"]) == ("linux", "amd64")


def _tags(registry: str, repository: str) -> list[str]:
    _, body, _ = _read(f"http://{registry}/v2/{repository}/tags/list")
    return sorted(json.loads(body)["tags"])


def test_publish_pushes_replicas_and_they_pull_back_by_digest(
    registry: str, tiny_image: str, tmp_path: Path, cleanup: list[str]
) -> None:
    image_id = _image_id(tiny_image)
    tag = tiny_image.split(":")[1]
    release = f"{tag}{RELEASE_SUFFIX[1:]}"
    report = tmp_path / "pushed.json"
    argv = ["publish", "--image", tiny_image, "--flavor", "cpu", "--tag", tag,
            "--registry", f"{registry}/{{region}}", "--region", "us-east-1",
            "--replicate-to", "eu-west-1", "--login", "always",
            "--report", str(report)]  # fmt: skip
    uris = [
        f"{registry}/{region}/sagemaker-embeddings:{tag}" for region in ("us-east-1", "eu-west-1")
    ]
    cleanup += [*uris, *(uri.replace(f":{tag}", f":{release}") for uri in uris)]
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
    assert [p["release_uri"] for p in pushed] == [u.replace(f":{tag}", f":{release}") for u in uris]
    assert [p["region"] for p in pushed] == ["us-east-1", "eu-west-1"]
    assert [p["skipped"] for p in pushed] == [False, False]
    assert pushed[0]["digest"] == pushed[1]["digest"]  # the same content in both "regions"
    assert pushed[0]["digest"].startswith("sha256:")
    for region in ("us-east-1", "eu-west-1"):
        repository = f"{region}/sagemaker-embeddings"
        assert _tags(registry, repository) == sorted([tag, release])
        for each in (tag, release):
            assert_sagemaker_accepts(registry, repository, each, image_id)
            _, _, digest = _read(f"http://{registry}/v2/{repository}/manifests/{each}")
            assert digest == pushed[0]["digest"]

    _forget(tiny_image, *uris)
    for entry in pushed:
        docker("pull", entry["pinned"], timeout=120)
        assert _image_id(entry["pinned"]) == image_id


def test_republishing_skips_and_another_image_is_refused_unless_forced(
    registry: str, tiny_image: str, tmp_path: Path, cleanup: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    tag = tiny_image.split(":")[1]
    report = tmp_path / "pushed.json"
    common = ["publish", "--flavor", "cpu", "--tag", tag, "--registry", registry,
              "--region", "eu-west-1", "--report", str(report)]  # fmt: skip
    cleanup += [f"{registry}/sagemaker-embeddings:{tag}",
                f"{registry}/sagemaker-embeddings:{tag}{RELEASE_SUFFIX[1:]}"]  # fmt: skip
    assert main([*common, "--image", tiny_image]) == 0
    first = json.loads(report.read_text())["pushed"][0]
    cleanup.append(first["pinned"])
    capsys.readouterr()

    assert main([*common, "--image", tiny_image]) == 0  # the same image again: nothing to do
    again = json.loads(report.read_text())["pushed"][0]
    assert again["skipped"] is True
    assert again["digest"] == first["digest"]
    assert "already holds this image: skipped" in capsys.readouterr().out

    other = _import_image()  # same checkout, so the same release tag: it never moves
    cleanup.append(other)
    for force in ([], ["--force"]):
        assert main([*common, "--image", other, *force]) == 1
        err = capsys.readouterr().err
        assert "already holds another image" in err
        assert err.count("\n") == 1
    assert "pass --force to move it" in main_error([*common, "--image", other], capsys)
    assert _tags(registry, "sagemaker-embeddings").count(tag) == 1
    _, _, digest = _read(f"http://{registry}/v2/sagemaker-embeddings/manifests/{tag}")
    assert digest == first["digest"]  # nothing moved

    # Built from another commit: its release tag is new, and --force moves the version tag.
    commit = "f" * 40
    rebuilt = _import_image(revision=commit)
    cleanup += [rebuilt, f"{registry}/sagemaker-embeddings:{tag}-{commit[:12]}"]
    assert main([*common, "--image", rebuilt, "--force"]) == 0
    moved = json.loads(report.read_text())["pushed"][0]
    cleanup.append(moved["pinned"])
    assert moved["release_uri"] == f"{registry}/sagemaker-embeddings:{tag}-{commit[:12]}"
    assert moved["digest"] != first["digest"]
    assert_sagemaker_accepts(registry, "sagemaker-embeddings", tag, _image_id(rebuilt))
    # The first release tag still holds the first image.
    release = f"{tag}{RELEASE_SUFFIX[1:]}"
    assert_sagemaker_accepts(registry, "sagemaker-embeddings", release, _image_id(tiny_image))


def main_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(argv) == 1
    return capsys.readouterr().err


def test_a_registry_refusing_pushes_at_first_gets_the_push_on_a_retry(
    tiny_image: str, tmp_path: Path, cleanup: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    ensure_docker()
    port = free_port()
    address = f"127.0.0.1:{port}"
    tag = tiny_image.split(":")[1]
    cleanup += [f"{address}/sagemaker-embeddings:{tag}",
                f"{address}/sagemaker-embeddings:{tag}{RELEASE_SUFFIX[1:]}"]  # fmt: skip
    with contextlib.ExitStack() as stack:
        stack.enter_context(running_registry(tmp_path, port, read_only=True))
        waits: list[float] = []

        def writable_again_after_the_wait(seconds: float) -> None:
            # The first push was refused (read-only): the registry takes writes again.
            waits.append(seconds)
            if len(waits) == 1:
                stack.close()
                stack.enter_context(running_registry(tmp_path, port))

        parser = argparse.ArgumentParser()
        publish.add_arguments(parser)
        args = parser.parse_args(["--image", tiny_image, "--flavor", "cpu", "--tag", tag,
                                  "--registry", address, "--region", "eu-west-1"])  # fmt: skip
        pushed: list[publish.Pushed] = []
        said: list[str] = []
        plan = publish.make_plan(args)
        publish.execute(plan, Docker(sleep=writable_again_after_the_wait), pushed, said.append)
        assert waits == [2.0]
        assert any(line.startswith("push of ") and "retrying in 2 s" in line for line in said)
        cleanup.append(pushed[0].pinned)
        assert_sagemaker_accepts(address, "sagemaker-embeddings", tag, _image_id(tiny_image))


def test_push_without_a_build_step_says_what_is_missing(
    registry: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["publish", "--only", "push", "--flavor", "cpu", "--tag", "never-built",
            "--registry", registry, "--region", "us-east-1"]  # fmt: skip
    assert main(argv) == 1
    assert "no local image" in capsys.readouterr().err


def test_a_failure_part_way_still_reports_what_was_pushed(
    registry: str, tmp_path: Path, cleanup: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """The gpu image is not tagged for the registry: the push step refuses before pushing
    anything, exits 1, and the report says nothing was pushed; with the cpu image alone it
    pushes and reports it."""
    image = _import_image()
    cpu_tag = build.image_tag("cpu")
    # Its own repository: the registry is the module's, and the last test pushes the real
    # image under the real name.
    cpu_remote = f"{registry}/part-way:{cpu_tag}"
    cpu_release = f"{registry}/part-way:{cpu_tag}{RELEASE_SUFFIX[1:]}"
    cleanup += [image, cpu_remote, cpu_release]
    docker("tag", image, cpu_remote)
    docker("tag", image, cpu_release)
    report = tmp_path / "pushed.json"
    argv = ["publish", "--only", "push", "--registry", registry, "--region", "us-east-1",
            "--repository", "part-way", "--report", str(report)]  # fmt: skip
    assert main([*argv, "--flavor", "cpu,gpu"]) == 1
    assert "no local image" in capsys.readouterr().err
    assert json.loads(report.read_text()) == {"complete": False, "pushed": []}
    assert main([*argv, "--flavor", "cpu"]) == 0
    written = json.loads(report.read_text())
    cleanup += [entry["pinned"] for entry in written["pushed"]]
    assert written["complete"] is True
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
