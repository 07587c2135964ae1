"""ONNX Runtime lanes: one session shared by two lane threads against one session each.

    .venv/bin/python -m bench.onnx_sessions MODEL_DIR [--seconds 4]
    .venv/bin/python -m bench.onnx_sessions MODEL_DIR --arena   # memory arena on/off

MODEL_DIR must hold onnx/model.onnx (``sagemaker-embeddings export``). Each way runs
in a fresh subprocess (peak RSS is per process): two Python threads call ``run`` with
one intra-op thread each, as the server's two CPU lanes do, for a few batch shapes.
Prints inputs/s per shape and the process's peak RSS; loops are bounded by time.
The measurement behind models/onnx_runner.py's shared session (bench/notes/onnx.md).
``--arena`` instead runs one shared session with ONNX Runtime's CPU memory arena on and
off, the two lanes cycling through mixed batch shapes (1-32 inputs, up to 256 tokens).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

SHAPES = ((8, 251), (1, 10), (32, 60))  # (inputs per pass, tokens per input)
LANES = 2


def _lane(session: object, feed: dict[str, object], deadline: float, counts: list[int],
          index: int) -> None:
    while time.perf_counter() < deadline and counts[index] < 100_000:
        session.run(None, feed)  # type: ignore[attr-defined]
        counts[index] += 1


MIXED = ((4, 251), (32, 32), (1, 10), (2, 256), (8, 120), (16, 60), (4, 256))


def measure_arena(model: Path, arena: bool, passes: int = 30) -> dict[str, float]:
    import numpy as np
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.enable_cpu_mem_arena = arena
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(str(model / "onnx" / "model.onnx"), sess_options=options,
                                   providers=["CPUExecutionProvider"])
    names = {i.name for i in session.get_inputs()}
    done = [0] * LANES

    def lane(index: int) -> None:
        rng = np.random.default_rng(index)
        for step in range(passes):
            batch, tokens = MIXED[(step + index) % len(MIXED)]
            ids = rng.integers(1000, 5000, (batch, tokens))
            feed = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
            if "token_type_ids" in names:
                feed["token_type_ids"] = np.zeros_like(ids)
            session.run(None, feed)
            done[index] += batch

    started = time.perf_counter()
    threads = [threading.Thread(target=lane, args=(i,)) for i in range(LANES)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"inputs_per_s": sum(done) / (time.perf_counter() - started),
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def measure(model: Path, shared: bool, seconds: float) -> dict[str, float]:
    import numpy as np
    import onnxruntime as ort

    def session() -> ort.InferenceSession:
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return ort.InferenceSession(str(model / "onnx" / "model.onnx"), sess_options=options,
                                    providers=["CPUExecutionProvider"])

    sessions = [session()] * LANES if shared else [session() for _ in range(LANES)]
    names = {i.name for i in sessions[0].get_inputs()}
    figures: dict[str, float] = {}
    for batch, tokens in SHAPES:
        ids = np.random.default_rng(0).integers(1000, 5000, (batch, tokens))
        feed = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
        if "token_type_ids" in names:
            feed["token_type_ids"] = np.zeros_like(ids)
        for s in sessions:
            s.run(None, feed)  # warm-up
        counts = [0] * LANES
        deadline = time.perf_counter() + seconds
        threads = [threading.Thread(target=_lane, args=(sessions[i], feed, deadline, counts, i))
                   for i in range(LANES)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        figures[f"{batch}x{tokens}"] = sum(counts) * batch / seconds
    figures["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--arena", action="store_true", help="compare the memory arena on/off")
    parser.add_argument("--child", choices=("shared", "per-lane", "arena-on", "arena-off"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child in ("arena-on", "arena-off"):
        print(json.dumps(measure_arena(args.model, args.child == "arena-on")))
        return
    if args.child:
        print(json.dumps(measure(args.model, args.child == "shared", args.seconds)))
        return
    if args.arena:
        for way in ("arena-on", "arena-off"):
            done = subprocess.run(
                [sys.executable, "-m", "bench.onnx_sessions", str(args.model), "--child", way],
                capture_output=True, text=True, timeout=300, check=True,
                cwd=Path(__file__).parent.parent)
            figures = json.loads(done.stdout.strip().splitlines()[-1])
            print(f"{way}: {figures['inputs_per_s']:.1f} inputs/s, peak RSS "
                  f"{figures['peak_rss_mib']:.0f} MiB", flush=True)
        return
    for way in ("shared", "per-lane"):
        done = subprocess.run(
            [sys.executable, "-m", "bench.onnx_sessions", str(args.model), "--seconds",
             str(args.seconds), "--child", way],
            capture_output=True, text=True, timeout=300, check=True,
            cwd=Path(__file__).parent.parent)
        figures = json.loads(done.stdout.strip().splitlines()[-1])
        shapes = ", ".join(f"{k} {v:.1f}/s" for k, v in figures.items() if k != "peak_rss_mib")
        print(f"{way:>8}: {shapes}; peak RSS {figures['peak_rss_mib']:.0f} MiB", flush=True)


if __name__ == "__main__":
    main()
