"""The MME flow in the CPU image: `docker run IMAGE serve` with SAGEMAKER_MULTI_MODEL=true
and models under /opt/ml/models, as SageMaker runs it.

The image comes from the shared Docker harness (built from this working tree). It skips
only when container/Dockerfile does not install toolkit mode at all; once it does, an
image without a JRE, the toolkit packages or the multi-models label is a failure. Set
TOOLKIT_TEST_IMAGE to run it against another image (e.g. one built by hand).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests import model_factory
from tests.harness.docker import docker, get_json, http_status, post_json, run_container
from tests.harness.toolkit import stays_absent

pytestmark = pytest.mark.container
DOCKERFILE = Path(__file__).parents[2] / "container" / "Dockerfile"
MULTI_MODELS_LABEL = "com.amazonaws.sagemaker.capabilities.multi-models"


@pytest.fixture(scope="module")
def toolkit_image(request: pytest.FixtureRequest) -> str:
    request.getfixturevalue("docker_engine")  # starts dockerd when it is not running
    image = os.environ.get("TOOLKIT_TEST_IMAGE")
    if not image:
        if "multi-model-server" not in DOCKERFILE.read_text():
            pytest.skip("container/Dockerfile does not install toolkit mode (JRE + MMS)")
        image = str(request.getfixturevalue("cpu_image"))
    probe = subprocess.run(
        ["docker", "run", "--rm", "--entrypoint", "sh", image, "-c",
         "java -version && python -c 'import mms, sagemaker_inference.errors'"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert probe.returncode == 0, f"{image} lacks toolkit mode:\n{probe.stdout}{probe.stderr}"
    labels = json.loads(docker("image", "inspect", "--format", "{{json .Config.Labels}}", image))
    assert labels.get(MULTI_MODELS_LABEL) == "true", labels
    return image


def _status(method: str, url: str, body: bytes | None = None) -> int:
    headers = {"Content-Type": "application/json"} if body is not None else {}
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def test_mme_in_container(toolkit_image: str, tmp_path: Path) -> None:
    models = tmp_path / "models"
    # SageMaker extracts each model.tar.gz under /opt/ml/models/<id>/model.
    shutil.copytree(model_factory.minilm_dir(), models / "minilm" / "model")
    model_factory.cross_encoder(models / "reranker" / "model", 1)
    env = {"SAGEMAKER_MULTI_MODEL": "true"}
    with run_container(toolkit_image, env=env, volumes={models: "/opt/ml/models"}) as container:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # MMS answers /ping once the frontend is up
            if http_status(f"{container.url}/ping") == 200:
                break
            time.sleep(0.5)
        for name in ("minilm", "reranker"):
            load = {"model_name": name, "url": f"/opt/ml/models/{name}/model"}
            assert post_json(f"{container.url}/models", load, timeout=180)
        listed = get_json(f"{container.url}/models")
        assert {m["modelName"] for m in listed["models"]} == {"minilm", "reranker"}  # type: ignore[index]
        vectors = post_json(f"{container.url}/models/minilm/invoke", {"inputs": ["a", "b"]})
        assert len(vectors) == 2  # type: ignore[arg-type]
        assert len(vectors[0]) == 384  # type: ignore[index]
        ranks = post_json(
            f"{container.url}/models/reranker/invoke", {"query": "q", "texts": ["x", "y"]}
        )
        assert sorted(r["index"] for r in ranks) == [0, 1]  # type: ignore[union-attr]
        again = b'{"model_name": "minilm", "url": "/opt/ml/models/minilm/model"}'
        assert _status("POST", f"{container.url}/models", again) == 409
        assert _status("DELETE", f"{container.url}/models/reranker") == 200
        gone = b'{"query": "q", "texts": ["x"]}'
        assert _status("POST", f"{container.url}/models/reranker/invoke", gone) == 404


def test_mme_507_then_eviction_in_a_memory_limited_container(
    toolkit_image: str, tmp_path: Path
) -> None:
    """With a 1.5 GB container, MiniLM copies load until one answers 507 (not an OOM
    kill); after SageMaker-style eviction (DELETE) the same model loads."""
    models = tmp_path / "models"
    names = [f"m{i}" for i in range(5)]
    for name in names:
        shutil.copytree(model_factory.minilm_dir(), models / name / "model")
    with run_container(
        toolkit_image,
        env={"SAGEMAKER_MULTI_MODEL": "true"},
        volumes={models: "/opt/ml/models"},
        docker_args=("--memory", "1500m"),
    ) as container:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and http_status(f"{container.url}/ping") != 200:
            time.sleep(0.5)
        statuses: dict[str, int] = {}
        for name in names:
            body = f'{{"model_name": "{name}", "url": "/opt/ml/models/{name}/model"}}'
            statuses[name] = _status("POST", f"{container.url}/models", body.encode())
            if statuses[name] == 507:
                break
        refused = [n for n, s in statuses.items() if s == 507]
        assert refused, f"no 507 within five models: {statuses}"
        assert all(s in (200, 507) for s in statuses.values()), statuses
        # The refused registration is removed right after the 507 (toolkit/memory_check.py).
        # Usually within 1 s; allow for a loaded machine.
        refused_url = f"{container.url}/models/{refused[0]}"
        assert stays_absent(lambda: _status("GET", refused_url)), container.logs()[-6000:]
        # SageMaker's answer to 507: evict a loaded model and retry, until it fits.
        retry = f'{{"model_name": "{refused[0]}", "url": "/opt/ml/models/{refused[0]}/model"}}'
        loaded = [n for n, s in statuses.items() if s == 200]
        outcomes = []
        for victim in loaded:
            assert _status("DELETE", f"{container.url}/models/{victim}") == 200
            time.sleep(2)  # the evicted worker's memory is returned after DELETE answers
            outcomes.append(_status("POST", f"{container.url}/models", retry.encode()))
            if outcomes[-1] == 200:
                break
        assert outcomes[-1] == 200, outcomes
