"""Figures for the CPU image: size, cold start and build times.

    .venv/bin/python -m tests.container.measure [--runs 3] [--cold-build]

Cold start is ``docker run`` to the first 200 on /ping with the default model (the
host's page cache is left alone: other work shares this machine). Build times: a
rebuild with nothing changed, a rebuild after a source edit (made in a copy of the
tree), and with ``--cold-build`` one with ``--no-cache`` (every layer, every download
except torch, which comes from the wheelhouse; the base image is not rebuilt).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sagemaker_embeddings.deploy.build import build_image
from tests.harness.docker import (
    BASE_IMAGE,
    docker,
    ensure_base_image,
    ensure_docker,
    ensure_wheelhouse,
    run_container,
    state_lock,
    wait_for_ping,
)

ROOT = Path(__file__).resolve().parents[2]
TAG = "sagemaker-embeddings-measure:cpu"


def timed(action: Callable[[], object]) -> float:
    started = time.monotonic()
    action()
    return time.monotonic() - started


def megabytes(reference: str) -> float:
    return int(docker("image", "inspect", "--format", "{{.Size}}", reference)) / 1e6


def cold_start(reference: str) -> float:
    started = time.monotonic()
    with run_container(reference) as container:
        wait_for_ping(container)
        return time.monotonic() - started


def edited_copy(target: Path) -> Path:
    """A copy of the tree with one source file changed, as an engineer's edit would."""
    for name in ("src", "deploy", "container"):
        shutil.copytree(ROOT / name, target / name, symlinks=True)
    for name in ("pyproject.toml", "setup.py", "regions.json", "README.md"):
        if (ROOT / name).exists():
            shutil.copy2(ROOT / name, target / name)
    with (target / "src" / "sagemaker_embeddings" / "__init__.py").open("a") as handle:
        handle.write(f"# edited {time.time()}\n")
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cold-build", action="store_true")
    args = parser.parse_args()
    ensure_docker()
    ensure_base_image()
    wheels = ensure_wheelhouse()

    def build(source_dir: Path | None = None, no_cache: bool = False) -> str:
        return build_image("cpu", TAG, wheels, source_dir=source_dir, no_cache=no_cache, quiet=True)

    with state_lock("build"):
        build()  # so the timings below start from a filled cache
        print(f"rebuild, nothing changed: {timed(build):.1f} s")
        with tempfile.TemporaryDirectory() as tmp:
            copy = edited_copy(Path(tmp))
            print(f"rebuild after a source edit: {timed(lambda: build(source_dir=copy)):.1f} s")
        if args.cold_build:
            print(f"cold build (--no-cache): {timed(lambda: build(no_cache=True)):.1f} s")
    size, base = megabytes(TAG), megabytes(BASE_IMAGE)
    print(f"image size: {size:.0f} MB ({size - base:.0f} MB on top of the {base:.0f} MB base)")
    starts = [cold_start(TAG) for _ in range(args.runs)]
    print(
        f"cold start, docker run -> first /ping 200: median {statistics.median(starts):.1f} s "
        f"(runs: {', '.join(f'{s:.1f}' for s in starts)})"
    )


if __name__ == "__main__":
    main()
