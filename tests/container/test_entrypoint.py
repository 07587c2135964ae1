"""container/entrypoint.sh: the CUDA forward-compatibility decision for a faked older and
newer driver, and that it hands over to ``serve`` with exec.

The script runs here with the same /bin/sh and coreutils as in the image; its driver file
and compat folder are pointed at fakes, and ``serve`` on PATH is a stand-in that reports
what it was started with. Needs no Docker, so it runs in the fast suite.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ENTRYPOINT = Path(__file__).resolve().parents[2] / "container" / "entrypoint.sh"
COMPAT_DRIVER = "580.65.06"


def _driver_file(folder: Path, version: str | None) -> Path:
    path = folder / "version"
    if version is not None:
        path.write_text(
            f"NVRM version: NVIDIA UNIX x86_64 Kernel Module  {version}  Tue Oct  8 2024\n"
            "GCC version:  gcc version 7.3.1 20180712 (Red Hat 7.3.1-17) (GCC)\n"
        )
    return path


def _compat_dir(folder: Path, with_libraries: bool) -> Path:
    compat = folder / "compat"
    compat.mkdir()
    if with_libraries:
        (compat / f"libcuda.so.{COMPAT_DRIVER}").write_bytes(b"")
        (compat / "libcuda.so.1").symlink_to(f"libcuda.so.{COMPAT_DRIVER}")
    return compat


def _run(tmp_path: Path, driver: str | None, compat: bool, flavor: str = "gpu") -> tuple[str, str]:
    """(what the stand-in serve printed, the entrypoint's stderr)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    serve = bin_dir / "serve"
    # $$ is the stand-in's pid: with exec it is the entrypoint's own pid.
    serve.write_text('#!/bin/sh\necho "pid=$$ args=$* ld=${LD_LIBRARY_PATH:-}"\n')
    serve.chmod(0o755)
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "IMAGE_FLAVOR": flavor,
        "NVIDIA_DRIVER_VERSION_FILE": str(_driver_file(tmp_path, driver)),
        "CUDA_COMPAT_DIR": str(_compat_dir(tmp_path, compat)),
        "LD_LIBRARY_PATH": "/opt/venv/lib",
    }
    process = subprocess.Popen(
        [str(ENTRYPOINT), "serve", "--port", "8080"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert out.startswith(f"pid={process.pid} args=serve --port 8080 "), out  # exec'd
    return out.strip(), err.strip()


@pytest.mark.parametrize(
    ("driver", "compat", "uses_compat", "says"),
    [
        ("550.127.05", True, True, "forward-compatibility libraries first"),
        ("535.54.03", True, True, "forward-compatibility libraries first"),
        (COMPAT_DRIVER, True, False, "host libcuda (driver not older"),
        ("590.44.01", True, False, "host libcuda (driver not older"),
        ("580.126.09", True, False, "host libcuda (driver not older"),  # 126 > 65, not text
        ("550.127.05", False, False, "this image has no forward-compatibility libraries"),
        (None, True, False, "no NVIDIA driver found"),
    ],
)
def test_compat_decision(
    tmp_path: Path, driver: str | None, compat: bool, uses_compat: bool, says: str
) -> None:
    out, err = _run(tmp_path, driver, compat)
    compat_dir = tmp_path / "compat"
    expected = f"{compat_dir}:/opt/venv/lib" if uses_compat else "/opt/venv/lib"
    assert out.endswith(f"ld={expected}")
    assert err.startswith(
        f"entrypoint: nvidia driver={driver or 'none'} "
        f"compat={COMPAT_DRIVER if compat else 'none'} compute_capability=unknown: "
    ), err
    assert says in err
    assert err.count("\n") == 0


def test_the_cpu_flavor_goes_straight_to_serve(tmp_path: Path) -> None:
    out, err = _run(tmp_path, "550.127.05", True, flavor="cpu")
    assert out.endswith("ld=/opt/venv/lib")
    assert err == ""


def test_it_is_plain_posix_sh() -> None:
    assert ENTRYPOINT.read_text().startswith("#!/bin/sh\n")
    assert os.access(ENTRYPOINT, os.X_OK)
    done = subprocess.run(["sh", "-n", str(ENTRYPOINT)], capture_output=True, check=False)
    assert done.returncode == 0, done.stderr
