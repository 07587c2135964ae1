"""``publish`` without Docker: the plan ``--dry-run`` prints (it pushes what get_image_uri
names), argument errors, and the ECR calls (on the target's account, repositories with
scan-on-push, the read-back check) against moto's STS and ECR."""

from __future__ import annotations

import argparse
import base64
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from sagemaker_embeddings.cli import main
from sagemaker_embeddings.deploy import build, get_image_uri
from sagemaker_embeddings.deploy.errors import PublishError
from sagemaker_embeddings.deploy.publish import add_arguments, execute, make_plan
from sagemaker_embeddings.deploy.pushed_check import check_pushed
from sagemaker_embeddings.deploy.registry import (
    Docker,
    LocalImage,
    ecr_credentials,
    ensure_ecr_repository,
    is_ecr_host,
)
from sagemaker_embeddings.deploy.remote import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    EcrRegistry,
    parse_ecr_host,
)
from tests.deploy.test_catalog import REPO_ROOT

CPU_TAG = build.image_tag("cpu")
GPU_TAG = build.image_tag("gpu")
CPU_RELEASE = build.release_tag(CPU_TAG, build.source_revision(REPO_ROOT))
GPU_RELEASE = build.release_tag(GPU_TAG, build.source_revision(REPO_ROOT))
ACCOUNT = "123456789012"  # moto's STS
US = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com"
EU = f"{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com"
OTHER = "111122223333"


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


def _dry_run(capsys: pytest.CaptureFixture[str], *argv: str) -> list[str]:
    assert main(["publish", "--dry-run", *argv]) == 0
    return capsys.readouterr().out.splitlines()


def test_release_tags() -> None:
    sha = "0123456789abcdef0123456789abcdef01234567"
    assert build.release_tag("1.0-cpu", sha) == "1.0-cpu-0123456789ab"
    assert build.release_tag("1.0-cpu", f"{sha}-dirty") == "1.0-cpu-0123456789ab-dirty"
    assert build.release_tag("1.0-cpu", "unknown") is None
    assert build.is_release_tag("1.0-cpu-0123456789ab", "1.0-cpu")
    assert build.is_release_tag("1.0-cpu-0123456789ab-dirty", "1.0-cpu")
    assert not build.is_release_tag("1.0-cpu-0123456789ab", "1.0-gpu")
    assert not build.is_release_tag("1.0-cpu-latest", "1.0-cpu")
    assert CPU_RELEASE is not None  # the tests run from a git checkout


@pytest.mark.usefixtures("aws")
def test_dry_run_prints_every_action_in_order(capsys: pytest.CaptureFixture[str]) -> None:
    lines = _dry_run(capsys, "--region", "us-east-1", "--replicate-to", "eu-west-1",
                     "--create-repository")  # fmt: skip
    local_cpu, local_gpu = f"sagemaker-embeddings:{CPU_TAG}", f"sagemaker-embeddings:{GPU_TAG}"
    assert lines == [
        f"ensure ECR repository sagemaker-embeddings in {US}",
        f"login  {US} (ECR GetAuthorizationToken in us-east-1)",
        f"ensure ECR repository sagemaker-embeddings in {EU}",
        f"login  {EU} (ECR GetAuthorizationToken in eu-west-1)",
        f"build  cpu flavor from container/ as {local_cpu} (linux/amd64)",
        f"tag    {local_cpu} -> {US}/sagemaker-embeddings:{CPU_TAG}",
        f"tag    {local_cpu} -> {US}/sagemaker-embeddings:{CPU_RELEASE}",
        f"tag    {local_cpu} -> {EU}/sagemaker-embeddings:{CPU_TAG}",
        f"tag    {local_cpu} -> {EU}/sagemaker-embeddings:{CPU_RELEASE}",
        f"build  gpu flavor from container/ as {local_gpu} (linux/amd64)",
        f"tag    {local_gpu} -> {US}/sagemaker-embeddings:{GPU_TAG}",
        f"tag    {local_gpu} -> {US}/sagemaker-embeddings:{GPU_RELEASE}",
        f"tag    {local_gpu} -> {EU}/sagemaker-embeddings:{GPU_TAG}",
        f"tag    {local_gpu} -> {EU}/sagemaker-embeddings:{GPU_RELEASE}",
        # nothing is pushed before every flavor has built
        f"push   {US}/sagemaker-embeddings:{CPU_TAG}",
        f"push   {US}/sagemaker-embeddings:{CPU_RELEASE}",
        f"check  {US}/sagemaker-embeddings:{CPU_TAG} (linux/amd64, Docker v2)",
        f"push   {EU}/sagemaker-embeddings:{CPU_TAG}",
        f"push   {EU}/sagemaker-embeddings:{CPU_RELEASE}",
        f"check  {EU}/sagemaker-embeddings:{CPU_TAG} (linux/amd64, Docker v2)",
        f"push   {US}/sagemaker-embeddings:{GPU_TAG}",
        f"push   {US}/sagemaker-embeddings:{GPU_RELEASE}",
        f"check  {US}/sagemaker-embeddings:{GPU_TAG} (linux/amd64, Docker v2)",
        f"push   {EU}/sagemaker-embeddings:{GPU_TAG}",
        f"push   {EU}/sagemaker-embeddings:{GPU_RELEASE}",
        f"check  {EU}/sagemaker-embeddings:{GPU_TAG} (linux/amd64, Docker v2)",
    ]


@pytest.mark.usefixtures("aws")
def test_publish_pushes_exactly_what_get_image_uri_returns(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 18's "done when": STS says 123456789012, the region is eu-west-1."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    expected = {
        get_image_uri(instance_type="ml.g5.xlarge"),
        get_image_uri(instance_type="ml.c7i.xlarge"),
    }
    assert expected == {
        f"{EU}/sagemaker-embeddings:{GPU_TAG}",
        f"{EU}/sagemaker-embeddings:{CPU_TAG}",
    }
    pushed = [line.split()[1] for line in _dry_run(capsys, "--only", "push")
              if line.startswith("push ")]  # fmt: skip
    assert expected <= set(pushed)
    assert set(pushed) - expected == {
        f"{EU}/sagemaker-embeddings:{CPU_RELEASE}",
        f"{EU}/sagemaker-embeddings:{GPU_RELEASE}",
    }


@pytest.mark.usefixtures("aws")
def test_new_regions_and_other_partitions(capsys: pytest.CaptureFixture[str]) -> None:
    lines = _dry_run(capsys, "--region", "ap-southeast-5", "--replicate-to", "mx-central-1",
                     "--flavor", "cpu", "--only", "login")  # fmt: skip
    assert lines == [
        f"login  {ACCOUNT}.dkr.ecr.ap-southeast-5.amazonaws.com"
        " (ECR GetAuthorizationToken in ap-southeast-5)",
        f"login  {ACCOUNT}.dkr.ecr.mx-central-1.amazonaws.com"
        " (ECR GetAuthorizationToken in mx-central-1)",
    ]
    lines = _dry_run(capsys, "--region", "cn-north-1", "--replicate-to", "cn-northwest-1",
                     "--flavor", "cpu", "--only", "login")  # fmt: skip
    assert [line.split()[1] for line in lines] == [
        f"{ACCOUNT}.dkr.ecr.cn-north-1.amazonaws.com.cn",
        f"{ACCOUNT}.dkr.ecr.cn-northwest-1.amazonaws.com.cn",
    ]


def test_steps_flavors_and_region_lists(capsys: pytest.CaptureFixture[str]) -> None:
    lines = _dry_run(capsys, "--region", "us-east-1", "--flavor", "gpu", "--only", "push",
                     "--replicate-to", "eu-west-1,,ap-south-1", "--account", OTHER,
                     "--replicate-to", "us-east-1")  # fmt: skip
    pushes = [line for line in lines if line.startswith("push ")]
    assert [line.split(".")[3] for line in pushes][::2] == ["us-east-1", "eu-west-1", "ap-south-1"]
    assert all(line.split()[1].startswith(f"{OTHER}.dkr.ecr.") for line in pushes)
    assert all(GPU_TAG in line for line in pushes)


def test_region_defaults_to_the_aws_default_region(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "sa-east-1")
    monkeypatch.setenv("SAGEMAKER_EMBEDDINGS_REGISTRY", OTHER)
    lines = _dry_run(capsys, "--region", "", "--flavor", "cpu", "--only", "login")
    assert lines == [
        f"login  {OTHER}.dkr.ecr.sa-east-1.amazonaws.com (ECR GetAuthorizationToken in sa-east-1)"
    ]


def test_registry_template_and_login_policy(capsys: pytest.CaptureFixture[str]) -> None:
    base = ["--region", "us-east-1", "--flavor", "cpu", "--tag", "t1", "--image", "local:1"]
    release = build.release_tag("t1", build.source_revision(REPO_ROOT))
    lines = _dry_run(capsys, *base, "--registry", "127.0.0.1:5000/{region}")
    assert lines == [
        "tag    local:1 -> 127.0.0.1:5000/us-east-1/sagemaker-embeddings:t1",
        f"tag    local:1 -> 127.0.0.1:5000/us-east-1/sagemaker-embeddings:{release}",
        "push   127.0.0.1:5000/us-east-1/sagemaker-embeddings:t1",
        f"push   127.0.0.1:5000/us-east-1/sagemaker-embeddings:{release}",
        "check  127.0.0.1:5000/us-east-1/sagemaker-embeddings:t1 (linux/amd64, Docker v2)",
    ]
    lines = _dry_run(capsys, *base, "--registry", "127.0.0.1:5000", "--login", "always",
                     "--only", "login")  # fmt: skip
    assert lines == ["login  127.0.0.1:5000 (ECR GetAuthorizationToken in us-east-1)"]
    own = "{account}.dkr.ecr.{region}.{dns_suffix}/team"
    lines = _dry_run(capsys, *base, "--registry", own, "--account", OTHER, "--create-repository",
                     "--only", "login")  # fmt: skip
    host = f"{OTHER}.dkr.ecr.us-east-1.amazonaws.com"
    assert lines == [
        f"ensure ECR repository team/sagemaker-embeddings in {host}",
        f"login  {host} (ECR GetAuthorizationToken in us-east-1)",
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
        (["--flavor", "cpu", "--region", "us-east-1", "--account", "1"], "12-digit"),
        (
            [
                "--region",
                "us-east-1",
                "--replicate-to",
                "cn-north-1,us-gov-west-1",
                "--account",
                OTHER,
            ],
            "span the partitions aws, aws-cn, aws-us-gov: an AWS account belongs to one",
        ),
    ],
)
def test_usage_errors_exit_2_before_anything_runs(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Not a dry run: a usage error must stop the command before any build or AWS call.
    assert main(["publish", *argv]) == 2
    captured = capsys.readouterr()
    assert message in captured.err
    assert captured.err.count("\n") == 1
    assert captured.out == ""


def test_no_account_anywhere_is_one_line_and_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    # Dummy credentials and no network: STS cannot answer.
    assert main(["publish", "--region", "eu-west-1", "--flavor", "cpu", "--dry-run"]) == 1
    captured = capsys.readouterr()
    assert captured.err.startswith("publish: error: Cannot tell your AWS account")
    assert captured.err.count("\n") == 1
    assert captured.out == ""


def test_flavor_choices_are_checked_by_the_parser(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["publish", "--dry-run", "--flavor", "cpu,tpu"])
    assert exited.value.code == 2
    assert "unknown flavor tpu" in capsys.readouterr().err


def test_ecr_hosts() -> None:
    assert is_ecr_host(US)
    assert is_ecr_host("450853457545.dkr.ecr.cn-north-1.amazonaws.com.cn")
    assert not is_ecr_host("127.0.0.1:5000")
    assert not is_ecr_host("public.ecr.aws")


def _recording_session() -> tuple[Any, list[tuple[str, dict[str, Any]]]]:
    """A boto3 session whose ECR calls are recorded with their parameters (moto accepts
    registryId and ignores it, so the calls are what shows which account they were for)."""
    session = boto3.session.Session()
    calls: list[tuple[str, dict[str, Any]]] = []

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        calls.append((model.name, dict(params)))

    session.events.register("provide-client-params.ecr", record)
    return session, calls


@pytest.mark.usefixtures("aws")
def test_ecr_credentials_come_from_get_authorization_token_of_the_target_account() -> None:
    session, calls = _recording_session()
    host = f"{OTHER}.dkr.ecr.eu-west-1.amazonaws.com"
    username, password = ecr_credentials(host, session)
    token = boto3.client("ecr", region_name="eu-west-1").get_authorization_token(
        registryIds=[OTHER]
    )
    decoded = base64.b64decode(token["authorizationData"][0]["authorizationToken"]).decode()
    assert (username, password) == tuple(decoded.split(":", 1))
    assert (username, password) == ("AWS", f"{OTHER}-auth-token")  # moto's token names it
    assert calls == [("GetAuthorizationToken", {"registryIds": [OTHER]})]


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(list(argv))


@pytest.mark.usefixtures("aws")
def test_the_login_step_creates_repositories_on_the_target_account_with_scan_on_push(
    capsys: pytest.CaptureFixture[str],
) -> None:
    session, calls = _recording_session()
    template = "{account}.dkr.ecr.{region}.{dns_suffix}/ml"
    args = _args("--only", "login", "--login", "never", "--create-repository", "--account",
                 OTHER, "--registry", template, "--region", "eu-west-1",
                 "--replicate-to", "us-west-2", "--flavor", "cpu")  # fmt: skip
    said: list[str] = []
    execute(make_plan(args, session), Docker(), [], said.append, session)
    hosts = [f"{OTHER}.dkr.ecr.{r}.amazonaws.com" for r in ("eu-west-1", "us-west-2")]
    assert said == [f"created ECR repository ml/sagemaker-embeddings in {h}" for h in hosts]
    create = {"registryId": OTHER, "repositoryName": "ml/sagemaker-embeddings",
              "imageScanningConfiguration": {"scanOnPush": True}}  # fmt: skip
    describe = {"registryId": OTHER, "repositoryNames": ["ml/sagemaker-embeddings"]}
    assert calls == [("DescribeRepositories", describe), ("CreateRepository", create)] * 2
    for region in ("eu-west-1", "us-west-2"):
        (repo,) = boto3.client("ecr", region_name=region).describe_repositories()["repositories"]
        assert repo["repositoryName"] == "ml/sagemaker-embeddings"
        assert repo["imageScanningConfiguration"] == {"scanOnPush": True}
    said.clear()
    execute(make_plan(args, session), Docker(), [], said.append, session)  # found this time
    assert said == [f"found ECR repository ml/sagemaker-embeddings in {h}" for h in hosts]
    assert ensure_ecr_repository(hosts[1], "ml/sagemaker-embeddings", session) is False


def _manifest(media_type: str, config: str) -> str:
    if media_type in (DOCKER_LIST, OCI_INDEX):
        return json.dumps({"schemaVersion": 2, "mediaType": media_type, "manifests": []})
    return json.dumps({
        "schemaVersion": 2, "mediaType": media_type,
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                   "digest": config, "size": 1},
        "layers": [],
    })  # fmt: skip


CONFIG = "sha256:" + "c" * 64
LOCAL = LocalImage(id=CONFIG, platform="linux/amd64", revision=None)


@pytest.mark.usefixtures("aws")
@pytest.mark.parametrize(
    ("media_type", "message"),
    [
        (DOCKER_MANIFEST, None),
        (OCI_MANIFEST, "is an OCI manifest; SageMaker needs one Docker v2 schema 2 manifest"),
        (OCI_INDEX, "is an OCI image index"),
        (DOCKER_LIST, r"is an image index \(a Docker manifest list\)"),
    ],
)
def test_the_read_back_check_on_ecr(media_type: str, message: str | None) -> None:
    client = boto3.client("ecr", region_name="eu-west-1")
    client.create_repository(repositoryName="sagemaker-embeddings")
    client.put_image(repositoryName="sagemaker-embeddings", imageTag="v1",
                     imageManifest=_manifest(media_type, CONFIG),
                     imageManifestMediaType=media_type)  # fmt: skip
    host = parse_ecr_host(EU)
    assert host is not None
    held = EcrRegistry(host).lookup("sagemaker-embeddings", "v1")
    assert held is not None
    assert held.media_type == media_type
    uri = f"{EU}/sagemaker-embeddings:v1"
    if message is None:
        check_pushed(uri, held, LOCAL, None, "linux/amd64")
        with pytest.raises(
            PublishError, match="is linux/arm64; the instances it is for run linux/amd64"
        ):
            check_pushed(uri, held, LOCAL, "linux/arm64", "linux/amd64")
        with pytest.raises(PublishError, match="something else pushed to this tag"):
            check_pushed(
                uri,
                held,
                LocalImage("sha256:" + "d" * 64, "linux/amd64", None),
                None,
                "linux/amd64",
            )
    else:
        with pytest.raises(PublishError, match=message):
            check_pushed(uri, held, LOCAL, None, "linux/amd64")
    assert EcrRegistry(host).lookup("sagemaker-embeddings", "v2") is None
    assert EcrRegistry(host).lookup("no-such-repository", "v1") is None


@pytest.mark.usefixtures("aws")
def test_pin_names_the_release_tag_of_the_same_image(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    client = boto3.client("ecr", region_name="eu-west-1")
    client.create_repository(repositoryName="sagemaker-embeddings")
    with pytest.raises(Exception, match="does not exist: publish it first"):
        get_image_uri(flavor="cpu", pin=True)
    manifest = _manifest(DOCKER_MANIFEST, CONFIG)
    for tag in (CPU_TAG, f"{CPU_TAG}-0123456789ab-dirty", f"{CPU_TAG}-0123456789ab", "latest"):
        client.put_image(repositoryName="sagemaker-embeddings", imageTag=tag,
                         imageManifest=manifest)  # fmt: skip
    # Another image's release tag must not be picked.
    client.put_image(repositoryName="sagemaker-embeddings", imageTag=f"{CPU_TAG}-ffffffffffff",
                     imageManifest=_manifest(DOCKER_MANIFEST, "sha256:" + "e" * 64))  # fmt: skip
    assert get_image_uri(flavor="cpu", pin=True) == (
        f"{EU}/sagemaker-embeddings:{CPU_TAG}-0123456789ab"
    )
    assert get_image_uri(flavor="cpu") == f"{EU}/sagemaker-embeddings:{CPU_TAG}"


def test_base_mirror_takes_docker_official_images_only() -> None:
    mirror = "public.ecr.aws/docker/library"
    assert build.mirrored("debian:bookworm-slim", mirror) == f"{mirror}/debian:bookworm-slim"
    assert build.mirrored("nvidia/cuda:12.8.1-base-ubuntu24.04", mirror) == (
        "nvidia/cuda:12.8.1-base-ubuntu24.04"
    )
    assert build.mirrored("debian:bookworm-slim", None) == "debian:bookworm-slim"
    spec = build.flavor_of("cpu")
    args = build.build_args(spec, REPO_ROOT, wheelhouse=None, offline=False, base_mirror=mirror)
    assert args["BASE_IMAGE"] == args["BUILDER_IMAGE"] == f"{mirror}/debian:bookworm-slim"
