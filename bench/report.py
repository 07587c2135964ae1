"""Turns one run's results into the ratio table, the target checks and the chart."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from bench.workloads import WORKLOADS, WorkloadName

Results = dict[str, Any]
W3_ALLOWANCE_MS = 3.0
# Issue 15's goals for the ONNX Runtime backend (ours-onnx), MiniLM float32.
ONNX_COLD_START_S = 2.0
ONNX_COLD_START_VS_FLOOR = 0.5
ONNX_PEAK_RSS_MB = 400.0
# Issue 20's goals for the path BACKEND=auto / DTYPE=auto takes (ours-auto).
AUTO_W1_VS_BFLOAT16_CEILING = 0.95
AUTO_W1_VS_FLOAT32_CEILING = 1.1
AUTO_COLD_START_S = 1.5
AUTO_W3_ALLOWANCE_MS = 1.0
AUTO_W4_VS_CEILING = 0.9
BFLOAT16_PEAK_RSS_MB = 600.0
INT8_W1_VS_FLOAT32 = 2.0


@dataclass(frozen=True)
class Target:
    name: str
    value: float | None
    goal: float
    higher_is_better: bool = True
    unit: str = "x"

    @property
    def met(self) -> bool | None:
        if self.value is None:
            return None
        return self.value >= self.goal if self.higher_is_better else self.value <= self.goal

    def line(self) -> str:
        sign = ">=" if self.higher_is_better else "<="
        value = "n/a" if self.value is None else f"{self.value:.2f}{self.unit}"
        verdict = {True: "met", False: "MISSED", None: "not measured"}[self.met]
        return f"  {self.name:<52} {value:>10}  goal {sign} {self.goal:g}{self.unit}  {verdict}"


def server(results: Results, peer: str, model: str, dtype: str) -> dict[str, Any] | None:
    for row in results["servers"]:
        if (row["peer"], row["model"], row["dtype"]) == (peer, model, dtype):
            found: dict[str, Any] = row
            return found
    return None


def metric(row: dict[str, Any] | None, workload: str) -> float | None:
    """Inputs/s for throughput workloads, p50 ms for W3; None when not run or failed."""
    if row is None or workload not in row["workloads"]:
        return None
    w = row["workloads"][workload]
    if w["requests"] == 0:
        return None
    latency = WORKLOADS[cast(WorkloadName, workload)].latency
    value: float = w["p50_ms"] if latency else w["inputs_per_s"]
    return value


CEILING_KEYS = {"W1": "batch32_per_s", "W2": "batch32_per_s", "W3": "batch1_short_ms",
                "W4": "mix_per_s", "W5": "pairs_per_s"}


def ceiling(results: Results, model: str, dtype: str, workload: str) -> float | None:
    """The in-process figure a workload is divided by (W5: the reranker's)."""
    if workload == "W5":
        model = "minilm-reranker" if model == "minilm" else model
    found = results["ceilings"].get(f"{model}/{dtype}") or {}
    value: float | None = found.get(CEILING_KEYS[workload])
    return value


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def _model_of(workload: str, model: str) -> str:
    return "minilm" if model == "minilm-reranker" else model


def table(results: Results) -> str:
    """One row per server: each workload's figure and its ratio to the same-dtype
    in-process ceiling (W3: p50 latency and the difference to the batch-1 latency)."""
    names = sorted({w for row in results["servers"] for w in row["workloads"]})
    header = f"{'server (peer/model/dtype)':<34}{'cold s':>7}{'RSS MB':>8}"
    header += "".join(f"{n + (' p50 ms' if n == 'W3' else ' /s'):>20}" for n in names)
    lines = [header, "-" * len(header)]
    for row in results["servers"]:
        label = f"{row['peer']}/{row['model']}/{row['dtype']}"
        cold = "fail" if row["cold_start_s"] is None else f"{row['cold_start_s']:.1f}"
        cells = f"{label:<34}{cold:>7}{row['peak_rss_mb']:>8.0f}"
        for name in names:
            value = metric(row, name)
            limit = ceiling(results, _model_of(name, row["model"]), row["dtype"], name)
            if value is None:
                cells += f"{'-':>20}"
            elif name == "W3":
                delta = "" if limit is None else f" ({value - limit:+.1f})"
                cells += f"{value:>10.1f}{delta:>10}"
            else:
                ratio = _ratio(value, limit)
                shown = "" if ratio is None else f" ({ratio:.2f}x)"
                cells += f"{value:>11.1f}{shown:>9}"
        lines.append(cells)
    for key, found in sorted(results["ceilings"].items()):
        floor = found.get("load_floor_s")
        cells = f"{'ceiling/' + key:<34}{'' if floor is None else f'{floor:.1f}':>7}{'':>8}"
        for name in names:
            value = found.get(CEILING_KEYS[name])
            cells += f"{'-':>20}" if value is None else f"{value:>11.1f}{'':>9}"
        lines.append(cells)
    return "\n".join(lines)


def best_float32_peer(results: Results, model: str, workload: str) -> tuple[str, float | None]:
    best: tuple[str, float | None] = ("none", None)
    for peer in ("aws", "infinity", "fifo"):
        value = metric(server(results, peer, model, "float32"), workload)
        if value is not None and (best[1] is None or value > best[1]):
            best = (peer, value)
    return best


def versus_peers(results: Results) -> str:
    """Per model and workload: ours in each dtype against the best float32 peer
    (W3: the peer with the lowest p50, and the ratio of latencies, lower is better)."""
    lines = []
    for model, names in (("minilm", ("W1", "W2", "W3", "W4", "W5")), ("bert-base", ("W1", "W2"))):
        for name in names:
            peers = []
            for peer in ("aws", "infinity", "fifo"):
                value = metric(server(results, peer, _served(model, name), "float32"), name)
                if value is not None:
                    peers.append((peer, value))
            if not peers:
                continue
            pick = min if name == "W3" else max
            best_peer, best = pick(peers, key=lambda item: item[1])
            cells = []
            for peer, dtype in (("ours", "float32"), ("ours", "bfloat16"),
                                ("ours-onnx", "float32"), ("ours-openvino", "float32"),
                                ("ours-openvino", "bfloat16"), ("ours-auto", "float32"),
                                ("ours-auto", "bfloat16")):
                ours = metric(server(results, peer, _served(model, name), dtype), name)
                if ours is not None:
                    cells.append(f"{peer} {dtype} {ours / best:.2f}x")
            if cells:
                lines.append(f"  {model} {name}: {', '.join(cells)} the best float32 peer "
                             f"({best_peer}, {best:.1f}{' ms' if name == 'W3' else '/s'})")
    return "\n".join(lines)


def _served(model: str, workload: str) -> str:
    """The model a server row carries for a workload (W5 runs on the reranker)."""
    return "minilm-reranker" if workload == "W5" and model == "minilm" else model


def targets(results: Results) -> list[Target]:
    ours32 = server(results, "ours", "minilm", "float32")
    ours16 = server(results, "ours", "minilm", "bfloat16")
    found: list[Target] = []
    for name, goal in (("W1", 1.0), ("W2", 0.95)):
        value = _ratio(metric(ours32, name), ceiling(results, "minilm", "float32", name))
        found.append(Target(f"float32 {name} / in-process batch-32 ceiling", value, goal))
    w3, b1 = metric(ours32, "W3"), ceiling(results, "minilm", "float32", "W3")
    found.append(Target("float32 W3 p50 - in-process batch-1 latency",
                        None if w3 is None or b1 is None else w3 - b1, W3_ALLOWANCE_MS,
                        higher_is_better=False, unit=" ms"))
    peer, best = best_float32_peer(results, "minilm", "W1")
    found.append(Target(f"bfloat16 W1 / best float32 peer ({peer})",
                        _ratio(metric(ours16, "W1"), best), 1.9))
    gemm = results.get("gemm", {}).get("bfloat16")
    flops = (results["ceilings"].get("minilm/bfloat16") or {}).get("forward_flops_seed")
    gemm_bound = None if gemm is None or not flops else gemm / flops
    found.append(Target("bfloat16 W1 / bf16 matrix-product ceiling",
                        _ratio(metric(ours16, "W1"), gemm_bound), 0.75))
    for dtype, row in (("float32", ours32), ("bfloat16", ours16)):
        fifo = server(results, "fifo", "minilm", dtype)
        found.append(Target(f"{dtype} W4 / FIFO padded batcher",
                            _ratio(metric(row, "W4"), metric(fifo, "W4")), 1.3))
    base16 = server(results, "ours", "bert-base", "bfloat16")
    aws_base = server(results, "aws", "bert-base", "float32")
    found.append(Target("BERT-base bfloat16 W1 / AWS toolkit",
                        _ratio(metric(base16, "W1"), metric(aws_base, "W1")), 1.8))
    for dtype, row in (("float32", ours32), ("bfloat16", ours16)):
        found.append(Target(f"cold start to serving /ping, MiniLM {dtype}",
                            None if row is None else row["cold_start_s"], 3.0,
                            higher_is_better=False, unit=" s"))
    found.append(Target("peak resident memory, MiniLM float32",
                        None if ours32 is None else ours32["peak_rss_mb"], 600,
                        higher_is_better=False, unit=" MB"))
    return found


def _figure(value: float | None, unit: str) -> str:
    return "n/a" if value is None else f"{value:.1f}{unit}"


def onnx_targets(results: Results) -> list[Target]:
    """Issue 15: ours-onnx (BACKEND=onnx) against yardsticks of the same run: the bare
    transformers load floor, the in-process torch batch-1 pass, and ours on torch. The
    names carry both figures, so a miss reads with its size."""
    onnx = server(results, "ours-onnx", "minilm", "float32")
    torch = server(results, "ours", "minilm", "float32")
    floor = (results["ceilings"].get("minilm/float32") or {}).get("load_floor_s")
    cold = None if onnx is None else onnx["cold_start_s"]
    found = [
        Target("onnx cold start to serving /ping", cold, ONNX_COLD_START_S,
               higher_is_better=False, unit=" s"),
        Target(f"onnx cold start / bare transformers load floor ({_figure(cold, ' s')} vs "
               f"{_figure(floor, ' s')})", _ratio(cold, floor), ONNX_COLD_START_VS_FLOOR,
               higher_is_better=False),
    ]
    w3, b1 = metric(onnx, "W3"), ceiling(results, "minilm", "float32", "W3")
    found.append(Target(f"onnx W3 p50 / in-process torch batch-1 ({_figure(w3, ' ms')} vs "
                        f"{_figure(b1, ' ms')})", _ratio(w3, b1), 1.0,
                        higher_is_better=False))
    for name in ("W1", "W2", "W4"):
        ours_onnx, ours_torch = metric(onnx, name), metric(torch, name)
        found.append(Target(f"onnx {name} / ours on torch ({_figure(ours_onnx, '/s')} vs "
                            f"{_figure(ours_torch, '/s')})", _ratio(ours_onnx, ours_torch), 1.0))
    found.append(Target("onnx peak resident memory", None if onnx is None else
                        onnx["peak_rss_mb"], ONNX_PEAK_RSS_MB, higher_is_better=False,
                        unit=" MB"))
    return found


def fastest_path_targets(results: Results) -> list[Target]:
    """Issue 20: the auto path against the in-process ceilings of its dtype, every
    backend's lone-request latency, and peak memory per dtype."""
    found: list[Target] = []
    auto = next((r for r in results["servers"]
                 if (r["peer"], r["model"]) == ("ours-auto", "minilm")), None)
    if auto is not None:
        dtype = auto["dtype"]
        native = results["meta"].get("native_bfloat16", False)
        ceiling_dtype, w1_goal = (("bfloat16", AUTO_W1_VS_BFLOAT16_CEILING) if native
                                  else ("float32", AUTO_W1_VS_FLOAT32_CEILING))
        w1, limit = metric(auto, "W1"), ceiling(results, "minilm", ceiling_dtype, "W1")
        found.append(Target(f"auto ({dtype}) W1 / in-process {ceiling_dtype} ceiling "
                            f"({_figure(w1, '/s')} vs {_figure(limit, '/s')})",
                            _ratio(w1, limit), w1_goal))
        found.append(Target("auto cold start to serving /ping", auto["cold_start_s"],
                            AUTO_COLD_START_S, higher_is_better=False, unit=" s"))
        w4, limit4 = metric(auto, "W4"), ceiling(results, "minilm", dtype, "W4")
        found.append(Target(f"auto W4 / in-process {dtype} ceiling ({_figure(w4, '/s')} vs "
                            f"{_figure(limit4, '/s')})", _ratio(w4, limit4), AUTO_W4_VS_CEILING))
        # The ceiling above groups the whole mix by length; W4's clients keep only ten
        # requests in flight, so no server can. This one batches as a server could
        # (bench/ceiling.py: in_flight_batches); older runs lack it.
        in_flight = results["ceilings"].get(f"minilm/{dtype}", {}).get("mix_in_flight_per_s")
        if in_flight is not None:
            found.append(Target(f"auto W4 / the same, ten in flight ({_figure(in_flight, '/s')})",
                                _ratio(w4, in_flight), AUTO_W4_VS_CEILING))
    for row in results["servers"]:
        if row["peer"] not in ("ours", "ours-onnx", "ours-openvino", "ours-auto"):
            continue
        if row["model"] != "minilm":
            continue
        w3 = metric(row, "W3")
        b1 = ceiling(results, "minilm", row["dtype"], "W3")
        if w3 is not None:
            found.append(Target(f"{row['peer']} {row['dtype']} W3 p50 - in-process batch-1 "
                                f"({_figure(w3, ' ms')} vs {_figure(b1, ' ms')})",
                                None if b1 is None else w3 - b1, AUTO_W3_ALLOWANCE_MS,
                                higher_is_better=False, unit=" ms"))
        goal = {"bfloat16": BFLOAT16_PEAK_RSS_MB}.get(row["dtype"])
        if row["peer"] == "ours-onnx":
            goal = ONNX_PEAK_RSS_MB
        if goal is not None:
            found.append(Target(f"{row['peer']} {row['dtype']} peak resident memory",
                                row["peak_rss_mb"], goal, higher_is_better=False, unit=" MB"))
    for row in results["servers"]:
        if row["dtype"] != "int8":
            continue
        base = server(results, row["peer"], row["model"], "float32")
        w1, w1_base = metric(row, "W1"), metric(base, "W1")
        found.append(Target(f"{row['peer']} {row['model']} int8 W1 / float32 "
                            f"({_figure(w1, '/s')} vs {_figure(w1_base, '/s')})",
                            _ratio(w1, w1_base), INT8_W1_VS_FLOAT32))
    return found


def context(results: Results) -> list[str]:
    """What a target's yardstick leaves out, measured in the same run: the start-up of a
    bare transformers script (no server can start faster in the same environment) and
    the batch-1 pass after an idle gap (what a sequential client's passes are)."""
    lines = []
    for dtype in ("float32", "bfloat16"):
        found = results["ceilings"].get(f"minilm/{dtype}") or {}
        row = server(results, "ours", "minilm", dtype)
        floor = found.get("load_floor_s")
        if floor is not None and row is not None and row["cold_start_s"] is not None:
            lines.append(f"  MiniLM {dtype}: cold start {row['cold_start_s']:.2f} s; a bare "
                         f"transformers load + one pass {floor:.2f} s "
                         f"(ours {row['cold_start_s'] / floor:.2f}x that)")
        idle, w3 = found.get("batch1_short_after_idle_ms"), metric(row, "W3")
        if idle is not None and w3 is not None:
            lines.append(f"  MiniLM {dtype}: in-process batch-1 pass after 2 ms idle "
                         f"{idle:.1f} ms (back to back {found['batch1_short_ms']:.1f}); "
                         f"W3 p50 minus it {w3 - idle:+.1f} ms")
    return lines


CHART_COLORS = (("ours-onnx", "tab:green"), ("ours-openvino", "tab:purple"),
                ("ours-auto", "tab:red"), ("ours", "tab:blue"))


def chart(results: Results, path: Path) -> None:
    """One panel per workload for MiniLM (and one for BERT-base W1): each server's
    figure, with the in-process ceilings as lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = sorted({w for row in results["servers"] for w in row["workloads"]})
    panels = [(name, "minilm") for name in names]
    if any(row["model"] == "bert-base" for row in results["servers"]):
        panels.append(("W1", "bert-base"))
    figure, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4.8),
                                squeeze=False)
    for axis, (name, model) in zip(axes[0], panels, strict=True):
        rows = [(f"{r['peer']}\n{r['dtype']}", metric(r, name)) for r in results["servers"]
                if _model_of(name, r["model"]) == model and metric(r, name) is not None]
        labels = [label for label, _ in rows]
        colors = [next((color for prefix, color in CHART_COLORS if label.startswith(prefix)),
                       "tab:gray") for label in labels]
        axis.bar(range(len(rows)), [value or 0.0 for _, value in rows], color=colors)
        axis.set_xticks(range(len(rows)), labels, fontsize=7)
        title = WORKLOADS[cast(WorkloadName, name)].title
        axis.set_title(f"{name} {model}: {title}", fontsize=8)
        axis.set_ylabel("p50 ms (lower is better)" if name == "W3" else "inputs/s")
        for dtype, style in (("float32", "--"), ("bfloat16", ":")):
            limit = ceiling(results, model, dtype, name)
            if limit is not None:
                axis.axhline(limit, linestyle=style, color="black", linewidth=0.8,
                             label=f"in-process {dtype}")
        if axis.get_legend_handles_labels()[0]:
            axis.legend(fontsize=6)
    figure.suptitle(f"sagemaker-embeddings benchmark, {results['meta']['date']}, "
                    f"{results['meta']['cpu']}, {results['meta']['cores']} cores", fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


PEER_NAMES = {"ours-auto": "**ours-auto** (auto: the image default)",
              "ours-openvino": "**ours-openvino** (OpenVINO)",
              "ours-onnx": "**ours-onnx** (ONNX Runtime)", "ours": "**ours** (torch)",
              "fifo": "FIFO batcher", "aws": "AWS HF toolkit (MMS)",
              "infinity": "infinity-emb"}  # fmt: skip
# Markdown's usual signs for a missing figure and a ratio.
NONE = "\u2013"
TIMES = "\u00d7"


def markdown(results: Results) -> str:
    """README's table: one line per server and dtype (MiniLM W1-W5, BERT-base W1), the
    ratio to the same-dtype in-process ceiling in brackets, then the ceilings."""
    header = ("| server | dtype | cold start s | peak RSS MB | W1 inputs/s | W2 inputs/s | "
              "W3 p50 ms | W4 inputs/s | W5 pairs/s | BERT-base W1 inputs/s |")
    lines = [header, "|" + "---|" * 10]

    def cell(row: dict[str, Any] | None, model: str, name: str, dtype: str) -> str:
        value = metric(row, name)
        if value is None:
            return NONE
        if name == "W3":
            return f"{value:.1f}"
        limit = _ratio(value, ceiling(results, model, dtype, name))
        return f"{value:.1f}" + ("" if limit is None else f" ({limit:.2f}{TIMES})")

    seen: list[tuple[str, str]] = []
    for row in results["servers"]:
        key = (row["peer"], row["dtype"])
        if key not in seen and row["model"] not in NEW_KINDS:
            seen.append(key)
    for peer, dtype in sorted(seen, key=lambda k: (list(PEER_NAMES).index(k[0]), k[1])):
        minilm = server(results, peer, "minilm", dtype)
        reranker = server(results, peer, "minilm-reranker", dtype)
        base = server(results, peer, "bert-base", dtype)
        first = minilm or reranker or base
        assert first is not None
        cold = "fail" if first["cold_start_s"] is None else f"{first['cold_start_s']:.1f}"
        cells = [PEER_NAMES[peer], dtype, cold, f"{first['peak_rss_mb']:.0f}"]
        cells += [cell(minilm, "minilm", name, dtype) for name in ("W1", "W2", "W3", "W4")]
        cells += [cell(reranker, "minilm", "W5", dtype), cell(base, "bert-base", "W1", dtype)]
        lines.append("| " + " | ".join(cells) + " |")
    for dtype in ("float32", "bfloat16"):
        found = results["ceilings"].get(f"minilm/{dtype}")
        if not found:
            continue
        base = results["ceilings"].get(f"bert-base/{dtype}") or {}
        rerank = results["ceilings"].get(f"minilm-reranker/{dtype}") or {}
        floor = found.get("load_floor_s")
        values = [found.get(CEILING_KEYS[n]) for n in ("W1", "W2", "W3", "W4")]
        values += [rerank.get("pairs_per_s"), base.get("batch32_per_s")]
        cells = ["in-process torch ceiling", dtype,
                 "" if floor is None else f"{floor:.1f} (bare load)", ""]  # fmt: skip
        cells += [NONE if v is None else f"{v:.1f}" for v in values]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# Issue 21's kinds, each with the in-process reference it is measured against.
NEW_KINDS = {
    "qwen3-reranker-0.6b": ("causal-LM reranker, Qwen3-Reranker-0.6B shape",
                            "the model card's code, last-position logits only"),
    "minilm-colbert": ("ColBERT, MiniLM-L6 + 128-wide projection (PyLate layout)",
                       "PyLate 1.6.0: encode + rank.rerank"),
}  # fmt: skip


def new_kind_rows(results: Results) -> list[dict[str, Any]]:
    """W5 on each new kind, per dtype: ours, its reference in process, and the ratio."""
    rows = []
    for model, (kind, reference) in NEW_KINDS.items():
        for row in results["servers"]:
            if row["model"] != model or row["peer"] != "ours":
                continue
            found = results["ceilings"].get(f"{model}/{row['dtype']}") or {}
            value = metric(row, "W5")
            w5 = row["workloads"].get("W5") or {}
            rows.append({"model": model, "kind": kind, "reference": reference,
                         "dtype": row["dtype"], "pairs_per_s": value,
                         "p50_s": None if w5.get("p50_ms") is None else w5["p50_ms"] / 1000,
                         "requests": w5.get("requests"),
                         "reference_pairs_per_s": found.get("pairs_per_s"),
                         "card_pairs_per_s": found.get("card_pairs_per_s"),
                         "ratio": _ratio(value, found.get("pairs_per_s")),
                         "peak_rss_mb": row["peak_rss_mb"], "cold_start_s": row["cold_start_s"]})
    return rows


def new_kinds_text(results: Results) -> str:
    lines = []
    for r in new_kind_rows(results):
        ratio = "n/a" if r["ratio"] is None else f"{r['ratio']:.2f}x"
        ours = "n/a" if r["pairs_per_s"] is None else f"{r['pairs_per_s']:.1f}"
        theirs = r["reference_pairs_per_s"]
        lines.append(f"  {r['kind']} {r['dtype']}: ours {ours} pairs/s against "
                     f"{'n/a' if theirs is None else f'{theirs:.1f}'} ({r['reference']}): "
                     f"{ratio}; {r['requests']} requests, peak RSS {r['peak_rss_mb']:.0f} MB")
    return "\n".join(lines)


def markdown_new_kinds(results: Results) -> str:
    """README's table for issue 21's kinds: W5 pairs/s, ours against the reference."""
    lines = ["| model kind (shape) | dtype | ours W5 pairs/s | p50 s per request | "
             "reference in process, pairs/s | ours / reference | peak RSS MB |",
             "|" + "---|" * 7]
    for r in new_kind_rows(results):
        reference = r["reference_pairs_per_s"]
        cells = [r["kind"], r["dtype"],
                 NONE if r["pairs_per_s"] is None else f"{r['pairs_per_s']:.1f}",
                 NONE if r["p50_s"] is None else f"{r['p50_s']:.2f}",
                 NONE if reference is None else f"{reference:.1f} ({r['reference']})",
                 NONE if r["ratio"] is None else f"{r['ratio']:.2f}{TIMES}",
                 f"{r['peak_rss_mb']:.0f}"]  # fmt: skip
        if r["card_pairs_per_s"] is not None:
            cells[4] += f"; as the card writes it: {r['card_pairs_per_s']:.1f}"
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def chart_new_kinds(results: Results, path: Path) -> bool:
    """W5 pairs/s, ours against the reference, one panel per kind (their scales differ
    a hundredfold) with a bar pair per dtype; False when the run has no such rows."""
    rows = new_kind_rows(results)
    if not rows:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = list(dict.fromkeys(r["model"] for r in rows))
    figure, axes = plt.subplots(1, len(models), figsize=(4.6 * len(models), 4.4), squeeze=False)
    for axis, model in zip(axes[0], models, strict=True):
        mine = [r for r in rows if r["model"] == model]
        positions = range(len(mine))
        ours = [r["pairs_per_s"] or 0.0 for r in mine]
        theirs = [r["reference_pairs_per_s"] or 0.0 for r in mine]
        axis.bar([x - 0.2 for x in positions], ours, 0.4, label="ours (server, W5)",
                 color="tab:blue")
        axis.bar([x + 0.2 for x in positions], theirs, 0.4, label=mine[0]["reference"],
                 color="tab:gray")
        for x, r in zip(positions, mine, strict=True):
            if r["ratio"] is not None:
                axis.annotate(f"{r['ratio']:.2f}{TIMES}", (x - 0.2, ours[x]), ha="center",
                              va="bottom", fontsize=8)
        axis.set_xticks(list(positions), [r["dtype"] for r in mine])
        axis.set_title(mine[0]["kind"], fontsize=9)
        axis.set_ylabel("W5 pairs/s (higher is better)")
        axis.legend(fontsize=7, loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return True


def markdown_targets(results: Results) -> str:
    lines = ["| target (same run) | measured | goal | verdict |", "|---|---|---|---|"]
    for target in fastest_path_targets(results):
        sign = ">=" if target.higher_is_better else "<="
        value = "n/a" if target.value is None else f"{target.value:.2f}{target.unit}"
        verdict = {True: "met", False: "**missed**", None: "not measured"}[target.met]
        goal = f"{sign} {target.goal:g}{target.unit}"
        lines.append(f"| {target.name} | {value} | {goal} | {verdict} |")
    return "\n".join(lines)


if __name__ == "__main__":
    import argparse
    import json

    parser = argparse.ArgumentParser(
        prog="python -m bench.report",
        description="Print a bench.run result as README's markdown table and issue 20's "
        "target checks.",
    )
    parser.add_argument("result", type=Path, help="a bench/results/bench-*.json file")
    loaded = json.loads(parser.parse_args().result.read_text())
    print(markdown(loaded))
    print()
    print(markdown_targets(loaded))
    if new_kind_rows(loaded):
        print()
        print(markdown_new_kinds(loaded))
