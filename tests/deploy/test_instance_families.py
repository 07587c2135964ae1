"""Instance type → image: by family (CPU architecture, accelerator), checked against the
instance types botocore's SageMaker model lists for endpoints and batch transform."""

from __future__ import annotations

import botocore.session
import pytest

from sagemaker_embeddings.deploy import get_image_uri
from sagemaker_embeddings.deploy.instance_families import (
    FAMILIES,
    family_of,
    flavor_for_instance_type,
)

ACCOUNT = "111122223333"


def _botocore_families() -> set[str]:
    model = botocore.session.get_session().get_service_model("sagemaker")
    types = {
        *model.shape_for("ProductionVariantInstanceType").enum,
        *model.shape_for("TransformInstanceType").enum,
    }
    return {t.split(".")[1] for t in types}


def test_every_family_sagemaker_lists_is_in_the_table() -> None:
    missing = _botocore_families() - set(FAMILIES)
    assert missing == set(), "add these families to deploy/instance_families.py"


def test_the_table_agrees_with_the_naming_rules() -> None:
    """The rules used for families newer than the table agree with the table, except where
    the table knows better (GB200's arm64 host, Gaudi)."""
    for name, family in FAMILIES.items():
        if name in ("p6e-gb200", "dl1"):
            continue
        if family.accelerator == "neuron":
            assert name.startswith(("inf", "trn")), name
        elif family.accelerator == "nvidia":
            assert name[0] in "gp", name
        else:
            assert family.arch == ("arm64" if "g" in name[2:] else "x86_64"), name
        assert family_of(f"ml.{name}.xlarge")[1] == family


@pytest.mark.parametrize(
    ("instance_type", "flavor"),
    [
        ("ml.g4dn.xlarge", "gpu"),
        ("ml.g5.xlarge", "gpu"),
        ("ml.g6e.12xlarge", "gpu"),
        ("ml.g7e.2xlarge", "gpu"),
        ("ml.p4d.24xlarge", "gpu"),
        ("ml.p5.48xlarge", "gpu"),
        ("ml.p6-b200.48xlarge", "gpu"),
        ("ml_p5", "gpu"),
        ("ml.g9.xlarge", "gpu"),  # a family newer than the table: by its letter
        ("ml.c7i.xlarge", "cpu"),
        ("ml.m5.large", "cpu"),
        ("ml.r7i.2xlarge", "cpu"),
        ("ml.c9i.xlarge", "cpu"),
        ("ml.c7g.xlarge", "cpu-arm64"),  # Graviton
        ("ml.m8g.large", "cpu-arm64"),
        ("ml.r7gd.xlarge", "cpu-arm64"),
        ("ml.c9g.xlarge", "cpu-arm64"),  # a Graviton family newer than the table: by its name
        ("local", "cpu"),
        ("local_gpu", "gpu"),
    ],
)
def test_flavor_by_family(instance_type: str, flavor: str) -> None:
    assert flavor_for_instance_type(instance_type) == flavor


@pytest.mark.parametrize(
    ("instance_type", "message"),
    [
        ("ml.inf2.xlarge", "AWS Neuron accelerators"),
        ("ml.trn1.2xlarge", "AWS Neuron accelerators"),
        ("ml.inf3.xlarge", "AWS Neuron accelerators"),  # by its name
        ("ml.p6e-gb200.36xlarge", r"GB200 GPUs on arm64 \(Grace\) hosts"),
        ("ml.p3.2xlarge", r"V100 GPUs \(compute capability 7\.0\).*7\.5 \(T4\) and newer"),
        ("ml.p2.xlarge", r"K80 GPUs \(compute capability 3\.7\)"),
        ("ml.dl1.24xlarge", "Habana Gaudi"),
        ("g5.xlarge", "Invalid instance type"),
    ],
)
def test_instances_no_image_runs_on_are_refused(instance_type: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        flavor_for_instance_type(instance_type)
    with pytest.raises(ValueError, match=message):
        get_image_uri("eu-west-1", instance_type, account=ACCOUNT)
    with pytest.raises(ValueError, match=message):  # an explicit flavor does not help
        get_image_uri("eu-west-1", instance_type, flavor="cpu", account=ACCOUNT)


@pytest.mark.parametrize(
    ("instance_type", "flavor", "message"),
    [
        (
            "ml.c7g.xlarge",
            "cpu",
            r"The cpu flavor does not run on 'ml\.c7g\.xlarge', which needs 'cpu-arm64'",
        ),
        ("ml.c7i.xlarge", "cpu-arm64", r"needs 'cpu' \(x86_64\)"),
        ("ml.g5.xlarge", "cpu-arm64", r"needs 'gpu'"),
        ("ml.c7g.xlarge", "gpu", r"The gpu flavor needs a GPU instance.*flavor='cpu-arm64'"),
    ],
)
def test_a_flavor_for_another_architecture_is_refused(
    instance_type: str, flavor: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        get_image_uri("eu-west-1", instance_type, flavor=flavor, account=ACCOUNT)


def test_graviton_gets_the_arm64_image() -> None:
    assert get_image_uri("eu-west-1", "ml.c7g.xlarge", account=ACCOUNT) == (
        f"{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-embeddings:"
        "0.1.0-cpu-arm64-py311-torch2.13.0-debian12"
    )
    # The CPU image still runs on a GPU instance (it leaves the GPU idle).
    assert ":0.1.0-cpu-py311-" in get_image_uri("eu-west-1", "ml.g5.xlarge", flavor="cpu",
                                                account=ACCOUNT)  # fmt: skip
