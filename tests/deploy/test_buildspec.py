"""buildspec.yml: CodeBuild 0.2 shape, no secrets, every command exists here, and the phases
together run exactly the publish command a person would run in one go."""

from __future__ import annotations

import argparse
import re
import shlex
import string
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib

from sagemaker_embeddings.cli import main
from sagemaker_embeddings.deploy.cli import register
from sagemaker_embeddings.deploy.publish import STEPS
from tests.deploy.test_catalog import REPO_ROOT

SPEC: dict[str, Any] = yaml.safe_load((REPO_ROOT / "buildspec.yml").read_text())
PYPROJECT: dict[str, Any] = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
PHASES = ("install", "pre_build", "build", "post_build")
# What CodeBuild itself puts in the environment (the ones our commands may use).
CODEBUILD_PROVIDED = {"AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1"}
ENV = {**CODEBUILD_PROVIDED, **SPEC["env"]["variables"]}
# Once the test settles the phase's step, these are the only options allowed to differ.
PER_PHASE_OPTIONS = ("only", "report", "dry_run")


def _commands(phase: str) -> list[list[str]]:
    """The phase's commands, split like a shell and with the variables expanded."""
    commands = []
    for line in SPEC["phases"][phase]["commands"]:
        assert not re.search(r"[|;&`<>]|\$\(", line), f"keep commands simple: {line}"
        commands.append([string.Template(word).substitute(ENV) for word in shlex.split(line)])
    return commands


def _all_commands() -> Iterator[tuple[str, list[str]]]:
    for phase in PHASES:
        for argv in _commands(phase):
            yield phase, argv


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="sagemaker-embeddings", exit_on_error=False)
    register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def _publish_calls(phase: str) -> list[list[str]]:
    return [a[1:] for a in _commands(phase) if a[:2] == ["sagemaker-embeddings", "publish"]]


def test_codebuild_0_2_layout() -> None:
    assert str(SPEC["version"]) == "0.2"
    assert list(SPEC["phases"]) == list(PHASES)
    for phase in PHASES:
        assert SPEC["phases"][phase]["on-failure"] == "ABORT", phase
        assert SPEC["phases"][phase]["commands"], phase
    assert "python" in SPEC["phases"]["install"]["runtime-versions"]
    assert SPEC["artifacts"]["files"] == ["pushed-images.json"]


def test_parameters_are_plain_variables_and_nothing_is_secret() -> None:
    env = SPEC["env"]
    assert set(env) <= {"shell", "variables"}  # no parameter-store, no secrets-manager
    assert set(env["variables"]) == {"FLAVORS", "PUBLISH_REGION", "REPLICATE_TO", "REGISTRY",
                                     "REPOSITORY"}  # fmt: skip
    for name, value in env["variables"].items():
        assert not name.startswith("CODEBUILD_"), name
        assert not re.search(r"(?i)secret|password|token|key", name), name
        assert not re.search(r"AKIA[0-9A-Z]{16}|\d{12}", value), (name, value)
    text = (REPO_ROOT / "buildspec.yml").read_text()
    assert not re.search(r"(?i)aws_secret_access_key|aws_session_token|--password\b", text)


def _check_python(argv: list[str]) -> None:
    if argv[1:4] == ["-m", "pip", "install"]:
        extras = set(PYPROJECT["project"]["optional-dependencies"])
        for word in argv[4:]:
            if word.startswith("."):
                assert (REPO_ROOT / "pyproject.toml").is_file()
                wanted = re.fullmatch(r"\.\[([a-z,]+)\]", word)
                assert wanted is not None, word
                assert set(wanted[1].split(",")) <= extras, word
            else:
                assert word in {"--upgrade", "pip"}, word
    elif argv[1:3] == ["-m", "pytest"]:
        registered = {
            m.split(":")[0] for m in PYPROJECT["tool"]["pytest"]["ini_options"]["markers"]
        }
        expression = argv[argv.index("-m", 3) + 1]
        used = set(re.findall(r"[a-z_]+", expression)) - {"and", "or", "not"}
        assert used <= registered, used - registered
        assert "container" in used  # CodeBuild's test run leaves the image to the build phase
    else:
        pytest.fail(f"unexpected python command {argv}")


def test_every_command_exists_in_this_repository(capsys: pytest.CaptureFixture[str]) -> None:
    scripts = PYPROJECT["project"]["scripts"]
    reports: list[str] = []
    for _phase, argv in _all_commands():
        program = argv[0]
        if program == "python":
            _check_python(argv)
        elif program == "sagemaker-embeddings":
            assert scripts[program] == "sagemaker_embeddings.cli:main"
            args = _parse(argv[1:])  # every option exists and takes its value
            if args.command == "publish" and args.report is not None:
                reports.append(str(args.report))
        elif program == "cat":
            assert argv[1:] == reports, "cat shows the report the push step wrote"
        else:
            pytest.fail(f"{program} is neither ours nor an allowed system tool")


def test_each_publish_command_runs_as_written(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in CODEBUILD_PROVIDED.items():
        monkeypatch.setenv(name, value)
    for phase in ("pre_build", "build", "post_build"):
        for argv in _publish_calls(phase):
            assert main(["publish", *argv[1:], "--dry-run"]) == 0, (phase, argv)
            assert capsys.readouterr().out.strip(), (phase, argv)


def test_the_phases_split_one_publish_command_into_its_steps(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in CODEBUILD_PROVIDED.items():
        monkeypatch.setenv(name, value)
    calls = {phase: _publish_calls(phase) for phase in ("pre_build", "build", "post_build")}
    assert [len(c) for c in calls.values()] == [1, 1, 1]
    parsed = {phase: _parse(["publish", *c[0][1:]]) for phase, c in calls.items()}
    assert [parsed[p].only for p in ("pre_build", "build", "post_build")] == [[s] for s in STEPS]
    common = {
        phase: {k: v for k, v in vars(args).items() if k not in PER_PHASE_OPTIONS}
        for phase, args in parsed.items()
    }
    assert common["pre_build"] == common["build"] == common["post_build"]
    assert parsed["post_build"].report is not None

    # A person's one-shot command: the common options, every step at once.
    one_shot = [a for a in calls["build"][0][1:] if a not in ("--only", "build")]
    assert main(["publish", *one_shot, "--dry-run"]) == 0
    person = capsys.readouterr().out.splitlines()
    phases: list[str] = []
    for phase in ("pre_build", "build", "post_build"):
        assert main(["publish", *calls[phase][0][1:], "--dry-run"]) == 0
        phases += capsys.readouterr().out.splitlines()
    assert phases == person  # the same actions in the same order
    assert any(line.startswith("push   ") for line in person)
    assert any(line.startswith("build  gpu") for line in person)  # both flavors by default
    assert any(line.startswith("build  cpu") for line in person)
