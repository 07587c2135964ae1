"""docs/sagemaker.md's "SageMaker walkthrough", run as written.

Blocks are marked ``<!-- walkthrough: TAG -->`` right above their code fence:
``settings`` (replaced here by local-mode values), ``run`` (executed in order, in one
namespace, against local mode and the real CPU image), ``records.jsonl`` (the batch
input file) and ``autoscaling`` (executed against moto).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.harness.docker import docker
from tests.reference import assert_close_rows, st_encode
from tests.sagemaker_local.conftest import REGION, ROLE, model_archive

WALKTHROUGH = Path(__file__).parents[2] / "docs" / "sagemaker.md"
BLOCK = re.compile(r"<!-- walkthrough: (?P<tag>[\w.-]+) -->\n```\w*\n(?P<code>.*?)```", re.S)
# The walkthrough's model names -> the models the tests serve in their place.
MODELS = {
    "all-MiniLM-L6-v2": "embedder",
    "bge-reranker-base": "reranker",
    "roberta-base-go_emotions": "classifier",
}
BF16_BOUND = 0.999  # the walkthrough leaves DTYPE=auto, which may pick bfloat16 here
SCORE_TOLERANCE = 2e-2


def walkthrough() -> list[tuple[str, str]]:
    text = WALKTHROUGH.read_text()
    start = text.index("\n## SageMaker walkthrough\n")
    end = text.find("\n## ", start + 1)
    section = text[start : end if end != -1 else len(text)]
    return [(m["tag"], m["code"]) for m in BLOCK.finditer(section)]


def blocks(tag: str) -> list[str]:
    return [code for found, code in walkthrough() if found == tag]


def test_walkthrough_blocks_are_marked() -> None:
    tags = [tag for tag, _ in walkthrough()]
    assert tags[0] == "settings"
    assert tags.count("run") >= 4
    assert {"records.jsonl", "autoscaling"} <= set(tags)


@pytest.fixture
def image_uri(cpu_image: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The CPU image tagged with the URI get_image_uri gives (so local mode neither pulls
    nor logs in to ECR). Requested before ``local_session``, so it is torn down after the
    containers are gone: Docker refuses to untag a reference a container uses. The
    account is the dummy role's, given the way a user without STS access would
    (tests/deploy/test_readme_deploy.py pulls from a registry instead)."""
    from sagemaker_embeddings.deploy import get_image_uri

    monkeypatch.setenv("SAGEMAKER_EMBEDDINGS_REGISTRY", ROLE.split(":")[4])

    uri = get_image_uri(instance_type="local", region=REGION)
    docker("tag", cpu_image, uri)
    yield uri
    docker("image", "rm", uri, check=False)


@pytest.mark.container
@pytest.mark.sagemaker_local
@pytest.mark.slow
def test_walkthrough_in_local_mode(
    image_uri: str,
    local_session: Any,
    model_dirs: dict[str, Path],
    tmp_path: Path,
) -> None:
    from sentence_transformers import CrossEncoder

    for name, task in MODELS.items():
        model_archive(model_dirs[task], tmp_path / "models" / name)
    records = blocks("records.jsonl")[0]
    (tmp_path / "batch" / "input").mkdir(parents=True)
    (tmp_path / "batch" / "input" / "records.jsonl").write_text(records)
    namespace: dict[str, Any] = {
        "session": local_session,
        "role": ROLE,
        "instance_type": "local",
        "bucket": f"file://{tmp_path}",
        "code_location": "s3://local-mode-bucket/code",  # never written: no inference code
    }
    for code in blocks("run"):
        exec(compile(code, str(WALKTHROUGH), "exec"), namespace)

    assert namespace["image_uri"] == image_uri
    texts = ["What is Deep Learning?", "Deep learning is..."]
    assert_close_rows(namespace["vectors"], st_encode(model_dirs["embedder"], texts), BF16_BOUND)
    assert len(namespace["short"][0]) == 64

    pair_scores = CrossEncoder(str(model_dirs["reranker"]), device="cpu").predict(
        [(texts[0], "Deep learning is..."), (texts[0], "Cheese is...")]
    )
    for rank in namespace["ranks"]:
        expected = float(pair_scores[rank["index"]])
        assert rank["score"] == pytest.approx(expected, abs=SCORE_TOLERANCE)
    labels = namespace["labels"]
    assert len(labels) == 3
    assert sum(label["score"] for label in labels) == pytest.approx(1.0, abs=1e-3)

    output = (tmp_path / "batch" / "output" / "records.jsonl.out").read_text()
    answers = [json.loads(line) for line in output.split("\n") if line]
    inputs = [json.loads(line) for line in records.splitlines()]
    assert len(answers) == len(inputs)
    texts = [r if isinstance(r, str) else r["inputs"] for r in inputs]
    expected = st_encode(model_dirs["embedder"], texts)
    assert_close_rows([answer[0] for answer in answers], expected, BF16_BOUND)


def test_autoscaling_block_against_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3
    from moto import mock_aws

    monkeypatch.delenv("AWS_ENDPOINT_URL")  # moto answers for AWS's own URLs only
    with mock_aws():
        (code,) = blocks("autoscaling")
        exec(compile(code, str(WALKTHROUGH), "exec"), {})
        client = boto3.client("application-autoscaling", region_name=REGION)
        (target,) = client.describe_scalable_targets(ServiceNamespace="sagemaker")[
            "ScalableTargets"
        ]
        (policy,) = client.describe_scaling_policies(ServiceNamespace="sagemaker")[
            "ScalingPolicies"
        ]
    assert target["ResourceId"] == "endpoint/my-embeddings-endpoint/variant/AllTraffic"
    assert (target["MinCapacity"], target["MaxCapacity"]) == (1, 4)
    config = policy["TargetTrackingScalingPolicyConfiguration"]
    assert config["TargetValue"] == 1200.0
    assert np.isclose(config["TargetValue"], 40 * 60 * 0.5)
