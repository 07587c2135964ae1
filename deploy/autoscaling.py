"""Autoscaling for a SageMaker endpoint variant: Application Auto Scaling, target tracking.

An endpoint outgrows one instance through SageMaker's own scaling: the variant's
instance count is registered as a scalable target, and a target-tracking policy on the
predefined metric ``SageMakerVariantInvocationsPerInstance`` (invocations per instance
per minute) adds instances when traffic per instance rises above the target and removes
them when it falls. :func:`invocations_target` turns a measured throughput per instance
into that target, following AWS's recipe: ``max requests/s * 60 * safety factor``.

boto3 (the ``deploy`` extra) is imported only when no client is passed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SERVICE_NAMESPACE = "sagemaker"
SCALABLE_DIMENSION = "sagemaker:variant:DesiredInstanceCount"
METRIC = "SageMakerVariantInvocationsPerInstance"
DEFAULT_SAFETY_FACTOR = 0.5


@dataclass(frozen=True)
class Autoscaling:
    """What :func:`enable_autoscaling` registered."""

    resource_id: str
    policy_name: str
    policy_arn: str
    min_capacity: int
    max_capacity: int
    target_invocations_per_instance: float


def resource_id(endpoint_name: str, variant_name: str = "AllTraffic") -> str:
    """Application Auto Scaling's id of an endpoint variant."""
    return f"endpoint/{endpoint_name}/variant/{variant_name}"


def invocations_target(
    max_requests_per_second: float, safety_factor: float = DEFAULT_SAFETY_FACTOR
) -> float:
    """The per-instance invocations-per-minute target for a measured throughput.

    ``max_requests_per_second`` is what one instance sustains within your latency goal
    (the benchmark's throughput per instance, for your payloads); the safety factor
    leaves headroom for the minutes a scale-out takes.
    """
    if max_requests_per_second <= 0:
        raise ValueError(f"max_requests_per_second must be > 0, not {max_requests_per_second}")
    if not 0 < safety_factor <= 1:
        raise ValueError(f"safety_factor must be in (0, 1], not {safety_factor}")
    return round(max_requests_per_second * 60 * safety_factor, 2)


def _client(client: Any | None, region: str | None) -> Any:
    if client is not None:
        return client
    import boto3

    return boto3.client("application-autoscaling", region_name=region)


def _check(min_capacity: int, max_capacity: int, target: float) -> None:
    if min_capacity < 0 or max_capacity < 1 or min_capacity > max_capacity:
        raise ValueError(
            f"need 0 <= min_capacity <= max_capacity and max_capacity >= 1, "
            f"not min_capacity={min_capacity}, max_capacity={max_capacity}"
        )
    if target <= 0:
        raise ValueError(f"target_invocations_per_instance must be > 0, not {target}")


def enable_autoscaling(
    endpoint_name: str,
    variant_name: str = "AllTraffic",
    *,
    min_capacity: int,
    max_capacity: int,
    target_invocations_per_instance: float,
    scale_in_cooldown_s: int = 300,
    scale_out_cooldown_s: int = 60,
    disable_scale_in: bool = False,
    policy_name: str | None = None,
    client: Any | None = None,
    region: str | None = None,
) -> Autoscaling:
    """Register the variant with Application Auto Scaling and attach a target-tracking policy.

    Calling it again updates both (the two API calls are idempotent upserts).
    ``client`` is an ``application-autoscaling`` boto3 client; without one, a client is
    made for ``region`` (else the AWS default region).
    """
    _check(min_capacity, max_capacity, target_invocations_per_instance)
    aas = _client(client, region)
    resource = resource_id(endpoint_name, variant_name)
    name = policy_name or f"{endpoint_name}-{variant_name}-invocations-per-instance"
    aas.register_scalable_target(
        ServiceNamespace=SERVICE_NAMESPACE,
        ResourceId=resource,
        ScalableDimension=SCALABLE_DIMENSION,
        MinCapacity=min_capacity,
        MaxCapacity=max_capacity,
    )
    answer = aas.put_scaling_policy(
        PolicyName=name,
        ServiceNamespace=SERVICE_NAMESPACE,
        ResourceId=resource,
        ScalableDimension=SCALABLE_DIMENSION,
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": float(target_invocations_per_instance),
            "PredefinedMetricSpecification": {"PredefinedMetricType": METRIC},
            "ScaleInCooldown": scale_in_cooldown_s,
            "ScaleOutCooldown": scale_out_cooldown_s,
            "DisableScaleIn": disable_scale_in,
        },
    )
    return Autoscaling(
        resource_id=resource,
        policy_name=name,
        policy_arn=str(answer["PolicyARN"]),
        min_capacity=min_capacity,
        max_capacity=max_capacity,
        target_invocations_per_instance=float(target_invocations_per_instance),
    )


def disable_autoscaling(
    endpoint_name: str,
    variant_name: str = "AllTraffic",
    *,
    client: Any | None = None,
    region: str | None = None,
) -> None:
    """Delete the variant's scaling policies and deregister it (do this before deleting
    the endpoint; a deleted endpoint's target otherwise lingers)."""
    aas = _client(client, region)
    resource = resource_id(endpoint_name, variant_name)
    policies = aas.describe_scaling_policies(
        ServiceNamespace=SERVICE_NAMESPACE,
        ResourceId=resource,
        ScalableDimension=SCALABLE_DIMENSION,
    )["ScalingPolicies"]
    for policy in policies:
        aas.delete_scaling_policy(
            PolicyName=policy["PolicyName"],
            ServiceNamespace=SERVICE_NAMESPACE,
            ResourceId=resource,
            ScalableDimension=SCALABLE_DIMENSION,
        )
    aas.deregister_scalable_target(
        ServiceNamespace=SERVICE_NAMESPACE,
        ResourceId=resource,
        ScalableDimension=SCALABLE_DIMENSION,
    )


__all__ = [
    "METRIC",
    "Autoscaling",
    "disable_autoscaling",
    "enable_autoscaling",
    "invocations_target",
    "resource_id",
]
