"""BACKEND=auto / DTYPE=auto on CPU: the measured table, read for faked CPUs."""

from __future__ import annotations

from typing import Any

import pytest

from sagemaker_embeddings.models.cpu_kind import CPU_KINDS, cpu_kind, native_bfloat16
from sagemaker_embeddings.models.fastest_path import (
    CPU_DTYPES,
    ExecutionPath,
    choose_path,
    load_table,
)

HASWELL = frozenset({"sse4_2", "avx", "avx2", "fma"})
ICE_LAKE = HASWELL | {"avx512f", "avx512bw", "avx512_vnni"}
ZEN4 = ICE_LAKE | {"avx512_bf16"}
SAPPHIRE_RAPIDS = ZEN4 | {"amx_tile", "amx_bf16", "amx_int8"}
GRAVITON3 = frozenset({"fp", "asimd", "sve", "bf16", "i8mm"})


def row(backend: str, dtype: str) -> dict[str, Any]:
    return {"backend": backend, "dtype": dtype}


TABLE: dict[str, Any] = {
    "kinds": {
        "amx": {
            "measured_on": "test",
            "ranking": [
                row("openvino", "bfloat16"),
                row("torch", "bfloat16"),
                row("onnx", "float32"),
                row("torch", "float32"),
            ],
        },
        "avx512": {
            "measured_on": "test",
            "ranking": [
                row("openvino", "float32"),
                row("onnx", "float32"),
                row("torch", "float32"),
            ],
        },
    }
}


def choose(
    flags: frozenset[str],
    backend: str = "auto",
    dtype: str = "auto",
    onnx: bool = True,
    openvino: bool = True,
    machine: str = "x86_64",
    gpu: bool = False,
) -> tuple[str, str]:
    path = choose_path(
        backend,
        dtype,
        onnx,
        gpu=gpu,
        flags=flags,
        machine=machine,
        openvino_installed=openvino,
        table=TABLE,
    )
    return path.backend, path.dtype


@pytest.mark.parametrize(
    ("flags", "machine", "kind"),
    [
        (SAPPHIRE_RAPIDS, "x86_64", "amx"),
        (ZEN4, "x86_64", "avx512_bf16"),
        (ICE_LAKE, "x86_64", "avx512"),
        (HASWELL, "x86_64", "avx2"),
        (frozenset(), "x86_64", "other"),
        (GRAVITON3, "aarch64", "arm64"),
    ],
)
def test_cpu_kind_is_the_most_capable_the_flags_allow(
    flags: frozenset[str], machine: str, kind: str
) -> None:
    assert cpu_kind(flags, machine) == kind


def test_native_bfloat16_is_x86_amx_or_avx512_bf16() -> None:
    assert native_bfloat16(SAPPHIRE_RAPIDS)
    assert native_bfloat16(ZEN4)
    assert not native_bfloat16(ICE_LAKE)
    assert not native_bfloat16(GRAVITON3)  # arm64 "bf16": not what the table measured


def test_the_first_runnable_candidate_wins() -> None:
    assert choose(SAPPHIRE_RAPIDS) == ("openvino", "bfloat16")
    assert choose(SAPPHIRE_RAPIDS, openvino=False) == ("torch", "bfloat16")
    assert choose(SAPPHIRE_RAPIDS, onnx=False) == ("torch", "bfloat16")
    assert choose(ICE_LAKE) == ("openvino", "float32")
    assert choose(ICE_LAKE, openvino=False) == ("onnx", "float32")
    assert choose(ICE_LAKE, onnx=False) == ("torch", "float32")


def test_a_named_dtype_or_backend_narrows_the_ranking() -> None:
    assert choose(SAPPHIRE_RAPIDS, dtype="float32") == ("onnx", "float32")
    assert choose(SAPPHIRE_RAPIDS, backend="onnx") == ("onnx", "float32")
    assert choose(SAPPHIRE_RAPIDS, backend="torch") == ("torch", "bfloat16")
    assert choose(SAPPHIRE_RAPIDS, backend="torch", dtype="float32") == ("torch", "float32")
    assert choose(ICE_LAKE, dtype="bfloat16") == ("torch", "bfloat16")  # only torch emulates it


def test_a_named_backend_outside_the_ranking_gets_its_own_best_dtype() -> None:
    assert choose(ICE_LAKE, backend="openvino", openvino=False) == ("openvino", "float32")
    assert choose(SAPPHIRE_RAPIDS, backend="openvino", onnx=False) == ("openvino", "bfloat16")
    assert choose(ZEN4, backend="onnx") == ("onnx", "float32")


def test_a_kind_the_table_lacks_keeps_what_served_before_anything_was_measured() -> None:
    assert choose(HASWELL) == ("onnx", "float32")
    assert choose(HASWELL, onnx=False) == ("torch", "float32")
    assert choose(GRAVITON3, machine="aarch64") == ("onnx", "float32")
    assert choose(ZEN4, onnx=False) == ("torch", "bfloat16")  # dtype auto: native bfloat16
    why = choose_path(
        "auto",
        "auto",
        True,
        gpu=False,
        flags=HASWELL,
        machine="x86_64",
        openvino_installed=True,
        table=TABLE,
    ).why
    assert "nothing measured on avx2" in why


def test_gpus_run_torch_in_float16_unless_a_backend_is_named() -> None:
    assert choose(SAPPHIRE_RAPIDS, gpu=True) == ("torch", "float16")
    assert choose(SAPPHIRE_RAPIDS, gpu=True, dtype="bfloat16") == ("torch", "bfloat16")
    assert choose(SAPPHIRE_RAPIDS, gpu=True, backend="onnx") == ("onnx", "float32")


def test_the_shipped_table_is_what_the_bench_writes() -> None:
    """Every entry: a known kind, the machine it was measured on, runnable pairs ranked
    fastest first, each as correct as the bench's bar."""
    from bench.fastest_path import TIE

    table = load_table()
    assert table["written_by"].startswith("python -m bench.fastest_path")
    assert table["kinds"], "nothing measured: run python -m bench.fastest_path --write"
    for kind, entry in table["kinds"].items():
        assert kind in CPU_KINDS
        assert entry["measured_on"]
        assert entry["measured_at"]
        rates = [r["w1_per_s"] for r in entry["ranking"]]
        for place, rate in enumerate(rates):  # fastest first, up to the bench's tie band
            assert rate >= (1 - TIE) * max(rates[place:]), kind
        for ranked in entry["ranking"]:
            assert ranked["dtype"] in CPU_DTYPES[ranked["backend"]]
            assert ranked["worst_cosine"] >= 0.999


def test_the_path_names_where_its_choice_comes_from() -> None:
    path = choose_path(
        "auto",
        "auto",
        True,
        gpu=False,
        flags=SAPPHIRE_RAPIDS,
        machine="x86_64",
        openvino_installed=True,
        table=TABLE,
    )
    assert path == ExecutionPath("openvino", "bfloat16", "fastest measured on amx CPUs (test)")


def test_the_bench_ranks_by_throughput_and_breaks_ties_by_start_up() -> None:
    from bench.fastest_path import rank

    def measured(name: str, w1: float, first: float) -> dict[str, Any]:
        return {"backend": name, "w1_per_s": w1, "first_answer_s": first}

    rows = [measured("slow-start", 30.0, 6.0), measured("quick-start", 29.0, 1.0),
            measured("slower", 20.0, 0.5), measured("slowest", 10.0, 0.4)]  # fmt: skip
    # 29 is within 5 % of 30: a tie, won by the 1 s start; 20 is not within 5 % of 30.
    assert [r["backend"] for r in rank(rows)] == ["quick-start", "slow-start", "slower", "slowest"]
