"""Where our images are: registry= > account= > $SAGEMAKER_EMBEDDINGS_REGISTRY > the caller's
own account from STS (moto's STS answers 123456789012), and the one-line error when none
of them can say, fast."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from sagemaker_embeddings.cli import main
from sagemaker_embeddings.deploy import get_image_uri
from sagemaker_embeddings.deploy.errors import RegistryUnknown

OURS = "sagemaker-embeddings"
GPU_TAG = "0.1.0-gpu-py312-cu128-ubuntu24.04"
CPU_TAG = "0.1.0-cpu-py311-torch2.13.0-debian12"
STS_ACCOUNT = "123456789012"  # what moto's STS answers
ERROR_BUDGET_S = 3.0


@pytest.fixture
def sts() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.mark.usefixtures("sts")
def test_the_default_account_comes_from_sts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    assert get_image_uri(instance_type="ml.g5.xlarge") == (
        f"{STS_ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/{OURS}:{GPU_TAG}"
    )
    for region in ("ap-southeast-5", "mx-central-1"):
        assert get_image_uri(region, "ml.c7i.xlarge") == (
            f"{STS_ACCOUNT}.dkr.ecr.{region}.amazonaws.com/{OURS}:{CPU_TAG}"
        )
    assert get_image_uri("cn-north-1").startswith(
        f"{STS_ACCOUNT}.dkr.ecr.cn-north-1.amazonaws.com.cn/"
    )
    assert get_image_uri("eusc-de-east-1").startswith(
        f"{STS_ACCOUNT}.dkr.ecr.eusc-de-east-1.amazonaws.eu/"
    )


@pytest.mark.usefixtures("sts")
def test_precedence_registry_account_environment_sts(monkeypatch: pytest.MonkeyPatch) -> None:
    def host(**kwargs: str) -> str:
        return get_image_uri("eu-west-1", **kwargs).rsplit("/", 1)[0]  # type: ignore[arg-type]

    assert host() == f"{STS_ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com"
    monkeypatch.setenv("SAGEMAKER_EMBEDDINGS_REGISTRY", "222233334444")
    assert host() == "222233334444.dkr.ecr.eu-west-1.amazonaws.com"
    monkeypatch.setenv(
        "SAGEMAKER_EMBEDDINGS_REGISTRY", "{account}.dkr.ecr.{region}.{dns_suffix}/ml"
    )
    assert host() == f"{STS_ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/ml"  # the template, STS
    assert host(account="111122223333") == "111122223333.dkr.ecr.eu-west-1.amazonaws.com"
    assert host(registry="127.0.0.1:5000/{region}", account="111122223333") == (
        "127.0.0.1:5000/eu-west-1"
    )
    assert host(
        registry="{account}.dkr.ecr.{region}.{dns_suffix}/team", account="111122223333"
    ) == ("111122223333.dkr.ecr.eu-west-1.amazonaws.com/team")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"account": "1234"}, "account '1234' is not a 12-digit AWS account ID"),
        ({"registry": "{acount}.example"}, "bad placeholder 'acount'"),
        ({"registry": "/path"}, "is not a host"),
    ],
)
def test_bad_account_or_registry_is_a_value_error(kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        get_image_uri("eu-west-1", **kwargs)  # type: ignore[arg-type]


def _count_sts_calls(session: Any) -> list[str]:
    calls: list[str] = []
    session.events.register(
        "before-call.sts.GetCallerIdentity", lambda **_: calls.append("GetCallerIdentity")
    )
    return calls


@pytest.mark.usefixtures("sts")
def test_sts_is_asked_through_the_given_session_once() -> None:
    from sagemaker.session import Session

    boto_session = boto3.session.Session(region_name="ap-southeast-5")
    calls = _count_sts_calls(boto_session)
    sagemaker_session = Session(boto_session=boto_session)
    for _ in range(3):
        assert get_image_uri(session=sagemaker_session).startswith(
            f"{STS_ACCOUNT}.dkr.ecr.ap-southeast-5.amazonaws.com/"
        )
    assert get_image_uri(session=boto_session).startswith(f"{STS_ACCOUNT}.")
    assert calls == ["GetCallerIdentity"]


def _one_line_error_fast(capsys: pytest.CaptureFixture[str]) -> str:
    started = time.monotonic()
    with pytest.raises(RegistryUnknown) as raised:
        get_image_uri("eu-west-1")
    assert time.monotonic() - started < ERROR_BUDGET_S
    message = str(raised.value)
    assert "\n" not in message
    assert "account=" in message
    assert "registry=" in message
    started = time.monotonic()
    assert main(["image-uri", "--region", "eu-west-1"]) == 1
    assert time.monotonic() - started < ERROR_BUDGET_S
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert captured.err.startswith("image-uri: error: Cannot tell your AWS account")
    return message


def test_no_credentials_is_one_line_in_under_3_s(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    assert "Unable to locate credentials" in _one_line_error_fast(capsys)


@pytest.fixture
def silent_endpoint() -> Iterator[str]:
    """A loopback port that accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


def test_an_unanswering_sts_endpoint_is_one_line_in_under_3_s(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], silent_endpoint: str
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", silent_endpoint)
    assert "Read timeout" in _one_line_error_fast(capsys)


def test_an_unreachable_sts_endpoint_is_one_line_in_under_3_s(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", f"http://127.0.0.1:{port}")
    assert "Could not connect" in _one_line_error_fast(capsys)
