"""Which backend and dtype is fastest on this CPU, at equal correctness; writes the
entry of this kind of CPU into the table BACKEND=auto / DTYPE=auto read.

    .venv/bin/python -m bench.fastest_path MODEL_DIR            # measure, print
    .venv/bin/python -m bench.fastest_path MODEL_DIR --write    # ... and record it
    .venv/bin/python -m bench.fastest_path MODEL_DIR --no-bfloat16 --write
        # as a CPU of the same ISA without native bfloat16 (float32 candidates only;
        # recorded under avx512 when the CPU has AVX-512)

MODEL_DIR must hold an ONNX export (`sagemaker-embeddings export`); the bench's
``minilm-onnx`` model does. Each candidate is the server's own runner, loaded in a
subprocess of its own (start-up and peak memory are its alone), with the server's lanes:

- ``w1``: inputs/s of batches of 8 seed texts (251 tokens), one loop per lane;
- ``w3``: p50 ms of one 10-token input run alone (every core);
- ``cosine``: the worst cosine to torch float32 over 100 texts of 1-200 words.

Candidates under COSINE_BAR are left out of the ranking (the table keeps their
figures). Every loop is bounded in time and count.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from bench.texts import SEED_TEXT, SHORT_TEXT

CANDIDATES = (
    ("openvino", "bfloat16"),
    ("torch", "bfloat16"),
    ("openvino", "float32"),
    ("onnx", "float32"),
    ("torch", "float32"),
)
# bfloat16 keeps 7 bits of mantissa: MiniLM's bfloat16 embeddings stay above 0.999
# cosine to float32 (tests/unit/test_dtype_choice.py); below it a path is not "equal".
COSINE_BAR = 0.999
# Throughputs this close are a tie on this machine (run-to-run noise is about as large);
# a tie goes to the candidate that answers first after start-up.
TIE = 0.05
BATCH = 8
SECONDS = 6.0
MAX_PASSES = 5000


def fixed_texts() -> list[str]:
    """100 deterministic texts of 1 to ~200 words cut from the seed text."""
    words = SEED_TEXT.split()
    return [
        " ".join((words + words)[(37 * i) % len(words) :][: 1 + (53 * i) % 200])
        for i in range(100)
    ]


def measure(model_dir: Path, backend: str, dtype: str, seconds: float) -> dict[str, Any]:
    """One candidate, in this process (run by ``main`` in a subprocess per candidate)."""
    from sagemaker_embeddings.engine.tokenize import InputTokenizer, load_tokenizer
    from sagemaker_embeddings.models.backend import load_runner
    from sagemaker_embeddings.models.capacity import plan_capacity
    from sagemaker_embeddings.models.source import resolve_model_source
    from sagemaker_embeddings.models.task import detect
    from sagemaker_embeddings.settings import Settings

    started = time.perf_counter()
    settings = Settings(model_id=str(model_dir), backend=backend, dtype=dtype)  # type: ignore[arg-type]
    source = resolve_model_source(settings)
    spec = detect(source.path, settings)
    runner = load_runner(source, spec, settings)
    # As the server does: transformers (which imports torch) only for the torch runner.
    tokenizer = InputTokenizer(load_tokenizer(source.path, False, runner.backend == "torch"), spec)
    capacity = plan_capacity(settings, "cpu", runner.dtype_name, spec.max_input_length)
    runner.set_threads(capacity.threads_per_lane, capacity.threads_per_lane * capacity.lanes)

    def run(texts: list[str], alone: bool) -> list[np.ndarray]:
        tokens = tokenizer.encode(texts, truncate=True)
        batch = runner.collate([t.ids for t in tokens], [t.type_ids for t in tokens])
        return runner.forward(batch, ["pooled"] * len(tokens), alone)

    vectors: list[np.ndarray] = []
    first: list[float] = []
    counts = [0] * capacity.lanes
    ready = threading.Barrier(capacity.lanes + 1)
    go = threading.Event()
    window: list[float] = []

    def lane(index: int) -> None:
        # Every pass on a lane thread, as in the server (the main thread never runs one).
        run([SHORT_TEXT], False)
        if index == 0:
            first.append(time.perf_counter() - started)
            texts = fixed_texts()
            for i in range(0, len(texts), 25):
                vectors.extend(run(texts[i : i + 25], False))
        ready.wait()
        go.wait()
        while time.perf_counter() < window[0] and counts[index] < MAX_PASSES:
            run([SEED_TEXT] * BATCH, False)
            counts[index] += 1

    lanes = [threading.Thread(target=lane, args=(i,)) for i in range(capacity.lanes)]
    for thread in lanes:
        thread.start()
    ready.wait()
    t0 = time.perf_counter()
    window.append(t0 + seconds)
    go.set()
    for thread in lanes:
        thread.join()
    w1 = BATCH * sum(counts) / (time.perf_counter() - t0)
    latencies: list[float] = []

    def alone() -> None:
        for _ in range(200):
            t = time.perf_counter()
            run([SHORT_TEXT], True)
            latencies.append(time.perf_counter() - t)

    solo = threading.Thread(target=alone)
    solo.start()
    solo.join()
    return {
        "backend": runner.backend,
        "dtype": runner.dtype_name,
        "w1_per_s": round(w1, 1),
        "w3_ms": round(1000 * statistics.median(latencies), 2),
        "first_answer_s": round(first[0], 2),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
        "vectors": np.stack(vectors).tolist(),
    }


def rank(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Fastest first; among rows within TIE of the fastest left, the quickest to start."""
    left, ranked = list(rows), []
    while left:
        best = max(r["w1_per_s"] for r in left)
        tied = [r for r in left if r["w1_per_s"] >= (1 - TIE) * best]
        pick = min(tied, key=lambda r: (r["first_answer_s"], -r["w1_per_s"]))
        ranked.append(pick)
        left.remove(pick)
    return ranked


def worst_cosine(a: np.ndarray, b: np.ndarray) -> float:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return float((a * b).sum(1).min())


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.partition(":")[2].strip()
    return platform.processor() or platform.machine()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fastest_path", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model_dir", type=Path)
    parser.add_argument("--write", action="store_true", help="record this CPU kind's entry")
    parser.add_argument("--no-bfloat16", action="store_true",
                        help="measure as a CPU without native bfloat16 (float32 only)")
    parser.add_argument("--seconds", type=float, default=SECONDS)
    parser.add_argument("--measure", nargs=2, metavar=("BACKEND", "DTYPE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(args.model_dir, *args.measure, args.seconds)))
        return 0

    from sagemaker_embeddings.models.cpu_kind import cpu_flags, cpu_kind
    from sagemaker_embeddings.models.fastest_path import TABLE

    flags = cpu_flags()
    if args.no_bfloat16:
        flags = flags - {"amx_bf16", "amx_tile", "avx512_bf16"}
    kind = cpu_kind(flags)
    candidates = [c for c in CANDIDATES if not (args.no_bfloat16 and c[1] == "bfloat16")]
    rows: list[dict[str, Any]] = []
    for backend, dtype in reversed(candidates):  # torch float32 first: the reference
        print(f"measuring {backend} {dtype} ...", flush=True)
        done = subprocess.run(
            [sys.executable, "-m", "bench.fastest_path", str(args.model_dir), "--measure",
             backend, dtype, "--seconds", str(args.seconds)],
            capture_output=True, text=True, timeout=300, check=False,
        )
        if done.returncode != 0:
            print(f"  failed: {done.stderr.strip().splitlines()[-1:]}")
            continue
        row = json.loads(done.stdout.strip().splitlines()[-1])
        rows.append(row)
    reference = np.array(rows[0]["vectors"])
    for row in rows:
        row["worst_cosine"] = round(worst_cosine(np.array(row.pop("vectors")), reference), 5)
        print(f"  {row['backend']:9} {row['dtype']:9} W1 {row['w1_per_s']:7.1f}/s  "
              f"W3 {row['w3_ms']:6.2f} ms  first answer {row['first_answer_s']:.2f} s  "
              f"peak {row['peak_rss_mb']} MB  worst cosine {row['worst_cosine']}")
    ranked = rank([r for r in rows if r["worst_cosine"] >= COSINE_BAR])
    entry = {
        "measured_on": f"{cpu_model()}, {len(__import__('os').sched_getaffinity(0))} cores"
        + (", bfloat16 left out (as a CPU without it)" if args.no_bfloat16 else ""),
        "measured_at": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
        "model": args.model_dir.name,
        "ranking": ranked,
        "left_out": [r for r in rows if r not in ranked],
    }
    print(f"{kind}: " + ", ".join(f"{r['backend']} {r['dtype']}" for r in ranked))
    if args.write:
        table = json.loads(TABLE.read_text()) if TABLE.exists() else {"kinds": {}}
        table["written_by"] = "python -m bench.fastest_path MODEL_DIR --write"
        table["kinds"][kind] = entry
        TABLE.write_text(json.dumps(table, indent=1) + "\n")
        print(f"wrote {kind} to {TABLE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
