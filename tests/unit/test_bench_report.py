"""bench/: the rows on the ONNX file, their plan, and issue 15's and issue 20's target
checks, on made-up results.

The real figures come from `python -m bench.run`; these check the arithmetic and that
each target compares the rows it names, so a swapped row or yardstick fails here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from bench import report
from bench.run import parse_options, plan


def _row(
    peer: str, cold: float, rss: float, dtype: str = "float32", **figures: float
) -> dict[str, Any]:
    workloads = {
        name: {"requests": 10, "inputs_per_s": value, "p50_ms": value}
        for name, value in figures.items()
    }
    return {"peer": peer, "model": "minilm", "dtype": dtype, "cold_start_s": cold,
            "peak_rss_mb": rss, "workloads": workloads, "error": None}  # fmt: skip


def _results(onnx: dict[str, Any] | None) -> dict[str, Any]:
    torch = _row("ours", 5.5, 700, W1=19.0, W2=20.0, W3=15.6, W4=30.0)
    ceilings = {"minilm/float32": {"load_floor_s": 4.0, "batch1_short_ms": 9.7}}
    return {"servers": [torch] + ([onnx] if onnx else []), "ceilings": ceilings}


def _verdicts(results: dict[str, Any]) -> list[bool | None]:
    return [target.met for target in report.onnx_targets(results)]


def test_onnx_targets_compare_with_the_same_run() -> None:
    # Met: 1.5 s <= 2 s and <= 0.5 x 4 s; W3 8 ms <= 9.7; W1, W2 >= torch; RSS 300 MB.
    # Missed: W4 29 < 30 /s.
    onnx = _row("ours-onnx", 1.5, 300, W1=20.0, W2=20.0, W3=8.0, W4=29.0)
    targets = report.onnx_targets(_results(onnx))
    assert [t.met for t in targets] == [True, True, True, True, True, False, True]
    assert targets[1].value == pytest.approx(1.5 / 4.0)
    assert targets[2].value == pytest.approx(8.0 / 9.7)
    assert targets[5].value == pytest.approx(29.0 / 30.0)
    assert "29.0/s vs 30.0/s" in targets[5].name  # a miss reads with both figures
    assert "MISSED" in targets[5].line()


def test_onnx_targets_miss_on_slow_start_latency_and_memory() -> None:
    # 2.5 s > 2 s, 2.5 / 4.0 > 0.5; W3 10 ms > 9.7; RSS 450 > 400 MB.
    onnx = _row("ours-onnx", 2.5, 450, W1=25.0, W2=25.0, W3=10.0, W4=40.0)
    assert _verdicts(_results(onnx)) == [False, False, False, True, True, True, False]


def test_onnx_targets_without_the_row_are_not_measured() -> None:
    assert _verdicts(_results(None)) == [None] * 7


def test_plan_runs_the_onnx_rows_on_both_embedders_in_their_dtypes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import bench.run

    monkeypatch.setattr(bench.run, "auto_dtype", lambda: "bfloat16")
    options = parse_options(
        ["--peers", "ours,ours-onnx,ours-openvino,ours-auto", "--models", "minilm,bert-base",
         "--dtypes", "float32,bfloat16", "--cache", str(Path("/nonexistent"))]
    )  # fmt: skip
    rows = [(p.peer, p.model, p.dtype, p.workloads) for p in plan(options)]
    minilm, bert = ("W1", "W2", "W3", "W4"), ("W1",)
    assert [r for r in rows if r[0] == "ours-onnx"] == [
        ("ours-onnx", "minilm", "float32", minilm),
        ("ours-onnx", "bert-base", "float32", bert),
    ]
    assert [r for r in rows if r[0] == "ours-openvino"] == [
        ("ours-openvino", "minilm", "float32", minilm),
        ("ours-openvino", "minilm", "bfloat16", minilm),
        ("ours-openvino", "bert-base", "float32", bert),
        ("ours-openvino", "bert-base", "bfloat16", bert),
    ]
    assert [r[1:3] for r in rows if r[0] == "ours-auto"] == [
        ("minilm", "bfloat16"),
        ("bert-base", "bfloat16"),
    ]
    assert not any(r[1] == "minilm-reranker" and r[0] != "ours" for r in rows)


def _fastest(native: bool, *rows: dict[str, Any]) -> list[report.Target]:
    ceilings = {
        "minilm/float32": {"batch32_per_s": 20.0, "batch1_short_ms": 3.0, "mix_per_s": 40.0},
        "minilm/bfloat16": {"batch32_per_s": 60.0, "batch1_short_ms": 2.0, "mix_per_s": 100.0},
    }
    results = {"servers": list(rows), "ceilings": ceilings,
               "meta": {"native_bfloat16": native}}  # fmt: skip
    return report.fastest_path_targets(results)


def test_fastest_path_targets_use_the_ceiling_of_the_cpu_and_dtype() -> None:
    # Native bfloat16: W1 57 / 60 = 0.95 (met); cold 1.2 s; W4 90 / 100 = 0.9 (met);
    # W3 3.5 - 2.0 = 1.5 ms (missed); RSS 500 <= 600 MB.
    auto = _row("ours-auto", 1.2, 500, "bfloat16", W1=57.0, W3=3.5, W4=90.0)
    targets = _fastest(True, auto)
    assert [t.met for t in targets] == [True, True, True, False, True]
    assert targets[0].value == pytest.approx(0.95)
    assert "bfloat16 ceiling (57.0/s vs 60.0/s)" in targets[0].name
    assert targets[3].value == pytest.approx(1.5)
    # Without native bfloat16 the goal is 1.1 x the float32 ceiling: 21 / 20 < 1.1.
    auto32 = _row("ours-auto", 2.0, 300, W1=21.0, W3=3.9, W4=36.0)
    assert [t.met for t in _fastest(False, auto32)] == [False, False, True, True]


def test_fastest_path_targets_check_every_backend_and_int8() -> None:
    onnx = _row("ours-onnx", 0.9, 410, W1=15.0, W3=3.5)
    int8 = _row("ours-onnx", 0.9, 300, "int8", W1=31.0)
    torch16 = _row("ours", 4.0, 800, "bfloat16", W3=2.5)
    names = [(t.name.split(" (")[0], t.met) for t in _fastest(True, onnx, int8, torch16)]
    assert names == [
        ("ours-onnx float32 W3 p50 - in-process batch-1", True),
        ("ours-onnx float32 peak resident memory", False),
        ("ours-onnx int8 peak resident memory", True),
        ("ours bfloat16 W3 p50 - in-process batch-1", True),
        ("ours bfloat16 peak resident memory", False),
        ("ours-onnx minilm int8 W1 / float32", True),
    ]


def test_new_kinds_run_w5_on_our_torch_server_only() -> None:
    options = parse_options(
        ["--peers", "ours,ours-onnx,fifo,infinity",
         "--models", "qwen3-reranker-0.6b,minilm-colbert",
         "--dtypes", "float32", "--cache", str(Path("/nonexistent"))]
    )  # fmt: skip
    rows = [(p.peer, p.model, p.workloads) for p in plan(options)]
    assert rows == [
        ("ours", "qwen3-reranker-0.6b", ("W5",)),
        ("ours", "minilm-colbert", ("W5",)),
    ]


def test_new_kinds_are_divided_by_their_own_reference(tmp_path: Path) -> None:
    def row(model: str, pairs: float) -> dict[str, Any]:
        return {**_row("ours", 9.0, 3000, W5=pairs), "model": model}

    results = {
        "servers": [row("qwen3-reranker-0.6b", 1.0), row("minilm-colbert", 60.0)],
        "ceilings": {
            "qwen3-reranker-0.6b/float32": {"pairs_per_s": 1.25, "card_pairs_per_s": 0.5},
            "minilm-colbert/float32": {"pairs_per_s": 30.0},
        },
    }
    found = {r["model"]: r["ratio"] for r in report.new_kind_rows(results)}
    assert found == {"qwen3-reranker-0.6b": pytest.approx(0.8), "minilm-colbert": 2.0}
    table = report.markdown_new_kinds(results)
    assert f"0.80{report.TIMES}" in table
    assert f"2.00{report.TIMES}" in table
    assert "as the card writes it: 0.5" in table
    # README's main table skips these rows instead of failing on them.
    assert report.markdown(results).count("\n") == 1
    assert report.chart_new_kinds(results, tmp_path / "chart.png")
    assert (tmp_path / "chart.png").stat().st_size > 0
