"""The dtype "auto" picks, and what bfloat16 costs in accuracy on MiniLM (not timed)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pytest
import torch

from sagemaker_embeddings.engine.tokenize import InputTokenizer, load_tokenizer
from sagemaker_embeddings.models.capacity import Device, choose_dtype, cpu_flags
from sagemaker_embeddings.models.runner import ModelRunner
from sagemaker_embeddings.models.source import resolve_model_source
from sagemaker_embeddings.models.task import detect
from sagemaker_embeddings.settings import Settings
from tests.reference import SEED_TEXT, cosine

CPU: Device = "cpu"
CUDA: Device = "cuda"
ICE_LAKE = frozenset({"avx2", "avx512f", "avx512bw", "avx512_vnni"})
COOPER_LAKE = ICE_LAKE | {"avx512_bf16"}
SAPPHIRE_RAPIDS = ICE_LAKE | {"amx_tile", "amx_bf16", "amx_int8"}
BF16_COSINE_BOUND = 0.9999


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (COOPER_LAKE, "bfloat16"),
        (SAPPHIRE_RAPIDS, "bfloat16"),
        (ICE_LAKE, "float32"),
        (frozenset(), "float32"),
    ],
)
def test_auto_on_cpu_follows_native_bfloat16_support(flags: frozenset[str], expected: str) -> None:
    assert choose_dtype("auto", CPU, flags) == expected


def test_auto_on_gpu_is_float16() -> None:
    assert choose_dtype("auto", CUDA, frozenset()) == "float16"


@pytest.mark.parametrize(
    ("setting", "expected"),
    [("float32", "float32"), ("bfloat16", "bfloat16"), ("float16", "float16")],
)
@pytest.mark.parametrize("flags", [COOPER_LAKE, ICE_LAKE])
def test_an_explicit_dtype_always_wins(setting: str, expected: str, flags: frozenset[str]) -> None:
    assert choose_dtype(setting, CPU, flags) == expected
    assert choose_dtype(setting, CUDA, flags) == expected


def test_cpu_flags_reads_the_flags_line(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(
        "processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: fpu avx512f avx512_bf16\n\n"
        "processor\t: 1\nflags\t\t: fpu avx512f avx512_bf16\n"
    )
    assert cpu_flags(cpuinfo) == {"fpu", "avx512f", "avx512_bf16"}
    assert choose_dtype("auto", CPU, cpu_flags(cpuinfo)) == "bfloat16"


def test_cpu_flags_is_empty_without_cpuinfo(tmp_path: Path) -> None:
    assert cpu_flags(tmp_path / "missing") == frozenset()


def test_cpu_flags_reads_arm64_features(tmp_path: Path) -> None:
    (tmp_path / "arm").write_text("processor\t: 0\nFeatures\t: fp asimd bf16\n")
    assert cpu_flags(tmp_path / "arm") == {"fp", "asimd", "bf16"}
    assert choose_dtype("auto", CPU, cpu_flags(tmp_path / "arm")) == "float32"


def fixed_texts() -> list[str]:
    """100 deterministic texts of 1 to ~200 words cut from the seed text."""
    words = SEED_TEXT.split()
    texts = []
    for i in range(100):
        start = (37 * i) % len(words)
        length = 1 + (53 * i) % 200
        texts.append(" ".join((words + words)[start : start + length]))
    return texts


@cache
def minilm_embeddings(dtype: str) -> np.ndarray:
    """MiniLM embeddings through our runner (collate, forward, mean pooling) in ``dtype``."""
    settings = Settings(dtype=dtype)  # type: ignore[arg-type]
    source = resolve_model_source(settings)
    spec = detect(source.path, settings)
    tokenizer = InputTokenizer(load_tokenizer(source.path, False), spec)
    runner = ModelRunner(source, spec, settings)
    assert runner.dtype == getattr(torch, dtype)
    tokenized = tokenizer.encode(fixed_texts(), truncate=True)
    rows: list[np.ndarray] = []
    for start in range(0, len(tokenized), 25):
        chunk = tokenized[start : start + 25]
        batch = runner.collate([t.ids for t in chunk], [t.type_ids for t in chunk])
        rows.extend(runner.forward(batch, ["pooled"] * len(chunk)))
    return np.stack(rows)


def test_bfloat16_embeddings_match_float32_on_100_texts() -> None:
    reduced, full = minilm_embeddings("bfloat16"), minilm_embeddings("float32")
    assert reduced.shape == full.shape == (100, 384)
    worst = min(cosine(a, b) for a, b in zip(reduced, full, strict=True))
    assert worst >= BF16_COSINE_BOUND, f"worst cosine {worst:.6f} < {BF16_COSINE_BOUND}"
