"""``sagemaker-embeddings image-uri | regions | build | publish``: the console script's surface."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sagemaker_embeddings.cli import main
from tests.deploy.test_catalog import SEED

CLI = Path(sys.executable).parent / "sagemaker-embeddings"


def test_image_uri_prints_the_uri(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["image-uri", "--region", "eu-west-1", "--instance-type", "ml.g5.xlarge"]) == 0
    assert capsys.readouterr().out == (
        "141502667606.dkr.ecr.eu-west-1.amazonaws.com/"
        "sagemaker-embeddings:0.1.0-gpu-py312-cu128-ubuntu24.04\n"
    )


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


def test_regions_lists_all_35(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["regions"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert {name: account for name, account, _ in rows} == SEED
    assert [
        "cn-north-1",
        "450853457545",
        "450853457545.dkr.ecr.cn-north-1.amazonaws.com.cn",
    ] in rows


def test_build_subcommand_is_wired(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["build", "--help"])
    assert exited.value.code == 0
    assert "--flavor {cpu,gpu}" in capsys.readouterr().out


def test_the_installed_console_script(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(CLI), "image-uri", "--region", "ca-west-1", "--instance-type", "local"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert done.stdout.startswith(
        "190319476487.dkr.ecr.ca-west-1.amazonaws.com/sagemaker-embeddings:"
    )
    assert "-cpu-" in done.stdout
