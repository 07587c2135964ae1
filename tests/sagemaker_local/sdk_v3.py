"""A virtual environment with the SageMaker Python SDK v3, apart from the test venv.

v2 and v3 are both the distribution ``sagemaker`` (v3 is a meta-package over
``sagemaker-core``, ``-serve``, ``-train`` and ``-mlops``), so they cannot share the test
venv, which holds v2 for ``HuggingFaceModel``. The v3 venv is made once (about 8 minutes
on the 2-core test machines: v3 pulls mlflow) under a cache folder that outlives test
sessions, and rebuilt when :data:`REQUIREMENT` changes. Run ``python -m
tests.sagemaker_local.sdk_v3`` to make it ahead of a test run.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

from tests.harness.docker import state_lock

REQUIREMENT = "sagemaker>=3.27,<4"
CACHE_DIR = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "sagemaker-embeddings"
INSTALL_TIMEOUT_S = 1800


def ensure_v3_venv(folder: Path = CACHE_DIR / "sdk-v3-venv") -> Path:
    """The v3 venv's python, made on first use (serialised across sessions)."""
    marker = folder / f".complete-{hashlib.sha256(REQUIREMENT.encode()).hexdigest()[:16]}"
    python = folder / "bin" / "python"
    with state_lock("sdk-v3-venv"):
        if marker.exists():
            return python
        venv.EnvBuilder(clear=True, with_pip=True).create(folder)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             REQUIREMENT],
            check=True, timeout=INSTALL_TIMEOUT_S,
        )  # fmt: skip
        marker.touch()
    return python


if __name__ == "__main__":
    print(ensure_v3_venv())
    sys.exit(0)
