"""buildspec.yml: CodeBuild 0.2 shape, no secrets, every command exists here, the phases
together run exactly the publish command a person would run in one go, and the container
tests run against the image the build step made, before the push step."""

from __future__ import annotations

import argparse
import re
import shlex
import string
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from moto import mock_aws

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib

from sagemaker_embeddings.cli import main
from sagemaker_embeddings.deploy import build
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
# What moto's STS answers for GetCallerIdentity: with REGISTRY empty, the build's own account.
MOTO_ACCOUNT = "123456789012"
OWN_REGISTRY = f"{MOTO_ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com"
REPORTS_DIR = "reports"


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


def _is_pytest(argv: list[str]) -> bool:
    return argv[:3] == ["python", "-m", "pytest"]


def _pytest_options(argv: list[str]) -> argparse.Namespace:
    """The pytest options buildspec.yml may use (anything else fails to parse)."""
    parser = argparse.ArgumentParser(prog="pytest", exit_on_error=False, add_help=False)
    parser.add_argument("-q", action="store_true")
    parser.add_argument("-m", dest="markexpr")
    parser.add_argument("--junitxml")
    parser.add_argument("--prebuilt-image", action="store_true")
    parser.add_argument("paths", nargs="*")
    options, unknown = parser.parse_known_args(argv[3:])
    assert not unknown, f"pytest options this test does not know: {unknown}"
    return options


@pytest.fixture
def own_account(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """CodeBuild's region, no registry override, and moto's STS for the build's account."""
    for name, value in CODEBUILD_PROVIDED.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("SAGEMAKER_EMBEDDINGS_REGISTRY", raising=False)
    with mock_aws():
        yield


def test_codebuild_0_2_layout() -> None:
    assert str(SPEC["version"]) == "0.2"
    assert list(SPEC["phases"]) == list(PHASES)
    for phase in PHASES:
        assert SPEC["phases"][phase]["on-failure"] == "ABORT", phase
        assert SPEC["phases"][phase]["commands"], phase
    assert "python" in SPEC["phases"]["install"]["runtime-versions"]
    assert SPEC["artifacts"]["files"] == ["pushed-images.json"]
    assert set(SPEC) <= {"version", "env", "phases", "reports", "artifacts", "cache"}
    # pip's downloads between builds (Docker's layers: the project's local cache mode).
    assert SPEC["cache"]["paths"] == ["/root/.cache/pip/**/*"]


def test_parameters_are_plain_variables_and_nothing_is_secret() -> None:
    env = SPEC["env"]
    assert set(env) <= {"shell", "variables"}  # no parameter-store, no secrets-manager
    assert set(env["variables"]) == {"FLAVORS", "PUBLISH_REGION", "REPLICATE_TO", "REGISTRY",
                                     "REPOSITORY", "BASE_MIRROR"}  # fmt: skip
    for name, value in env["variables"].items():
        assert not name.startswith("CODEBUILD_"), name
        assert not re.search(r"(?i)secret|password|token|key", name), name
        assert not re.search(r"AKIA[0-9A-Z]{16}|\d{12}", value), (name, value)
    # Empty: the build's own account (STS), so the file names no account at all.
    assert env["variables"]["REGISTRY"] == ""
    # ECR Public's copy of Docker's official images: no Docker Hub login, no pull limit.
    assert env["variables"]["BASE_MIRROR"] == "public.ecr.aws/docker/library"
    text = (REPO_ROOT / "buildspec.yml").read_text()
    assert not re.search(r"(?i)aws_secret_access_key|aws_session_token|--password\b", text)


# The unit tests' torch: the CPU wheel the image's own CPU flavor installs, not CUDA's.
CPU_TORCH = [f"torch=={build.TORCH_VERSION}", "--index-url",
             build.FLAVOR_SPECS["cpu"].torch_index_url]  # fmt: skip


def _check_python(argv: list[str]) -> None:
    if argv[1:4] == ["-m", "pip", "install"]:
        if argv[4:] == CPU_TORCH:
            return
        extras = set(PYPROJECT["project"]["optional-dependencies"])
        for word in argv[4:]:
            if word.startswith("."):
                assert (REPO_ROOT / "pyproject.toml").is_file()
                wanted = re.fullmatch(r"\.\[([a-z,]+)\]", word)
                assert wanted is not None, word
                assert set(wanted[1].split(",")) <= extras, word
            else:
                assert word in {"--upgrade", "pip"}, word
    elif _is_pytest(argv):
        options = _pytest_options(argv)
        assert options.junitxml is not None, "every test run writes a report CodeBuild shows"
        assert Path(options.junitxml).parent == Path(REPORTS_DIR), options.junitxml
        if options.prebuilt_image:
            # The container tests that run the built image, and only those: the rest of
            # tests/container builds images of its own.
            assert options.markexpr is None
            assert options.paths == ["tests/container/test_run_image.py"], options.paths
            assert all((REPO_ROOT / path).is_file() for path in options.paths)
        else:
            assert not options.paths
            registered = {
                m.split(":")[0] for m in PYPROJECT["tool"]["pytest"]["ini_options"]["markers"]
            }
            used = set(re.findall(r"[a-z_]+", options.markexpr)) - {"and", "or", "not"}
            assert used <= registered, used - registered
            # The unit tests leave the image to the build phase.
            assert re.search(r"\bnot container\b", options.markexpr), options.markexpr
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


@pytest.mark.usefixtures("own_account")
def test_each_publish_command_runs_as_written(capsys: pytest.CaptureFixture[str]) -> None:
    for phase in ("pre_build", "build", "post_build"):
        for argv in _publish_calls(phase):
            assert main(["publish", *argv[1:], "--dry-run"]) == 0, (phase, argv)
            out = capsys.readouterr().out
            assert out.strip(), (phase, argv)
            assert OWN_REGISTRY in out, "REGISTRY empty: the build's own account's ECR"


@pytest.mark.usefixtures("own_account")
def test_the_phases_split_one_publish_command_into_its_steps(
    capsys: pytest.CaptureFixture[str],
) -> None:
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
    pushes = [line.split()[1] for line in person if line.startswith("push   ")]
    assert all(uri.startswith(f"{OWN_REGISTRY}/sagemaker-embeddings:") for uri in pushes)


def test_reports_name_the_files_pytest_writes() -> None:
    written = {
        Path(_pytest_options(argv).junitxml) for _phase, argv in _all_commands() if _is_pytest(argv)
    }
    shown = set()
    for name, report in SPEC["reports"].items():
        assert report["file-format"] == "JUNITXML", name
        assert report["base-directory"] == REPORTS_DIR, name
        shown |= {Path(REPORTS_DIR, file) for file in report["files"]}
    assert shown == written
    assert set(SPEC["reports"]) == {"unit-tests", "container-tests"}


@pytest.mark.usefixtures("own_account")
def test_container_tests_run_the_built_image_before_the_push(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """In the build phase, after the build step and before the push (post_build): the
    image they find (``--prebuilt-image``: build.default_reference("cpu")) is the one
    the build step made, and cpu is among the flavors by default."""
    build_phase = _commands("build")
    steps = [
        "publish" if argv[:2] == ["sagemaker-embeddings", "publish"] else "container-tests"
        for argv in build_phase
        if argv[:2] == ["sagemaker-embeddings", "publish"] or "--prebuilt-image" in argv
    ]
    assert steps == ["publish", "container-tests"]
    assert all("--prebuilt-image" not in argv for p in PHASES if p != "build"
               for argv in _commands(p))  # fmt: skip
    assert all(_parse(["publish", *c[1:]]).only == ["push"] for c in _publish_calls("post_build"))

    (call,) = _publish_calls("build")
    assert "cpu" in _parse(["publish", *call[1:]]).flavor
    assert main(["publish", *call[1:], "--dry-run"]) == 0
    built = capsys.readouterr().out
    assert f"build  cpu flavor from container/ as {build.default_reference('cpu')} " in built


def test_prebuilt_image_is_a_pytest_option_and_selects_only_image_runs() -> None:
    """The container-test command collects as written (the option exists, the paths do),
    and only tests that take the built image; nothing runs, no engine is needed."""
    (argv,) = [a for a in _commands("build") if _is_pytest(a)]
    options = _pytest_options(argv)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "--prebuilt-image",
         "-p", "no:cacheprovider", *options.paths],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    collected = [line for line in done.stdout.splitlines() if "::" in line]
    assert collected
    assert all(line.startswith("tests/container/test_run_image.py::") for line in collected)
