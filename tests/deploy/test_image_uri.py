"""get_image_uri: regions, flavors from instance types, versions, sessions, and its errors.

Our images are looked up in an account given here (``account=``); where the account comes
from when none is given is tests/deploy/test_target_registry.py's subject."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from sagemaker_embeddings.deploy import get_image_uri
from sagemaker_embeddings.deploy.instance_families import flavor_for_instance_type
from tests.deploy.test_catalog import NEWER_REGIONS, SEED, SUFFIXES

OURS = "sagemaker-embeddings"
ACCOUNT = "123456789012"
CPU_TAG = "0.1.0-cpu-py311-torch2.13.0-debian12"
GPU_TAG = "0.1.0-gpu-py312-cu128-ubuntu24.04"


@pytest.fixture(autouse=True)
def own_account(monkeypatch: pytest.MonkeyPatch) -> None:
    """Our images' account, as the environment variable gives it (no STS here)."""
    monkeypatch.setenv("SAGEMAKER_EMBEDDINGS_REGISTRY", ACCOUNT)


@pytest.mark.parametrize("region", sorted(SEED))
def test_every_dlc_region_resolves_ours_to_the_own_account_and_tei_to_the_dlc(
    region: str,
) -> None:
    suffix = SUFFIXES.get(region, "amazonaws.com")
    assert get_image_uri(region, "ml.g5.xlarge") == (
        f"{ACCOUNT}.dkr.ecr.{region}.{suffix}/{OURS}:{GPU_TAG}"
    )
    assert get_image_uri(region, repository="tei-cpu", version="1.8.2") == (
        f"{SEED[region]}.dkr.ecr.{region}.{suffix}/tei-cpu:2.0.1-tei1.8.2-cpu-py310-ubuntu22.04"
    )


@pytest.mark.parametrize(("region", "suffix"), sorted(NEWER_REGIONS.items()))
def test_regions_without_the_dlc_serve_own_account_images(region: str, suffix: str) -> None:
    assert get_image_uri(region, "ml.c7i.xlarge", account="111122223333") == (
        f"111122223333.dkr.ecr.{region}.{suffix}/{OURS}:{CPU_TAG}"
    )
    with pytest.raises(ValueError, match=f"Unknown region '{region}' for the TEI DLC"):
        get_image_uri(region, repository="tei")


def test_the_dlc_repositories_take_no_account_or_registry() -> None:
    for kwargs in ({"account": ACCOUNT}, {"registry": "127.0.0.1:5000"}, {"pin": True}):
        with pytest.raises(ValueError, match="'tei' is the TEI DLC, which lives in AWS's"):
            get_image_uri("eu-west-1", repository="tei", **kwargs)  # type: ignore[arg-type]


def test_the_seed_pages_two_examples() -> None:
    assert get_image_uri("us-east-1", repository="tei", version="1.8.2") == (
        "683313688378.dkr.ecr.us-east-1.amazonaws.com/tei:2.0.1-tei1.8.2-gpu-py310-cu122-ubuntu22.04"
    )
    assert get_image_uri("us-east-1", repository="tei-cpu", version="1.8.2") == (
        "683313688378.dkr.ecr.us-east-1.amazonaws.com/tei-cpu:2.0.1-tei1.8.2-cpu-py310-ubuntu22.04"
    )


@pytest.mark.parametrize(
    ("instance_type", "flavor"),
    [
        ("ml.g5.xlarge", "gpu"),
        ("ml.g6e.12xlarge", "gpu"),
        ("ml.p4d.24xlarge", "gpu"),
        ("ml_p5", "gpu"),
        ("local_gpu", "gpu"),
        ("local", "cpu"),
        ("ml.c6i.xlarge", "cpu"),
        ("ml.m5.large", "cpu"),
        ("ml.r7i.2xlarge", "cpu"),
    ],
)
def test_flavor_from_instance_type(instance_type: str, flavor: str) -> None:
    assert flavor_for_instance_type(instance_type) == flavor
    tag = GPU_TAG if flavor == "gpu" else CPU_TAG
    assert get_image_uri("eu-west-1", instance_type).endswith(f"/{OURS}:{tag}")


def test_defaults_cpu_without_an_instance_type_and_accepts_an_explicit_flavor() -> None:
    assert get_image_uri("eu-west-1").endswith(f":{CPU_TAG}")
    assert get_image_uri("eu-west-1", flavor="gpu").endswith(f":{GPU_TAG}")
    # A CPU image runs on a GPU instance (it just leaves the GPU idle).
    assert get_image_uri("eu-west-1", "ml.g5.xlarge", flavor="cpu").endswith(f":{CPU_TAG}")


def test_versions_and_aliases() -> None:
    assert get_image_uri("eu-west-1", version="0.1") == get_image_uri("eu-west-1", version="0.1.0")
    assert get_image_uri("eu-west-1", repository="tei", version="1.8").endswith(
        "tei1.8.2-gpu-py310-cu122-ubuntu22.04"
    )
    assert ":2.0.1-tei1.2.3-" in get_image_uri("eu-west-1", repository="tei", version="1.2")
    # The single-flavor repositories need no instance type, like the SDK's helper.
    assert get_image_uri("eu-west-1", repository="tei").endswith(
        "tei1.8.2-gpu-py310-cu122-ubuntu22.04"
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"region": "mars-north-1"},
            r"Unknown region 'mars-north-1'\. Regions with SageMaker and ECR: af-south-1,",
        ),
        ({"region": "eu-west-1", "version": "9.9"}, r"Valid versions: 0\.1\.0, 0\.1\."),
        (
            {"region": "eu-west-1", "repository": "tgi"},
            r"Valid repositories: sagemaker-embeddings, tei, tei-cpu\.",
        ),
        (
            {"region": "eu-west-1", "flavor": "tpu"},
            r"Unknown flavor 'tpu'\. Valid flavors: cpu, gpu",
        ),
        (
            {"region": "eu-west-1", "flavor": "gpu", "instance_type": "ml.c6i.xlarge"},
            r"gpu flavor needs a GPU instance, but 'ml\.c6i\.xlarge' has none",
        ),
        ({"region": "eu-west-1", "flavor": "gpu", "instance_type": "local"}, r"has none"),
        (
            {"region": "eu-west-1", "repository": "tei", "instance_type": "ml.c6i.xlarge"},
            r"'tei' version 1\.8\.2 has no cpu flavor .*Valid flavors: gpu\. "
            r"For cpu, use repository 'tei-cpu'\.",
        ),
        (
            {"region": "eu-west-1", "repository": "tei-cpu", "instance_type": "ml.g5.xlarge"},
            r"has no gpu flavor .*For gpu, use repository 'tei'\.",
        ),
        ({"region": "eu-west-1", "repository": "tei", "flavor": "cpu"}, r"has no cpu flavor"),
        ({"region": "eu-west-1", "instance_type": "g5.xlarge"}, r"Invalid instance type"),
    ],
)
def test_clear_errors_list_the_valid_choices(kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        get_image_uri(**kwargs)


class _BotoSessionLike:
    region_name = "ap-south-2"


class _SageMakerSessionLike:
    boto_session = _BotoSessionLike()


def test_region_from_a_session(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    assert ".ap-south-2." in get_image_uri(session=boto3.session.Session(region_name="ap-south-2"))
    assert ".ap-south-2." in get_image_uri(session=_SageMakerSessionLike())
    assert ".ap-south-2." in get_image_uri(session=_BotoSessionLike())
    # The argument wins over the session.
    assert ".sa-east-1." in get_image_uri("sa-east-1", session=_SageMakerSessionLike())


def test_region_from_the_aws_default_region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "cn-northwest-1")
    assert get_image_uri().startswith(f"{ACCOUNT}.dkr.ecr.cn-northwest-1.amazonaws.com.cn/")


def test_region_from_the_aws_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config"
    config.write_text("[default]\nregion = us-gov-west-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    assert get_image_uri().startswith(f"{ACCOUNT}.dkr.ecr.us-gov-west-1.amazonaws.com/")


def test_no_region_anywhere_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="No region given: pass a region"):
        get_image_uri()
