"""Structural: the deploy package is light, its public names are as intended, and it ships
regions.json inside a built wheel."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import sagemaker_embeddings.deploy as deploy
from tests.deploy.test_catalog import REPO_ROOT

# What must never be imported on the client side: the ML stack, the web stack, our
# serving code, and boto3 (an optional extra, imported only by the calls that need it).
FORBIDDEN = (
    "torch",
    "transformers",
    "tokenizers",
    "numpy",
    "fastapi",
    "uvicorn",
    "pydantic",
    "boto3",
    "botocore",
    "sagemaker",
    "sagemaker_embeddings.server",
    "sagemaker_embeddings.engine",
    "sagemaker_embeddings.http",
    "sagemaker_embeddings.models",
    "sagemaker_embeddings.settings",
)

BLOCKER = f"""
import importlib.abc, sys
FORBIDDEN = {FORBIDDEN!r}

class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if any(name == f or name.startswith(f + ".") for f in FORBIDDEN):
            raise ImportError(f"blocked import of {{name}}")
        return None

sys.meta_path.insert(0, Blocker())
"""


def _run(code: str, *, env: dict[str, str] | None = None, flags: tuple[str, ...] = ()) -> str:
    done = subprocess.run(
        [sys.executable, *flags, "-c", BLOCKER + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PATH": "/usr/bin:/bin", **(env or {})},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_public_names() -> None:
    assert sorted(deploy.__all__) == [
        "Catalog",
        "DeployError",
        "Flavor",
        "Region",
        "RegistryUnknown",
        "Repository",
        "get_image_uri",
        "load_catalog",
    ]
    for name in deploy.__all__:
        assert hasattr(deploy, name), name


def test_deploy_and_its_cli_work_without_torch_boto3_or_the_server() -> None:
    out = _run(
        """
        from sagemaker_embeddings.deploy import get_image_uri
        from sagemaker_embeddings.deploy.errors import RegistryUnknown
        print(get_image_uri("eu-west-1", "ml.g5.xlarge", account="111122223333"))
        print(get_image_uri(account="111122223333"))  # the region from AWS_DEFAULT_REGION
        print(get_image_uri("ap-southeast-5", registry="127.0.0.1:5000"))
        try:
            get_image_uri()  # no account: STS needs boto3
        except RegistryUnknown as error:
            print(error)
        from sagemaker_embeddings.cli import main
        for argv in (["image-uri", "--region", "cn-north-1", "--repository", "tei-cpu"],
                     ["regions"],
                     ["publish", "--dry-run", "--region", "us-west-2", "--flavor", "cpu",
                      "--account", "111122223333"]):
            assert main(argv) == 0, argv
        """,
        env={"AWS_DEFAULT_REGION": "eu-west-2"},
    )
    lines = out.splitlines()
    assert lines[0].startswith("111122223333.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-embeddings:")
    assert lines[1].startswith("111122223333.dkr.ecr.eu-west-2.amazonaws.com/")
    assert lines[2].startswith("127.0.0.1:5000/sagemaker-embeddings:")
    assert "AWS calls need boto3: pip install 'sagemaker-embeddings[deploy]'" in lines[3]
    assert "account=" in lines[3]
    assert lines[4].startswith("450853457545.dkr.ecr.cn-north-1.amazonaws.com.cn/tei-cpu:")
    assert any(line.startswith("push   111122223333.dkr.ecr.us-west-2.") for line in lines)


def test_the_blocker_does_block() -> None:
    """The test above can fail: importing a forbidden module under the blocker raises."""
    done = subprocess.run(
        [sys.executable, "-c", BLOCKER + "import sagemaker_embeddings.engine"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    assert "blocked import of sagemaker_embeddings.engine" in done.stderr


DEPLOY_PREFIX = "sagemaker_embeddings/deploy/"


def _build_wheel(source: Path, dist: Path) -> Path:
    """Build a wheel of ``source`` (a copy of the tree, so the checkout stays clean)."""
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(dist), str(source)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    (wheel,) = dist.glob("sagemaker_embeddings-*.whl")
    return wheel


def _copy_tree(tmp_path: Path) -> Path:
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "setup.py", "regions.json"):
        shutil.copy2(REPO_ROOT / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for name in ("src", "deploy"):
        shutil.copytree(REPO_ROOT / name, source / name, ignore=ignore)
    (source / "README.md").write_text("")
    return source


def test_the_repository_holds_no_symlinks() -> None:
    # Mode 120000 is git's symlink; a link breaks on Windows checkouts, in sdists and in
    # build contexts, which is why deploy/ is mapped into the package by setup.py instead.
    listed = subprocess.run(
        ["git", "ls-files", "-s"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert listed.strip()
    assert [line for line in listed.splitlines() if line.startswith("120000 ")] == []


def test_a_built_wheel_ships_regions_json_and_works_with_the_standard_library_only(
    tmp_path: Path,
) -> None:
    wheel = _build_wheel(_copy_tree(tmp_path), tmp_path / "dist")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        shipped = archive.read("sagemaker_embeddings/deploy/regions.json")
        archive.extractall(tmp_path / "site")
    assert shipped == (REPO_ROOT / "regions.json").read_bytes()
    shipped_deploy = {n.rpartition("/")[2] for n in names if n.startswith(DEPLOY_PREFIX)}
    modules = {p.name for p in (REPO_ROOT / "deploy").glob("*.py")}
    assert shipped_deploy == {*modules, "regions.json"}
    # -S: no site-packages at all, so only the standard library and the wheel's files.
    out = _run(
        f"""
        import sys
        sys.path.insert(0, {str(tmp_path / "site")!r})
        import sagemaker_embeddings.deploy as deploy
        assert deploy.__file__.startswith({str(tmp_path / "site")!r}), deploy.__file__
        print(deploy.get_image_uri("us-isob-east-1", repository="tei"))
        """,
        flags=("-S",),
    )
    assert out.strip() == (
        "281123927165.dkr.ecr.us-isob-east-1.sc2s.sgov.gov/tei:2.0.1-tei1.8.2-gpu-py310-cu122-ubuntu22.04"
    )


def test_the_wheel_the_image_builds_leaves_the_deploy_package_out(tmp_path: Path) -> None:
    from sagemaker_embeddings.deploy import build

    context = tmp_path / "context"
    context.mkdir()
    build.stage_context(REPO_ROOT, context, wheelhouse=None, model_dir=None)
    wheel = _build_wheel(context, tmp_path / "dist")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    assert "sagemaker_embeddings/cli.py" in names
    assert [n for n in names if "deploy" in n.split("/") or n.endswith("regions.json")] == []
