"""bench/: the ours-onnx row's plan and issue 15's target checks, on made-up results.

The real figures come from `python -m bench.run`; these check the arithmetic and that
each target compares the rows it names, so a swapped row or yardstick fails here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from bench import report
from bench.run import parse_options, plan


def _row(peer: str, cold: float, rss: float, **figures: float) -> dict[str, Any]:
    workloads = {
        name: {"requests": 10, "inputs_per_s": value, "p50_ms": value}
        for name, value in figures.items()
    }
    return {"peer": peer, "model": "minilm", "dtype": "float32", "cold_start_s": cold,
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


def test_plan_runs_ours_onnx_on_minilm_float32_only() -> None:
    options = parse_options(
        ["--peers", "ours,ours-onnx", "--models", "minilm,bert-base",
         "--dtypes", "float32,bfloat16", "--cache", str(Path("/nonexistent"))]
    )  # fmt: skip
    onnx = [(p.model, p.dtype, p.workloads) for p in plan(options) if p.peer == "ours-onnx"]
    assert onnx == [("minilm", "float32", ("W1", "W2", "W3", "W4"))]
