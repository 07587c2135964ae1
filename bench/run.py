"""The benchmark of issue 6: our server and its peers, side by side, in one run.

    .venv/bin/python -m bench.run            # full run (~20 min on 2 quiet cores)
    .venv/bin/python -m bench.run --quick    # smoke run: MiniLM, ours (torch, onnx, auto) + FIFO

Order: peer environments (created once under the cache folder), models, in-process
ceilings (nothing else running), then one server at a time: start, wait for it to
serve (cold start), run its workloads, stop its process group. Prints a ratio table
and the target checks (issue 6's for the torch rows, issue 15's for ``ours-onnx``);
writes JSON and a PNG chart to bench/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, cast

from bench import report
from bench.load import run_load
from bench.peers import environments
from bench.peers.servers import ON_ONNX_FILE, OURS, PEERS, Peer, launch
from bench.procs import Launch, ServerFailed, ServerProcess
from bench.workloads import WORKLOADS, WorkloadName, requests_for

DEFAULT_CACHE = Path.home() / ".cache" / "sagemaker-embeddings-bench"
RESULTS = Path(__file__).parent / "results"
MODELS = ("minilm", "bert-base", "qwen3-reranker-0.6b", "minilm-colbert")
# Issue 21's model kinds: W5 only, on our torch server only (no peer serves them), each
# against its reference library in process.
NEW_KINDS = ("qwen3-reranker-0.6b", "minilm-colbert")
DTYPES = ("float32", "bfloat16")
MAX_LENGTH = {"minilm": 256, "minilm-reranker": 512, "bert-base": 512,
              "qwen3-reranker-0.6b": 8192, "minilm-colbert": 180}
# Our cold start is about a second, where this VM's spread between two starts is a few
# tenths: one sample cannot be held to a 1.5 s goal. Ours gets this many starts (the
# measured one first) and reports the median; peers keep one (theirs take 5-20 s).
OURS_COLD_STARTS = 3
_STARTED = time.perf_counter()


def say(message: str) -> None:
    elapsed = int(time.perf_counter() - _STARTED)
    print(f"[{elapsed // 60:02d}:{elapsed % 60:02d}] {message}", flush=True)


@dataclass(frozen=True)
class Options:
    quick: bool
    setup_only: bool
    seconds: float
    warmup: float
    ceiling_seconds: float
    peers: tuple[Peer, ...]
    workloads: tuple[WorkloadName, ...]
    models: tuple[str, ...]
    dtypes: tuple[str, ...]
    cache: Path
    ready_timeout: float
    bert_base_workloads: tuple[WorkloadName, ...]


@dataclass(frozen=True)
class ServerPlan:
    peer: Peer
    model: str  # minilm, bert-base or minilm-reranker
    dtype: str
    workloads: tuple[WorkloadName, ...]


def _csv(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def parse_options(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 3 s per workload, MiniLM, "
                             "peers ours,ours-onnx,ours-auto,fifo")
    parser.add_argument("--seconds", type=float, help="measured seconds per workload (15)")
    parser.add_argument("--peers", type=_csv, help=f"subset of {','.join(PEERS)}")
    parser.add_argument("--workloads", type=_csv, help="subset of W1,W2,W3,W4,W5")
    parser.add_argument("--models", type=_csv, help=f"subset of {','.join(MODELS)}")
    parser.add_argument("--dtypes", type=_csv, help="subset of float32,bfloat16")
    parser.add_argument("--setup-only", action="store_true",
                        help="create the peer environments and models, then stop")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE,
                        help="peer environments and built models (default %(default)s)")
    args = parser.parse_args(argv)
    quick = bool(args.quick)
    peers = args.peers or (("ours", "ours-onnx", "ours-auto", "fifo") if quick else PEERS)
    workloads = args.workloads or tuple(WORKLOADS)
    for value, allowed in ((peers, PEERS), (workloads, tuple(WORKLOADS)),
                           (args.models or (), MODELS), (args.dtypes or (), DTYPES)):
        unknown = set(value) - set(allowed)
        if unknown:
            parser.error(f"unknown {sorted(unknown)}; choose from {','.join(allowed)}")
    asked_w2 = args.workloads is not None and "W2" in workloads
    return Options(
        quick=quick,
        setup_only=bool(args.setup_only),
        seconds=args.seconds or (3.0 if quick else 15.0),
        warmup=1.0 if quick else 3.0,
        ceiling_seconds=2.0 if quick else 8.0,
        peers=cast(tuple[Peer, ...], peers),
        workloads=cast(tuple[WorkloadName, ...], workloads),
        models=args.models or (("minilm",) if quick else MODELS),
        dtypes=args.dtypes or default_dtypes(),
        cache=args.cache,
        ready_timeout=300.0,
        bert_base_workloads=("W1", "W2") if asked_w2 else ("W1",),
    )


def native_bfloat16() -> bool:
    """Whether our server would pick bfloat16 on this CPU by itself. Elsewhere torch
    emulates it (MiniLM: 2.4 inputs/s against 13.7 in float32 on an AVX2-only EPYC),
    so a default run measures float32 only."""
    from sagemaker_embeddings.models.capacity import choose_dtype

    return choose_dtype("auto", "cpu") == "bfloat16"


def default_dtypes() -> tuple[str, ...]:
    return DTYPES if native_bfloat16() else ("float32",)


def auto_dtype() -> str:
    """The dtype BACKEND=auto / DTYPE=auto picks here for a folder with an ONNX file."""
    from sagemaker_embeddings.models.fastest_path import choose_path

    return choose_path("auto", "auto", True, gpu=False).dtype


def peer_dtypes(peer: Peer, asked: tuple[str, ...]) -> tuple[str, ...]:
    """The AWS toolkit and infinity run as their users run them, in float32; ONNX
    Runtime runs float32 only; ours-auto runs what auto picks (its row's dtype)."""
    if peer in ("ours", "fifo", "ours-openvino"):
        return asked
    if peer == "ours-auto":
        return (auto_dtype(),)
    return ("float32",)


def plan(options: Options) -> list[ServerPlan]:
    plans: list[ServerPlan] = []
    groups: list[tuple[str, tuple[WorkloadName, ...]]] = []
    if "minilm" in options.models:
        groups.append(("minilm", tuple(w for w in options.workloads if w != "W5")))
        groups.append(("minilm-reranker", tuple(w for w in options.workloads if w == "W5")))
    if "bert-base" in options.models:
        groups.append(("bert-base", tuple(w for w in options.workloads
                                          if w in options.bert_base_workloads)))
    for model in NEW_KINDS:
        if model in options.models:
            groups.append((model, tuple(w for w in options.workloads if w == "W5")))
    for model, workloads in groups:
        for peer in options.peers:
            if model in NEW_KINDS and peer != "ours":
                continue
            if peer in ON_ONNX_FILE and model not in ("minilm", "bert-base"):
                continue  # the exports are of the embedders
            dtypes = peer_dtypes(peer, options.dtypes)
            runnable = tuple(w for w in workloads if requests_for(w, peer) is not None)
            plans.extend(ServerPlan(peer, model, d, runnable) for d in dtypes if runnable)
    return plans


def setup_peers(options: Options, plans: list[ServerPlan]) -> dict[str, float]:
    seconds: dict[str, float] = {}
    names: tuple[environments.EnvName, ...] = ("aws", "infinity")
    needs = {name: any(p.peer == name for p in plans) for name in names}
    # PyLate builds the ColBERT model and is its ceiling.
    needs["pylate"] = any(p.model == "minilm-colbert" for p in plans)
    for name, needed in needs.items():
        if needed:
            ready = environments.is_ready(options.cache, name)
            say(f"peer environment {name}: {'ready' if ready else 'installing (minutes)'}")
            options.cache.mkdir(parents=True, exist_ok=True)
            seconds[name] = environments.ensure(options.cache, name,
                                                options.cache / f"{name}-setup.log")
    return seconds


def _python_json(args: list[str], timeout: float) -> Any:
    """Run ``python -m ...`` in a subprocess and parse the last line of its stdout."""
    done = subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True,
                          timeout=timeout, check=False, cwd=Path(__file__).parent.parent,
                          env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:2])} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def ceilings(options: Options, plans: list[ServerPlan], models: dict[str, str]) -> Any:
    found: dict[str, Any] = {}
    for model in dict.fromkeys(p.model for p in plans):
        for dtype in options.dtypes:
            say(f"in-process ceiling: {model} {dtype}")
            if model == "minilm-colbert":
                say(f"in-process ceiling: {model} {dtype} (PyLate, in its environment)")
                found[f"{model}/{dtype}"] = pylate_ceiling(options, models[model], dtype)
                continue
            if model == "minilm-reranker":
                args = ["bench.ceiling", "rerank"]
            elif model == "qwen3-reranker-0.6b":
                args = ["bench.ceiling", "rerank-causal"]
            else:
                mix = any(p.model == model and "W4" in p.workloads for p in plans)
                args = ["bench.ceiling", "embed", *(["--mix"] if mix else [])]
            args += ["--model", models[model], "--dtype", dtype,
                     "--seconds", str(options.ceiling_seconds)]
            found[f"{model}/{dtype}"] = _python_json(args, timeout=900)
            if model == "minilm" and any(p.peer in OURS and p.model == model for p in plans):
                say(f"bare transformers load (cold-start floor): {model} {dtype}")
                found[f"{model}/{dtype}"] |= _python_json(
                    ["bench.ceiling", "load", "--model", models[model], "--dtype", dtype], 900)
    return found


def pylate_ceiling(options: Options, model_dir: str, dtype: str) -> Any:
    from bench.texts import rerank_request

    texts = rerank_request()
    python = environments.venv_bin(options.cache, "pylate") / "python"
    script = Path(__file__).parent / "peers" / "pylate_script.py"
    done = subprocess.run(
        [str(python), str(script), "ceiling", model_dir, dtype, str(options.ceiling_seconds)],
        input=json.dumps({"query": texts.query, "documents": texts.passages}),
        capture_output=True, text=True, timeout=900, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"PyLate's ceiling failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout)


def run_server(options: Options, item: ServerPlan, model_dir: Path, workdir: Path) -> Any:
    task = "rerank" if item.model == "minilm-reranker" else "embed"
    spec = launch(item.peer, model_dir, task, item.dtype, MAX_LENGTH[item.model],
                  workdir, options.cache)
    spec.label = f"{item.peer}/{item.model}/{item.dtype}"
    process = ServerProcess(spec, workdir / "server.log")
    row: dict[str, Any] = {"peer": item.peer, "model": item.model, "dtype": item.dtype,
                           "cold_start_s": None, "workloads": {}, "error": None}
    say(f"start {spec.label}")
    process.start()
    try:
        row["cold_start_s"] = process.wait_ready(options.ready_timeout)
        say(f"  serving after {row['cold_start_s']:.1f} s")
        for name in item.workloads:
            workload = WORKLOADS[name]
            requests = requests_for(name, item.peer)
            assert requests is not None
            # A W5 request on the 0.6B shape takes 15-30 s on 2 vCPUs: a window of
            # two minutes, so that the figure rests on more than a handful of requests.
            stretch = {"bert-base": 1.5, "qwen3-reranker-0.6b": 8.0}
            seconds = options.seconds * stretch.get(item.model, 1.0)
            result = run_load(spec.url, requests, workload.clients, seconds, options.warmup)
            row["workloads"][name] = {
                "requests": result.requests, "inputs": result.inputs, "errors": result.errors,
                "seconds": result.seconds, "inputs_per_s": result.inputs_per_s,
                "requests_per_s": result.requests_per_s, "p50_ms": result.percentile_ms(0.5),
                "p90_ms": result.percentile_ms(0.9), "p99_ms": result.percentile_ms(0.99),
                "first_error": result.first_error,
            }
            shown = (f"p50 {result.percentile_ms(0.5) or 0:.1f} ms" if workload.latency
                     else f"{result.inputs_per_s:.1f} inputs/s")
            errors = f", {result.errors} errors ({result.first_error})" if result.errors else ""
            say(f"  {name}: {shown} ({result.requests} requests){errors}")
    except ServerFailed as exc:
        row["error"] = str(exc)
        say(f"  FAILED: {str(exc)[:400]}")
    finally:
        process.stop()
    row["peak_rss_mb"] = process.peak_rss / 2**20
    if item.peer in OURS and row["error"] is None:
        row["cold_start_runs"] = [row["cold_start_s"], *restarts(spec, workdir, options)]
        row["cold_start_s"] = statistics.median(row["cold_start_runs"])
        say(f"  cold starts {', '.join(f'{s:.2f}' for s in row['cold_start_runs'])} s")
    return row


def restarts(spec: Launch, workdir: Path, options: Options) -> list[float]:
    """Seconds to /ping of OURS_COLD_STARTS - 1 more fresh starts of the same server."""
    found = []
    for _ in range(OURS_COLD_STARTS - 1):
        process = ServerProcess(spec, workdir / "server-restart.log")
        process.start()
        try:
            found.append(process.wait_ready(options.ready_timeout))
        except ServerFailed as exc:
            say(f"  a restart failed, cold start from {len(found) + 1} start(s): {exc}")
            break
        finally:
            process.stop()
    return found


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists() and cpu in ("", platform.machine()):
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.partition(":")[2].strip()
                break
    from sagemaker_embeddings.models.cpu_kind import cpu_flags

    flags = cpu_flags()
    wanted = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16")
    return {"cpu": cpu, "cores": os.cpu_count(), "flags": [f for f in wanted if f in flags],
            "native_bfloat16": native_bfloat16(),
            "python": platform.python_version(), "platform": platform.platform()}


def main(argv: list[str] | None = None) -> int:
    options = parse_options(argv)
    plans = plan(options)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    workroot = options.cache / "runs" / stamp
    say(f"{len(plans)} server runs planned; work folder {workroot}")
    results: dict[str, Any] = {
        "meta": {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                 "quick": options.quick, "seconds": options.seconds,
                 "warmup": options.warmup, **machine()},
    }
    results["setup_seconds"] = setup_peers(options, plans)
    say("models: building what is missing")
    needed = {p.model for p in plans} | {f"{p.model}-onnx" for p in plans
                                          if p.peer in ON_ONNX_FILE}
    if "bert-base-onnx" in needed:
        needed.add("bert-base")  # the export is made from it
    models: dict[str, str] = _python_json(["bench.models", str(options.cache), *sorted(needed)],
                                          timeout=1800)
    if options.setup_only:
        say(f"setup done: {results['setup_seconds']}")
        return 0
    if "bfloat16" in options.dtypes:
        say("matrix-product rates (float32, bfloat16)")
        results["gemm"] = _python_json(
            ["bench.ceiling", "gemm", "--seconds", str(options.ceiling_seconds / 2)], 300)
    results["ceilings"] = ceilings(options, plans, models)
    results["servers"] = []
    for index, item in enumerate(plans):
        workdir = workroot / f"{index:02d}-{item.peer}-{item.model}-{item.dtype}"
        # The ONNX rows serve the copy of the model folder that holds its export.
        onnx_copy = item.peer in ON_ONNX_FILE
        folder = models[f"{item.model}-onnx"] if onnx_copy else models[item.model]
        results["servers"].append(run_server(options, item, Path(folder), workdir))
    RESULTS.mkdir(exist_ok=True)
    json_path = RESULTS / f"bench-{stamp}.json"
    checks = report.targets(results)
    results["targets"] = [{"name": t.name, "value": t.value, "goal": t.goal, "met": t.met}
                          for t in checks]
    onnx_checks = report.onnx_targets(results)
    results["targets_onnx"] = [{"name": t.name, "value": t.value, "goal": t.goal,
                                "met": t.met} for t in onnx_checks]
    fastest_checks = report.fastest_path_targets(results)
    results["targets_fastest_path"] = [{"name": t.name, "value": t.value, "goal": t.goal,
                                        "met": t.met} for t in fastest_checks]
    results["context"] = report.context(results)
    json_path.write_text(json.dumps(results, indent=2))
    chart_path = RESULTS / f"bench-{stamp}.png"
    if any(row["model"] not in report.NEW_KINDS for row in results["servers"]):
        report.chart(results, chart_path)
    kinds_chart = RESULTS / f"bench-{stamp}-new-kinds.png"
    report.chart_new_kinds(results, kinds_chart)
    print()
    print(f"{results['meta']['date']} | {results['meta']['cpu']} | {results['meta']['cores']} "
          f"cores | {' '.join(results['meta']['flags'])}"
          + (" | QUICK SMOKE RUN" if options.quick else ""))
    print(report.table(results))
    print("\nAgainst the peers:")
    print(report.versus_peers(results) or "  (no peer ran)")
    print("\nTargets (issue 6):")
    print("\n".join(t.line() for t in checks))
    print("\nTargets (issue 15, ours-onnx: BACKEND=onnx against the same run):")
    print("\n".join(t.line() for t in onnx_checks))
    print("\nTargets (issue 20, the fastest path; ours-auto is what the CPU image serves):")
    print("\n".join(t.line() for t in fastest_checks))
    print("\nW5 on issue 21's model kinds (ours against the reference library, in process):")
    print(report.new_kinds_text(results) or "  (not run)")
    print("\nContext (same run):")
    print("\n".join(results["context"]) or "  (not measured)")
    print(f"\nJSON: {json_path}\nchart: {chart_path}")
    say("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
