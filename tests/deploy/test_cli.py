"""``sagemaker-embeddings image-uri | regions | build | publish``: the console script's surface."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sagemaker_embeddings.cli import main
from tests.deploy.test_catalog import NEWER_REGIONS, SEED

CLI = Path(sys.executable).parent / "sagemaker-embeddings"


def test_image_uri_prints_the_uri(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["image-uri", "--region", "eu-west-1", "--instance-type", "ml.g5.xlarge"]
    assert main([*argv, "--account", "111122223333"]) == 0
    assert capsys.readouterr().out == (
        "111122223333.dkr.ecr.eu-west-1.amazonaws.com/"
        "sagemaker-embeddings:0.1.0-gpu-py312-cu128-ubuntu24.04\n"
    )
    assert main([*argv, "--registry", "127.0.0.1:5000/{region}"]) == 0
    assert capsys.readouterr().out == (
        "127.0.0.1:5000/eu-west-1/sagemaker-embeddings:0.1.0-gpu-py312-cu128-ubuntu24.04\n"
    )


@pytest.mark.parametrize(
    ("argv", "status", "message"),
    [
        (["--region", "mars-north-1", "--account", "111122223333"], 2, "Unknown region"),
        (["--region", "eu-west-1", "--account", "12"], 2, "not a 12-digit AWS account ID"),
        (["--region", "eu-west-1", "--flavor", "tpu"], 2, "invalid choice: 'tpu'"),
        (["--region", "eu-west-1", "--bogus"], 2, "unrecognized arguments: --bogus"),
        (["--region", "eu-west-1", "--registry", "127.0.0.1:9", "--pin"], 1, "127.0.0.1:9"),
    ],
)
def test_image_uri_exit_codes(
    argv: list[str], status: int, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """2 for usage errors, 1 for failures (here: a registry that does not answer)."""
    try:
        code: object = main(["image-uri", *argv])
    except SystemExit as exited:  # argparse's own usage errors
        code = exited.code
    assert code == status
    captured = capsys.readouterr()
    assert captured.out == ""
    assert message in captured.err


def test_image_uri_for_the_tei_dlc(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["image-uri", "--region", "us-gov-east-1", "--repository", "tei", "--version", "1.6"]
    assert main(argv) == 0
    assert capsys.readouterr().out == (
        "237065988967.dkr.ecr.us-gov-east-1.amazonaws.com/"
        "tei:2.0.1-tei1.6.0-gpu-py310-cu122-ubuntu22.04\n"
    )


def test_image_uri_errors_go_to_stderr_with_the_choices(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["image-uri", "--region", "eu-west-1", "--instance-type", "ml.c5.xlarge",
                 "--flavor", "gpu"]) == 2  # fmt: skip
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "gpu flavor needs a GPU instance" in captured.err


def test_regions_lists_own_account_regions_and_the_dlc(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["regions"]) == 0
    header, *rows = (line.split() for line in capsys.readouterr().out.splitlines())
    assert header == ["REGION", "PARTITION", "OWN-ACCOUNT", "REGISTRY", "TEI-DLC"]
    by_name = {row[0]: row for row in rows}
    assert {name: row[3] for name, row in by_name.items() if row[3] != "-"} == SEED
    assert set(NEWER_REGIONS) <= {name for name, row in by_name.items() if row[3] == "-"}
    assert by_name["cn-north-1"] == [
        "cn-north-1", "aws-cn", "{account}.dkr.ecr.cn-north-1.amazonaws.com.cn", "450853457545"
    ]  # fmt: skip
    assert by_name["eusc-de-east-1"][1:] == [
        "aws-eusc", "{account}.dkr.ecr.eusc-de-east-1.amazonaws.eu", "-"
    ]  # fmt: skip


@pytest.mark.parametrize("command", [[], ["image-uri"], ["regions"], ["build"], ["publish"]])
def test_help_has_examples_and_no_restructuredtext(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main([*command, "--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    assert "``" not in text
    assert ":func:" not in text
    if command != ["regions"]:
        examples = text[text.index("\nexamples:\n") :]
        assert "\n  sagemaker-embeddings " in examples


def test_build_subcommand_is_wired(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["build", "--help"])
    assert exited.value.code == 0
    assert "--flavor {cpu,gpu,cpu-arm64}" in capsys.readouterr().out


def test_the_installed_console_script(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            str(CLI),
            "image-uri",
            "--region",
            "ca-west-1",
            "--instance-type",
            "local",
            "--account",
            "190319476487",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert done.stdout.startswith(
        "190319476487.dkr.ecr.ca-west-1.amazonaws.com/sagemaker-embeddings:"
    )
    assert "-cpu-" in done.stdout
