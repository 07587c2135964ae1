"""SageMaker Python SDK local mode against the real image, offline.

What every test here gets:

- an AWS environment that cannot reach AWS: dummy credentials, a region, no config files,
  and ``AWS_ENDPOINT_URL`` pointing at a closed loopback port, so any boto3 call the SDK
  might make fails on this machine instead of reaching a real endpoint;
- :func:`local_session`: a ``LocalSession`` with telemetry opted out, a default bucket
  name (so the SDK never looks one up), the serving port published on 127.0.0.1 only,
  and a label on its containers, which teardown removes by id (``delete_endpoint`` stops
  a local-mode container but leaves it behind);
- the models as ``model.tar.gz``, each alone in its own folder (local mode extracts the
  archive next to itself and mounts that whole folder at /opt/ml/model).
"""

from __future__ import annotations

import subprocess
import tarfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness.docker import cpu_image, docker, docker_engine, wheelhouse
from tests.harness.env import offline_aws as offline_aws_environment
from tests.harness.ports import free_port

__all__ = ["cpu_image", "docker_engine", "wheelhouse"]  # fixtures, re-exported for pytest

ROLE = "arn:aws:iam::111111111111:role/dummy"
REGION = "us-west-2"
TELEMETRY_OFF: dict[str, Any] = {
    "SchemaVersion": "1.0",
    "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}},
}
# Exact comparisons against the reference libraries; DTYPE=auto may pick bfloat16 here.
FLOAT32 = {"DTYPE": "float32"}


def local_model(image: str, model_data: str, session: Any) -> Any:
    """The SDK's ``HuggingFaceModel`` for ``image`` serving ``model_data`` in local mode."""
    from sagemaker.huggingface import HuggingFaceModel

    return HuggingFaceModel(
        image_uri=image,
        model_data=model_data,
        env={"HF_MODEL_ID": "/opt/ml/model", **FLOAT32},
        role=ROLE,
        sagemaker_session=session,
        code_location="s3://any-bucket/prefix",
    )


class LoopbackPort(int):
    """A port number whose text form is ``127.0.0.1:<port>``.

    Local mode writes ``"%s:8080" % serving_port`` into docker-compose's ``ports`` and
    calls ``"http://localhost:%d/..." % serving_port``: this keeps the published port on
    loopback (compose otherwise binds all interfaces) and the SDK's URLs unchanged.
    """

    def __str__(self) -> str:
        return f"127.0.0.1:{int(self)}"


@pytest.fixture(autouse=True)
def offline_aws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy credentials and a region; boto3 pointed at a closed loopback port."""
    offline_aws_environment(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")


def remove_labelled_containers(label: str) -> list[str]:
    """Remove (by id) every container carrying ``label``; return their ids."""
    ids = docker("ps", "--all", "--quiet", "--filter", f"label={label}").split()
    for container_id in ids:
        subprocess.run(["docker", "rm", "--force", container_id], check=False,
                       capture_output=True, timeout=60)  # fmt: skip
    return ids


@pytest.fixture
def local_session(docker_engine: None) -> Iterator[Any]:
    """A configured ``sagemaker.local.LocalSession``; its containers are removed after."""
    from sagemaker.local import LocalSession

    label = f"sagemaker-embeddings-test-{uuid.uuid4().hex[:8]}"
    session = LocalSession(sagemaker_config=TELEMETRY_OFF, default_bucket="local-mode-bucket")
    session.config = {
        "local": {
            "local_code": True,
            "serving_port": LoopbackPort(free_port()),
            "container_config": {"labels": {label: "1"}},
        }
    }
    yield session
    remove_labelled_containers(label)
    assert not docker("ps", "--all", "--quiet", "--filter", f"label={label}")


def model_archive(model_dir: Path, folder: Path) -> str:
    """``model_dir`` packed as ``folder/model.tar.gz`` (alone there); its file:// URL."""
    folder.mkdir(parents=True)
    archive = folder / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(model_dir, arcname=".")
    return f"file://{archive}"


@pytest.fixture(scope="session")
def model_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The real MiniLM (embedder) and tiny seeded cross-encoders (reranker, classifier)."""
    from tests import model_factory as mf

    root = tmp_path_factory.mktemp("sm-models")
    return {
        "embedder": mf.minilm_dir(),
        "reranker": mf.cross_encoder(root / "reranker", 1),
        "classifier": mf.cross_encoder(root / "classifier", 3),
    }


ModelData = Callable[[str], str]


@pytest.fixture(scope="session")
def model_data(model_dirs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> ModelData:
    """``model_data(task)``: the file:// URL of that task's model.tar.gz (built once)."""
    built: dict[str, str] = {}

    def get(task: str) -> str:
        if task not in built:
            built[task] = model_archive(model_dirs[task], tmp_path_factory.mktemp(task) / "art")
        return built[task]

    return get
