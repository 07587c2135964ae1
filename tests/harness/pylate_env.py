"""PyLate's own environment, the reference for ColBERT models (tests/reference_pylate.py).

PyLate 1.6.0 pins sentence-transformers 5.3 and transformers <= 5.3, which our
environment does not have, and its index back ends (fast-plaid) would pull a CUDA
torch. So it gets a virtual environment of its own: the CPU torch, the versions it
pins, and PyLate itself without its index dependencies, which scoring does not use.
Built once under .cache/ and rebuilt when this list changes.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FOLDER = ROOT / ".cache" / "pylate-reference"
REQUIREMENTS = [
    "torch==2.13.0",
    "sentence-transformers==5.3.0",
    "transformers==5.3.0",
    "datasets>=2.20",
    "accelerate>=0.31",
    "pandas>=2.2",
    "ujson==5.12.0",
]
PYLATE = "pylate==1.6.0"
MARKER = FOLDER / ".requirements"
SCRIPT = ROOT / "tests" / "reference_pylate.py"


def python() -> Path:
    """The environment's interpreter, built first when missing or out of date."""
    wanted = "\n".join([*REQUIREMENTS, PYLATE])
    interpreter = FOLDER / "bin" / "python"
    if MARKER.is_file() and MARKER.read_text() == wanted and interpreter.exists():
        return interpreter
    started = time.monotonic()
    print(f"building PyLate's reference environment in {FOLDER} ...", file=sys.stderr)
    base = getattr(sys, "_base_executable", sys.executable)
    log = FOLDER.parent / "pylate-reference.log"
    FOLDER.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        if not interpreter.exists():
            subprocess.run([base, "-m", "venv", str(FOLDER)], check=True, stdout=out, stderr=out)
        pip = [str(FOLDER / "bin" / "pip"), "install", "-q"]
        subprocess.run([*pip, *REQUIREMENTS], check=True, stdout=out, stderr=out, timeout=1800)
        subprocess.run([*pip, "--no-deps", PYLATE], check=True, stdout=out, stderr=out, timeout=600)
    MARKER.write_text(wanted)
    print(f"... done in {time.monotonic() - started:.0f} s", file=sys.stderr)
    return interpreter


def run(*args: str, stdin: str | None = None) -> str:
    """Run tests/reference_pylate.py in PyLate's environment; its stdout."""
    done = subprocess.run(
        [str(python()), str(SCRIPT), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        raise RuntimeError(f"reference_pylate.py {args[0]} failed:\n{done.stderr[-4000:]}")
    return done.stdout
