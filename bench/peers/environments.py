"""The peers' own virtual environments, created once under the cache folder.

Each environment is ready when its marker file holds the exact requirement list it was
built from; a changed list rebuilds it. torch is pinned to the CPU build that pip finds
on this machine's local wheel folder (an unpinned torch would pull a CUDA build).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Literal

EnvName = Literal["aws", "infinity", "pylate"]
TORCH = "torch==2.13.0"
REQUIREMENTS: dict[EnvName, list[str]] = {
    # transformers 5 breaks the toolkit; setuptools 81 drops pkg_resources, which
    # sagemaker_inference imports; multi-model-server puts MMS (Java 17) on PATH.
    "aws": [TORCH, "sagemaker-huggingface-inference-toolkit==2.6.0", "transformers<5",
            "setuptools<81", "multi-model-server==1.1.11", "psutil", "numpy"],
    # `[all]` would pull a CUDA torch; the server and torch extras are what CPU needs.
    "infinity": [TORCH, "infinity-emb[server,torch]==0.0.78"],
    # PyLate 1.6.0 pins these; its index back ends (fast-plaid, which would pull a CUDA
    # torch) are left out: it goes in without dependencies (WITHOUT_DEPS), and scoring
    # does not use them.
    "pylate": [TORCH, "sentence-transformers==5.3.0", "transformers==5.3.0", "datasets>=2.20",
               "accelerate>=0.31", "pandas>=2.2", "ujson==5.12.0"],
}
WITHOUT_DEPS: dict[EnvName, list[str]] = {"pylate": ["pylate==1.6.0"]}
MARKER = ".bench-requirements"
FOLDERS: dict[EnvName, str] = {"aws": "aws-toolkit", "infinity": "infinity", "pylate": "pylate"}


def venv_dir(cache: Path, name: EnvName) -> Path:
    return cache / FOLDERS[name]


def venv_bin(cache: Path, name: EnvName) -> Path:
    return venv_dir(cache, name) / "bin"


def site_packages(cache: Path, name: EnvName) -> Path:
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    return venv_dir(cache, name) / "lib" / version / "site-packages"


def _wanted(name: EnvName) -> str:
    return "\n".join([*REQUIREMENTS[name], *WITHOUT_DEPS.get(name, [])])


def is_ready(cache: Path, name: EnvName) -> bool:
    marker = venv_dir(cache, name) / MARKER
    return marker.exists() and marker.read_text() == _wanted(name)


def ensure(cache: Path, name: EnvName, log: Path) -> float:
    """Create or update the environment; returns the seconds it took (0 when ready)."""
    if is_ready(cache, name):
        return 0.0
    started = time.perf_counter()
    folder = venv_dir(cache, name)
    base_python = getattr(sys, "_base_executable", sys.executable)
    with log.open("ab") as out:
        if not (folder / "bin" / "python").exists():
            subprocess.run([base_python, "-m", "venv", str(folder)], check=True,
                           stdout=out, stderr=subprocess.STDOUT, timeout=300)
        pip = [str(folder / "bin" / "pip"), "install", "-q"]
        subprocess.run([*pip, *REQUIREMENTS[name]],
                       check=True, stdout=out, stderr=subprocess.STDOUT, timeout=1800)
        if name in WITHOUT_DEPS:
            subprocess.run([*pip, "--no-deps", *WITHOUT_DEPS[name]],
                           check=True, stdout=out, stderr=subprocess.STDOUT, timeout=600)
    (folder / MARKER).write_text(_wanted(name))
    return time.perf_counter() - started
