"""Where one of our servers spends its time and memory, workload by workload.

    .venv/bin/python -m bench.server_probe [--peer ours-auto] [--dtype bfloat16]
        [--workloads W3,W1,W2,W4] [--seconds 6] [--env KEY=VALUE ...]

Starts our server as bench.run does (``--peer`` ours, ours-onnx, ours-openvino or
ours-auto, on MiniLM), runs the workloads one after another, and after each prints
what the client saw (inputs/s, or p50 for W3), the server's own mean durations per request
over that workload from its /metrics (TEI's histograms: whole request, tokenization,
queue, inference), and the process's resident
memory now and at its peak. ``--env`` adds server settings (``INFERENCE_LANES=1``,
``ONEDNN_PRIMITIVE_CACHE_CAPACITY=16``) to compare. A diagnostic, not a benchmark: one
server, short runs, no peers.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import cast

import httpx
import psutil

from bench.load import run_load
from bench.models import ensure_models
from bench.peers.servers import OURS, Peer, launch
from bench.procs import ServerProcess
from bench.run import DEFAULT_CACHE, MAX_LENGTH
from bench.workloads import WORKLOADS, WorkloadName, requests_for

STAGES = ("tokenization", "queue", "inference")


def stage_totals(url: str) -> dict[str, tuple[float, float]]:
    """Stage -> (seconds, count) summed over everything answered so far
    (TEI's te_request_*duration histograms)."""
    found: dict[str, float] = {}
    for line in httpx.get(f"{url}/metrics", timeout=10).text.splitlines():
        name, _, value = line.rpartition(" ")
        if name.startswith("te_request_") and name.endswith(("duration_sum", "duration_count")):
            found[name] = float(value)
    totals = {}
    for stage in ("request", *STAGES):
        prefix = "te_request_" if stage == "request" else f"te_request_{stage}_"
        totals[stage] = (found.get(f"{prefix}duration_sum", 0.0),
                         found.get(f"{prefix}duration_count", 0.0))
    return totals


def stage_means(before: dict[str, tuple[float, float]],
                after: dict[str, tuple[float, float]]) -> str:
    """Mean ms per request of each stage between two snapshots."""
    parts = []
    for stage, (seconds, count) in after.items():
        done = count - before[stage][1]
        if done:
            parts.append(f"{stage} {1000 * (seconds - before[stage][0]) / done:.2f}")
    return ", ".join(parts)


def memory_mb(pid: int) -> tuple[float, float]:
    """(resident now, peak resident) of the server process, MB."""
    process = psutil.Process(pid)
    peak = 0.0
    status = Path(f"/proc/{pid}/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                peak = int(line.split()[1]) / 1024
    return process.memory_info().rss / 2**20, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--peer", default="ours-auto", choices=OURS)
    parser.add_argument("--dtype", default="bfloat16")
    parser.add_argument("--workloads", default="W3,W1,W2,W4")
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--env", nargs="*", default=[], help="KEY=VALUE server settings")
    args = parser.parse_args()
    peer: Peer = args.peer
    models = ensure_models(DEFAULT_CACHE)
    model = models["minilm" if peer == "ours" else "minilm-onnx"]
    with TemporaryDirectory() as work:
        spec = launch(peer, model, "embed", args.dtype, MAX_LENGTH["minilm"], Path(work),
                      DEFAULT_CACHE)
        spec.env.update(dict(item.split("=", 1) for item in args.env))
        process = ServerProcess(spec, Path(work) / "server.log")
        process.start()
        try:
            print(f"{spec.label} {' '.join(args.env)}: serving after "
                  f"{process.wait_ready(300):.2f} s", flush=True)
            assert process.process is not None
            pid = process.process.pid
            now, peak = memory_mb(pid)
            print(f"  ready: RSS {now:.0f} MB, peak {peak:.0f} MB", flush=True)
            for name in args.workloads.split(","):
                if name not in WORKLOADS:
                    parser.error(f"unknown workload {name}")
                workload = WORKLOADS[cast(WorkloadName, name)]
                requests = requests_for(workload.name, peer)
                assert requests is not None
                before = stage_totals(spec.url)
                result = run_load(spec.url, requests, workload.clients, args.seconds, 0.0)
                seen = (f"p50 {result.percentile_ms(0.5) or 0:.2f} ms" if workload.latency
                        else f"{result.inputs_per_s:.1f} inputs/s")
                means = stage_means(before, stage_totals(spec.url))
                now, peak = memory_mb(pid)
                print(f"  {workload.name}: {seen}; server mean ms: {means}; "
                      f"RSS {now:.0f} MB, peak {peak:.0f} MB", flush=True)
        finally:
            process.stop()


if __name__ == "__main__":
    main()
