"""Throughput of toolkit mode (MMS) against the native server on the seed workload.

Ten concurrent clients POST the seed blog's benchmark text (187 tokens with MiniLM's
tokenizer) to /invocations of `serve` running MiniLM, first in native mode, then in
toolkit mode with one worker (our default) and one per core (MMS's default). Each run
is bounded (``--seconds``, default 20, after a 3 s warm-up). Numbers are noisy on a
shared 2-core machine: the load generator and the server compete for the same cores.

    .venv/bin/python bench/toolkit_vs_native.py [--seconds 20] [--clients 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil

from bench.procs import free_port

SEED = Path("/work/shared/seeds/001_d50d09adb74373c2.txt")
SERVE = str(Path(sys.executable).parent / "serve")


def seed_text() -> str:
    match = re.search(r'"inputs": "(Hugging Face is a company[^"]+)"', SEED.read_text())
    if match is None:
        raise SystemExit(f"benchmark text not found in {SEED}")
    return match.group(1)


def start(env: dict[str, str], workdir: Path, toolkit: bool) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    full = {
        **os.environ,
        "LISTEN_ADDRESS": "127.0.0.1",
        "SAGEMAKER_BIND_TO_PORT": str(port),
        "SAGEMAKER_BASE_DIR": str(workdir / "opt-ml"),
        "HF_HUB_OFFLINE": "1",
        "TMPDIR": str(workdir),
        "LOG_LOCATION": str(workdir),
        "METRICS_LOCATION": str(workdir),
        **env,
    }
    log = (workdir / "serve.log").open("wb")
    process = subprocess.Popen(
        [SERVE], env=full, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError((workdir / "serve.log").read_text()[-3000:])
        ready = "toolkit mode ready" in (workdir / "serve.log").read_text(errors="replace")
        if not toolkit:
            try:
                ready = httpx.get(f"{url}/ping", timeout=2).status_code == 200
            except httpx.TransportError:
                ready = False
        if ready:
            return process, url
        time.sleep(0.5)
    stop(process)
    raise RuntimeError("server not ready in 300 s")


def stop(process: subprocess.Popen[bytes]) -> None:
    children = psutil.Process(process.pid).children(recursive=True)
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)
    for child in psutil.wait_procs(children, timeout=10)[1]:
        child.kill()


def resident_mib(process: subprocess.Popen[bytes]) -> float:
    tree = [psutil.Process(process.pid), *psutil.Process(process.pid).children(recursive=True)]
    return float(sum(p.memory_info().rss for p in tree)) / 2**20


async def load(url: str, text: str, clients: int, seconds: float) -> tuple[int, list[float]]:
    latencies: list[float] = []
    errors = 0
    async with httpx.AsyncClient(timeout=60) as client:

        async def one_client(until: float, record: bool) -> None:
            nonlocal errors
            while time.monotonic() < until:
                started = time.perf_counter()
                response = await client.post(f"{url}/invocations", json={"inputs": text})
                if response.status_code != 200:
                    errors += 1
                elif record:
                    latencies.append(time.perf_counter() - started)

        warm = time.monotonic() + 3
        await asyncio.gather(*(one_client(warm, False) for _ in range(clients)))
        end = time.monotonic() + seconds
        await asyncio.gather(*(one_client(end, True) for _ in range(clients)))
    return errors, latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--clients", type=int, default=10)
    args = parser.parse_args()
    text = seed_text()
    cores = os.cpu_count() or 1
    runs = [
        ("native", {"SERVING_MODE": "native"}, False),
        ("toolkit, 1 worker (default)", {"SERVING_MODE": "toolkit"}, True),
        (
            f"toolkit, {cores} workers (MMS's default)",
            {"SERVING_MODE": "toolkit", "SAGEMAKER_MODEL_SERVER_WORKERS": str(cores)},
            True,
        ),
    ]
    print(f"{args.clients} clients, {args.seconds:.0f} s, seed text, MiniLM, {cores} cores")
    print(f"{'server':36} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7} {'errors':>6} {'RSS MiB':>8}")
    for name, env, toolkit in runs:
        with tempfile.TemporaryDirectory(prefix="bench-toolkit-") as tmp:
            process, url = start(env, Path(tmp), toolkit)
            try:
                errors, latencies = asyncio.run(load(url, text, args.clients, args.seconds))
                rss = resident_mib(process)
            finally:
                stop(process)
        cuts = statistics.quantiles(latencies, n=20) if len(latencies) > 1 else [0.0] * 19
        print(
            f"{name:36} {len(latencies) / args.seconds:7.1f} {cuts[9] * 1000:7.0f} "
            f"{cuts[18] * 1000:7.0f} {errors:6d} {rss:8.0f}"
        )


if __name__ == "__main__":
    main()
