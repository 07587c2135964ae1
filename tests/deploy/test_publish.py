"""``publish`` without Docker: the plan ``--dry-run`` prints, argument errors, and the ECR
calls (token, repositories) against moto's ECR mock."""

from __future__ import annotations

import base64

import boto3
import pytest
from moto import mock_aws

from sagemaker_embeddings.cli import main
from sagemaker_embeddings.deploy import build
from sagemaker_embeddings.deploy.registry import (
    ecr_credentials,
    ensure_ecr_repository,
    is_ecr_host,
)

CPU_TAG = build.image_tag("cpu")
GPU_TAG = build.image_tag("gpu")
US = "683313688378.dkr.ecr.us-east-1.amazonaws.com"
CN = "450853457545.dkr.ecr.cn-north-1.amazonaws.com.cn"


def _dry_run(capsys: pytest.CaptureFixture[str], *argv: str) -> list[str]:
    assert main(["publish", "--dry-run", *argv]) == 0
    return capsys.readouterr().out.splitlines()


def test_dry_run_prints_every_action_in_order(capsys: pytest.CaptureFixture[str]) -> None:
    lines = _dry_run(capsys, "--region", "us-east-1", "--replicate-to", "cn-north-1",
                     "--create-repository")  # fmt: skip
    assert lines == [
        "ensure ECR repository sagemaker-embeddings in us-east-1",
        f"login  {US} (ECR GetAuthorizationToken in us-east-1)",
        "ensure ECR repository sagemaker-embeddings in cn-north-1",
        f"login  {CN} (ECR GetAuthorizationToken in cn-north-1)",
        f"build  cpu flavor from container/ as sagemaker-embeddings:{CPU_TAG}",
        f"tag    sagemaker-embeddings:{CPU_TAG} -> {US}/sagemaker-embeddings:{CPU_TAG}",
        f"tag    sagemaker-embeddings:{CPU_TAG} -> {CN}/sagemaker-embeddings:{CPU_TAG}",
        f"build  gpu flavor from container/ as sagemaker-embeddings:{GPU_TAG}",
        f"tag    sagemaker-embeddings:{GPU_TAG} -> {US}/sagemaker-embeddings:{GPU_TAG}",
        f"tag    sagemaker-embeddings:{GPU_TAG} -> {CN}/sagemaker-embeddings:{GPU_TAG}",
        # nothing is pushed before every flavor has built
        f"push   {US}/sagemaker-embeddings:{CPU_TAG}",
        f"push   {CN}/sagemaker-embeddings:{CPU_TAG}",
        f"push   {US}/sagemaker-embeddings:{GPU_TAG}",
        f"push   {CN}/sagemaker-embeddings:{GPU_TAG}",
    ]


def test_the_pushed_uri_is_what_get_image_uri_answers(capsys: pytest.CaptureFixture[str]) -> None:
    from sagemaker_embeddings.deploy import get_image_uri

    lines = _dry_run(capsys, "--region", "eu-south-2", "--only", "push")
    assert lines == [
        f"push   {get_image_uri('eu-south-2', flavor='cpu')}",
        f"push   {get_image_uri('eu-south-2', flavor='gpu')}",
    ]


def test_steps_flavors_and_region_lists(capsys: pytest.CaptureFixture[str]) -> None:
    lines = _dry_run(capsys, "--region", "us-east-1", "--flavor", "gpu", "--only", "push",
                     "--replicate-to", "eu-west-1,,ap-south-1",
                     "--replicate-to", "us-east-1")  # fmt: skip
    assert [line.split(".")[3] for line in lines] == ["us-east-1", "eu-west-1", "ap-south-1"]
    assert all(line.endswith(GPU_TAG) for line in lines)


def test_region_defaults_to_the_aws_default_region(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "sa-east-1")
    lines = _dry_run(capsys, "--region", "", "--flavor", "cpu", "--only", "login")
    assert lines == [
        "login  737474898029.dkr.ecr.sa-east-1.amazonaws.com"
        " (ECR GetAuthorizationToken in sa-east-1)"
    ]


def test_registry_template_and_login_policy(capsys: pytest.CaptureFixture[str]) -> None:
    base = ["--region", "us-east-1", "--flavor", "cpu", "--tag", "t1", "--image", "local:1"]
    lines = _dry_run(capsys, *base, "--registry", "127.0.0.1:5000/{region}")
    assert lines == [
        "tag    local:1 -> 127.0.0.1:5000/us-east-1/sagemaker-embeddings:t1",
        "push   127.0.0.1:5000/us-east-1/sagemaker-embeddings:t1",
    ]
    lines = _dry_run(capsys, *base, "--registry", "127.0.0.1:5000", "--login", "always",
                     "--only", "login")  # fmt: skip
    assert lines == ["login  127.0.0.1:5000 (ECR GetAuthorizationToken in us-east-1)"]
    own = "111122223333.dkr.ecr.{region}.{dns_suffix}/team"
    lines = _dry_run(capsys, *base, "--registry", own, "--create-repository", "--only", "login")
    assert lines == [
        "ensure ECR repository team/sagemaker-embeddings in us-east-1",
        "login  111122223333.dkr.ecr.us-east-1.amazonaws.com"
        " (ECR GetAuthorizationToken in us-east-1)",
    ]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--image", "x:1"], "give exactly one --flavor"),
        (["--tag", "t"], "give exactly one --flavor"),
        (
            ["--flavor", "cpu", "--region", "us-east-1", "--replicate-to", "eu-west-9"],
            "Unknown region 'eu-west-9'",
        ),
        (["--flavor", "cpu", "--region", ""], "No region given"),
        (
            ["--flavor", "cpu", "--region", "us-east-1", "--registry", "{acount}.example"],
            "bad placeholder 'acount'; use {account}, {region} and {dns_suffix}",
        ),
    ],
)
def test_plan_errors(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["publish", "--dry-run", *argv]) == 1
    captured = capsys.readouterr()
    assert message in captured.err
    assert captured.out == ""


def test_flavor_choices_are_checked_by_the_parser(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["publish", "--dry-run", "--flavor", "cpu,tpu"])
    assert exited.value.code == 2
    assert "unknown flavor tpu" in capsys.readouterr().err


def test_ecr_hosts() -> None:
    assert is_ecr_host(US)
    assert is_ecr_host(CN)
    assert not is_ecr_host("127.0.0.1:5000")
    assert not is_ecr_host("public.ecr.aws")


@mock_aws
def test_ecr_credentials_come_from_get_authorization_token() -> None:
    username, password = ecr_credentials("eu-west-1")
    token = boto3.client("ecr", region_name="eu-west-1").get_authorization_token()
    decoded = base64.b64decode(token["authorizationData"][0]["authorizationToken"]).decode()
    assert (username, password) == tuple(decoded.split(":", 1))
    assert username == "AWS"
    assert password


@mock_aws
def test_publish_login_step_creates_missing_repositories_in_every_region(
    capsys: pytest.CaptureFixture[str],
) -> None:
    registry = "123456789012.dkr.ecr.{region}.{dns_suffix}/ml"
    argv = ["publish", "--only", "login", "--login", "never", "--create-repository",
            "--registry", registry, "--region", "eu-west-1", "--replicate-to", "us-west-2",
            "--flavor", "cpu"]  # fmt: skip
    assert main(argv) == 0
    assert capsys.readouterr().out.splitlines() == [
        "created ECR repository ml/sagemaker-embeddings in eu-west-1",
        "created ECR repository ml/sagemaker-embeddings in us-west-2",
    ]
    for region in ("eu-west-1", "us-west-2"):
        described = boto3.client("ecr", region_name=region).describe_repositories()
        assert [r["repositoryName"] for r in described["repositories"]] == [
            "ml/sagemaker-embeddings"
        ]
    assert main(argv) == 0  # a second run finds them
    assert "found ECR repository ml/sagemaker-embeddings in us-west-2" in capsys.readouterr().out
    assert ensure_ecr_repository("us-west-2", "ml/sagemaker-embeddings") is False
