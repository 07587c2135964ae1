"""PyLate, the reference for ColBERT models, in its own environment.

PyLate 1.6.0 pins sentence-transformers and transformers versions other than ours, so
it runs in the environment bench.peers.environments builds for it (once, under
.cache/), through bench/peers/pylate_script.py.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bench.peers import environments

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cache"
SCRIPT = ROOT / "bench" / "peers" / "pylate_script.py"


def python() -> Path:
    """The environment's interpreter, built first when missing or out of date."""
    if not environments.is_ready(CACHE, "pylate"):
        print(f"building PyLate's environment under {CACHE} ...", file=sys.stderr)
        CACHE.mkdir(parents=True, exist_ok=True)
        seconds = environments.ensure(CACHE, "pylate", CACHE / "pylate.log")
        print(f"... done in {seconds:.0f} s", file=sys.stderr)
    return environments.venv_bin(CACHE, "pylate") / "python"


def run(*args: str, stdin: str | None = None) -> str:
    """Run the PyLate script in PyLate's environment; its stdout."""
    done = subprocess.run(
        [str(python()), str(SCRIPT), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if done.returncode != 0:
        raise RuntimeError(f"pylate_script.py {args[0]} failed:\n{done.stderr[-4000:]}")
    return done.stdout
