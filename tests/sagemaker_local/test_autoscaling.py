"""deploy/autoscaling.py against moto's Application Auto Scaling (no Docker, no AWS)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from sagemaker_embeddings.deploy.autoscaling import (
    METRIC,
    disable_autoscaling,
    enable_autoscaling,
    invocations_target,
)
from tests.sagemaker_local.conftest import REGION

pytest.importorskip("moto")
RESOURCE = "endpoint/embeddings/variant/AllTraffic"


@pytest.fixture
def aas(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """An application-autoscaling client served by moto."""
    import boto3
    from moto import mock_aws

    monkeypatch.delenv("AWS_ENDPOINT_URL")  # moto answers for AWS's own URLs only
    with mock_aws():
        yield boto3.client("application-autoscaling", region_name=REGION)


def test_enable_registers_target_and_policy(aas: Any) -> None:
    done = enable_autoscaling(
        "embeddings", min_capacity=1, max_capacity=4, target_invocations_per_instance=3600
    )
    assert done.resource_id == RESOURCE
    (target,) = aas.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
    assert target["ResourceId"] == RESOURCE
    assert target["ScalableDimension"] == "sagemaker:variant:DesiredInstanceCount"
    assert (target["MinCapacity"], target["MaxCapacity"]) == (1, 4)
    (policy,) = aas.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"]
    assert policy["PolicyARN"] == done.policy_arn
    assert policy["PolicyType"] == "TargetTrackingScaling"
    config = policy["TargetTrackingScalingPolicyConfiguration"]
    assert config["TargetValue"] == 3600.0
    assert config["PredefinedMetricSpecification"]["PredefinedMetricType"] == METRIC
    assert (config["ScaleInCooldown"], config["ScaleOutCooldown"]) == (300, 60)


def test_enable_again_updates(aas: Any) -> None:
    for maximum, target in ((2, 1000.0), (8, 1500.0)):
        enable_autoscaling(
            "embeddings",
            min_capacity=1,
            max_capacity=maximum,
            target_invocations_per_instance=target,
            client=aas,
        )
    (scalable,) = aas.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
    assert scalable["MaxCapacity"] == 8
    (policy,) = aas.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"]
    assert policy["TargetTrackingScalingPolicyConfiguration"]["TargetValue"] == 1500.0


def test_disable_removes_both(aas: Any) -> None:
    enable_autoscaling(
        "embeddings", min_capacity=1, max_capacity=2, target_invocations_per_instance=10
    )
    disable_autoscaling("embeddings", client=aas)
    assert aas.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"] == []
    assert aas.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"] == []


@pytest.mark.parametrize(
    ("minimum", "maximum", "target"), [(2, 1, 10.0), (-1, 1, 10.0), (0, 0, 10.0), (1, 2, 0.0)]
)
def test_bad_arguments(minimum: int, maximum: int, target: float) -> None:
    with pytest.raises(ValueError, match=r"must be|need"):
        enable_autoscaling(
            "e", min_capacity=minimum, max_capacity=maximum, target_invocations_per_instance=target
        )


def test_invocations_target() -> None:
    assert invocations_target(120) == 3600.0  # 120 req/s x 60 s x 0.5
    assert invocations_target(10, safety_factor=0.8) == 480.0
    with pytest.raises(ValueError, match="must be"):
        invocations_target(0)
    with pytest.raises(ValueError, match="safety_factor"):
        invocations_target(10, safety_factor=1.5)
