"""Docker for the tests: an engine, a base image, the CPU image, and containers to talk to.

No registry serves images on our test machines and no engine runs by default, so this
module brings up everything the container tests need, idempotently, and leaves it
running for the next session (and for other engineers' tests):

- :func:`ensure_docker` installs Debian's ``docker.io`` and ``debootstrap`` when
  missing and starts ``dockerd`` in the background when it is not answering.
- :func:`ensure_base_image` creates a stand-in ``debian:bookworm-slim`` with
  debootstrap + ``docker import`` when the engine does not have it; the stand-in
  trusts this machine's TLS certificates (``PIP_CERT``), so pip inside builds works.
- :func:`ensure_wheelhouse` holds the torch CPU wheel (``pip download`` finds it on
  this machine's disk), so builds do not fetch torch from an index.
- :func:`run_container` starts a container with its port published on 127.0.0.1 only
  and always removes it, by id; :func:`wait_for_ping` polls ``/ping`` a bounded time.

Fixtures (import them into a conftest.py or a test module): ``docker_engine``,
``wheelhouse`` and ``cpu_image`` (session-scoped; builds the CPU image from the working
tree through :func:`sagemaker_embeddings.deploy.build.build_image`). With pytest's
``--prebuilt-image`` option (tests/conftest.py), ``cpu_image`` builds nothing and sets up
nothing: it tests the local ``sagemaker-embeddings:<truthful tag>`` that a build step
made before (CodeBuild's build phase, ``sagemaker-embeddings build --flavor cpu``).

Concurrent sessions serialise the set-up and the build with a file lock, so two
engineers running container tests at once share one engine and one image.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from sagemaker_embeddings.deploy.build import (
    TORCH_VERSION,
    build_image,
    default_reference,
    serve_requirements,
)

STATE_DIR = Path(tempfile.gettempdir()) / "sagemaker-embeddings-docker"
PREBUILT_OPTION = "--prebuilt-image"  # registered in tests/conftest.py
BASE_IMAGE = "debian:bookworm-slim"
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
DOCKERD_START_TIMEOUT_S = 60.0
SHORT_TIMEOUT_S = 120.0  # for docker CLI calls other than builds


# --- the engine ---------------------------------------------------------------------


def docker(*args: str, timeout: float = SHORT_TIMEOUT_S, check: bool = True) -> str:
    """Run ``docker ARGS`` and return its stdout; raise with stderr on failure."""
    done = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and done.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)} failed ({done.returncode}): {done.stderr}")
    return done.stdout.strip()


@contextlib.contextmanager
def state_lock(name: str) -> Iterator[None]:
    """An exclusive lock shared by all test sessions on this machine."""
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    with (STATE_DIR / f"{name}.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _engine_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    done = subprocess.run(["docker", "info"], capture_output=True, timeout=30, check=False)
    return done.returncode == 0


def _install_packages() -> None:
    missing = [
        package
        for package, program in (("docker.io", "dockerd"), ("debootstrap", "debootstrap"))
        if shutil.which(program) is None and not Path("/usr/sbin", program).exists()
    ]
    if not missing:
        return
    subprocess.run(["apt-get", "update", "-qq"], check=True, timeout=600)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
        check=True,
        timeout=1200,
    )


def _start_dockerd() -> None:
    log = (STATE_DIR / "dockerd.log").open("ab")
    # A new session: dockerd must outlive pytest and ignore its Ctrl-C.
    subprocess.Popen(
        ["dockerd"],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + DOCKERD_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if _engine_answers():
            return
        time.sleep(0.5)
    raise RuntimeError(
        f"dockerd did not answer within {DOCKERD_START_TIMEOUT_S} s; "
        f"see {STATE_DIR / 'dockerd.log'}"
    )


def ensure_docker() -> None:
    """Install docker.io/debootstrap if missing and start dockerd if it is not answering;
    make room on its disk when builds would run short."""
    if not (_engine_answers() and shutil.which("debootstrap")):
        with state_lock("setup"):
            _install_packages()
            if not _engine_answers():
                _start_dockerd()
    with state_lock("setup"):
        reclaim_disk()


MIN_FREE_GB = 30.0  # a GPU stand-in build needs ~12 GB while its CUDA wheels install
STALE = re.compile(r" (days?|weeks?|months?|years?) ago$")  # sessions long over


def reclaim_disk(min_free_gb: float = MIN_FREE_GB) -> None:
    """Free the engine's disk when it holds less than ``min_free_gb``.

    Every build leaves untagged layers behind, a failed build step its container, and
    each session its content-named test image; over weeks of CI they fill the disk and
    a GPU build fails part-way. Only what no container uses and no session will read
    again goes: stopped containers, dangling images, build cache, and pinned test
    images older than a day.
    """
    root = Path(docker("info", "--format", "{{.DockerRootDir}}"))
    if shutil.disk_usage(root).free / 1e9 >= min_free_gb:
        return
    docker("container", "prune", "--force", timeout=600)
    listed = docker(
        "images", "--filter", "reference=sagemaker-embeddings-test:cpu-*",
        "--format", "{{.Repository}}:{{.Tag}} {{.CreatedSince}}",
    ).splitlines()  # fmt: skip
    # CreatedSince reads "2 days ago", "3 weeks ago": a day or more is stale.
    stale = [line.split()[0] for line in listed if STALE.search(line)]
    if stale:
        docker("rmi", *stale, timeout=600, check=False)  # one a container uses stays
    docker("image", "prune", "--force", timeout=600)
    docker("builder", "prune", "--force", timeout=600, check=False)


def image_exists(reference: str) -> bool:
    done = subprocess.run(
        ["docker", "image", "inspect", reference], capture_output=True, timeout=30, check=False
    )
    return done.returncode == 0


ARM64_BASE_IMAGE = "arm64v8/debian:bookworm-slim"


def ensure_base_image(name: str = BASE_IMAGE, arch: str = "amd64") -> None:
    """Create a stand-in Debian bookworm image with debootstrap + ``docker import`` when the
    engine lacks ``name``; ``arch="arm64"`` makes Graviton's (under QEMU emulation)."""
    if image_exists(name):
        return
    if arch != "amd64":
        ensure_emulation(arch)
    with state_lock("setup"):
        if image_exists(name):
            return
        with tempfile.TemporaryDirectory(prefix="bookworm-", dir=STATE_DIR) as tmp:
            root = Path(tmp) / "root"
            subprocess.run(
                [
                    "debootstrap",
                    f"--arch={arch}",
                    "--variant=minbase",
                    "bookworm",
                    str(root),
                    "http://deb.debian.org/debian",
                ],
                check=True,
                timeout=1800,
                capture_output=True,
            )
            # This machine reaches PyPI through TLS that only its own bundle trusts;
            # ca-certificates (installed by the Dockerfile) picks this file up, and
            # PIP_CERT points pip at the merged bundle. Only the stand-in has this.
            certs = root / "usr/local/share/ca-certificates"
            certs.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(HOST_CA_BUNDLE, certs / "host-bundle.crt")
            # A build FROM scratch rather than `docker import`: an engine without
            # experimental features ignores import's --platform and would label an arm64
            # root file system amd64.
            context = Path(tmp) / "context"
            context.mkdir()
            subprocess.run(["tar", "-C", str(root), "-cf", str(context / "rootfs.tar"), "."],
                           check=True, timeout=600)  # fmt: skip
            (context / "Dockerfile").write_text(
                f'FROM scratch\nADD rootfs.tar /\nENV PIP_CERT={HOST_CA_BUNDLE}\nCMD ["bash"]\n'
            )
            subprocess.run(
                ["docker", "build", "--quiet", "--platform", f"linux/{arch}", "--tag", name,
                 str(context)],
                check=True, timeout=600, capture_output=True,
            )  # fmt: skip


BINFMT = Path("/proc/sys/fs/binfmt_misc")


def ensure_emulation(arch: str = "arm64") -> None:
    """qemu-user-static registered with binfmt_misc (fix-binary mode), so the engine runs
    ``arch`` binaries: Debian's qemu-user-static and binfmt-support packages."""
    qemu = {"arm64": "aarch64"}[arch]
    if (BINFMT / f"qemu-{qemu}").exists():
        return
    with state_lock("setup"):
        if (
            shutil.which("update-binfmts") is None
            or not Path(f"/usr/bin/qemu-{qemu}-static").exists()
        ):
            subprocess.run(["apt-get", "update", "-qq"], check=True, timeout=600)
            subprocess.run(["apt-get", "install", "-y", "-qq", "qemu-user-static",
                            "binfmt-support"], check=True, timeout=1200)  # fmt: skip
        if not (BINFMT / "register").exists():
            subprocess.run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(BINFMT)],
                           check=True, timeout=60)  # fmt: skip
        subprocess.run(["update-binfmts", "--enable", f"qemu-{qemu}"], check=False, timeout=60)
    if not (BINFMT / f"qemu-{qemu}").exists():
        raise RuntimeError(f"qemu-{qemu} is not registered with binfmt_misc")


def ensure_wheelhouse(folder: Path = STATE_DIR / "wheelhouse") -> Path:
    """A folder holding the torch CPU wheel for the image's Python (kept between runs)."""
    with state_lock("wheelhouse"):
        if not any(folder.glob(f"torch-{TORCH_VERSION}*.whl")):
            folder.mkdir(parents=True, exist_ok=True)
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "download",
                    f"torch=={TORCH_VERSION}",
                    "--no-deps",
                    "--only-binary=:all:",
                    "--python-version",
                    "3.11",
                    "--platform",
                    "manylinux_2_28_x86_64",
                    "--dest",
                    str(folder),
                ],
                check=True,
                timeout=1800,
            )
    return folder


def ensure_offline_wheelhouse(
    source_dir: Path, folder: Path = STATE_DIR / "wheelhouse-offline"
) -> Path:
    """Every wheel an air-gapped CPU build needs (``build_image(..., offline=True)``).

    The host runs the image's Python (3.11) on the same glibc as the image's base, so
    a plain ``pip download`` picks compatible wheels. A marker named after the
    requirements' hash makes a change to the ``serve`` extra download again.
    """
    normal, no_deps = serve_requirements(source_dir)
    digest = hashlib.sha256("\n".join([TORCH_VERSION, *normal, *no_deps]).encode()).hexdigest()
    marker = folder / f".complete-{digest[:16]}"
    with state_lock("wheelhouse"):
        if marker.exists():
            return folder
        folder.mkdir(parents=True, exist_ok=True)
        download = [sys.executable, "-m", "pip", "download", "--only-binary=:all:", "--dest",
                    str(folder)]  # fmt: skip
        # torch pinned so the CPU build on this machine's disk is the one chosen; setuptools
        # is what the image's package stage builds our own wheel with.
        subprocess.run(
            [*download, f"torch=={TORCH_VERSION}", "setuptools>=77", *normal],
            check=True, timeout=1800,
        )  # fmt: skip
        subprocess.run([*download, "--no-deps", *no_deps], check=True, timeout=1800)
        marker.touch()
    return folder


def build_cpu_image(wheelhouse: Path) -> str:
    """Build the CPU flavor from this working tree (serialised across sessions).

    Returns a content-named tag, ``sagemaker-embeddings-test:cpu-<image id>``, rather
    than the build's own tag: other sessions rebuild the tree (moving that tag) and
    remove tags they add, which once deleted the image under a running session. A
    tag named after the content never moves, and nothing removes it.
    """
    with state_lock("build"):
        return _pin(build_image("cpu", wheelhouse=wheelhouse))


def prebuilt_cpu_image() -> str:
    """The CPU image a build step made before the tests (``--prebuilt-image``), pinned.

    That is ``sagemaker-embeddings:<truthful tag>`` (what ``sagemaker-embeddings build
    --flavor cpu`` and ``publish``'s build step name it). Nothing is installed, started
    or built: a missing engine or image fails the tests that need it, saying why.
    """
    reference = default_reference("cpu")
    if not _engine_answers():
        pytest.fail(f"{PREBUILT_OPTION}: no Docker engine answers `docker info`", pytrace=False)
    if not image_exists(reference):
        pytest.fail(
            f"{PREBUILT_OPTION}: the engine has no {reference}; build it first "
            "(`sagemaker-embeddings build --flavor cpu`, or `sagemaker-embeddings publish "
            f"--only build` with cpu among its flavors), or leave {PREBUILT_OPTION} out to "
            "build it from the working tree",
            pytrace=False,
        )
    return _pin(reference)


def _pin(reference: str) -> str:
    """A content-named tag of ``reference``'s image: ``sagemaker-embeddings-test:cpu-<id>``."""
    image_id = docker("image", "inspect", "--format", "{{.Id}}", reference)
    pinned = f"sagemaker-embeddings-test:cpu-{image_id.removeprefix('sha256:')[:12]}"
    docker("tag", image_id, pinned)
    return pinned


# --- containers -----------------------------------------------------------------------


@dataclass(frozen=True)
class Container:
    """A started container and the loopback URL of its published port."""

    id: str
    url: str

    def logs(self) -> str:
        done = subprocess.run(
            ["docker", "logs", self.id], capture_output=True, text=True, timeout=60, check=False
        )
        return done.stdout + done.stderr

    def state(self) -> dict[str, object]:
        state: dict[str, object] = json.loads(
            docker("inspect", "--format", "{{json .State}}", self.id)
        )
        return state


@contextlib.contextmanager
def run_container(
    image: str,
    command: Sequence[str] = ("serve",),
    *,
    env: Mapping[str, str] | None = None,
    volumes: Mapping[Path, str] | None = None,
    port: int = 8080,
    docker_args: Sequence[str] = (),
) -> Iterator[Container]:
    """Start ``image`` detached, publish container ``port`` on 127.0.0.1, remove it after.

    ``volumes`` maps host folders to container paths (mounted read-only, the way
    SageMaker presents /opt/ml/model). The host port is chosen by the engine.
    """
    args = ["run", "--detach", "--publish", f"127.0.0.1::{port}"]
    for key, value in (env or {}).items():
        args += ["--env", f"{key}={value}"]
    for host, target in (volumes or {}).items():
        args += ["--volume", f"{host.resolve()}:{target}:ro"]
    container_id = docker(*args, *docker_args, image, *command)
    try:
        published = docker("port", container_id, f"{port}/tcp", check=False).splitlines()
        if not published:  # it exited at once: the port is gone, the logs say why
            raise AssertionError(f"no published port:\n{Container(container_id, '').logs()}")
        host_port = published[0].rsplit(":", 1)[1]
        yield Container(id=container_id, url=f"http://127.0.0.1:{host_port}")
    finally:
        docker("rm", "--force", container_id, check=False)


def http_status(url: str, timeout: float = 2.0) -> int | None:
    """The HTTP status of ``GET url``, or None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            status: int = response.status
            return status
    except urllib.error.HTTPError as error:
        return error.code
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


def wait_for_ping(container: Container, timeout: float = 120.0) -> float:
    """Poll ``/ping`` until 200; return the seconds waited. Fails fast if the container exits."""
    start = time.monotonic()
    deadline = start + timeout
    next_state_check = start
    while time.monotonic() < deadline:
        if http_status(f"{container.url}/ping") == 200:
            return time.monotonic() - start
        if time.monotonic() >= next_state_check:
            if not container.state().get("Running"):
                raise AssertionError(f"container exited before /ping:\n{container.logs()}")
            next_state_check = time.monotonic() + 1.0
        time.sleep(0.1)
    raise AssertionError(f"/ping not 200 within {timeout} s:\n{container.logs()}")


def get_json(url: str, timeout: float = 10.0) -> object:
    """GET ``url`` and return the decoded JSON answer."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


def post_json(url: str, payload: object, timeout: float = 60.0) -> object:
    """POST ``payload`` as JSON and return the decoded JSON answer."""
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


# --- fixtures ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def docker_engine() -> None:
    """A running engine with the stand-in base image."""
    ensure_docker()
    ensure_base_image()


@pytest.fixture(scope="session")
def wheelhouse() -> Path:
    return ensure_wheelhouse()


@pytest.fixture(scope="session")
def cpu_image(request: pytest.FixtureRequest) -> str:
    """The CPU image built from the working tree, or with ``--prebuilt-image`` the one
    a build step made already; its reference (a content-named tag)."""
    if request.config.getoption(PREBUILT_OPTION):
        return prebuilt_cpu_image()
    request.getfixturevalue("docker_engine")
    return build_cpu_image(request.getfixturevalue("wheelhouse"))
