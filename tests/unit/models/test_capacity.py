"""The capacity policy: lanes, threads per lane and the token budget (no GPU needed)."""

from __future__ import annotations

import os

import pytest

from sagemaker_embeddings.models.capacity import (
    CPU_BATCH_TOKENS_FLOAT32,
    CPU_DEFAULT_LANES,
    batch_token_budget,
    cpu_threads,
    inference_lanes,
    threads_per_lane,
)


def test_batch_token_budget_by_device() -> None:
    cpu, gpu = "cpu", "cuda"
    f32, bf16 = "float32", "bfloat16"
    assert batch_token_budget(None, cpu, f32, 512) == CPU_BATCH_TOKENS_FLOAT32
    assert batch_token_budget(None, cpu, bf16, 512) == 2 * CPU_BATCH_TOKENS_FLOAT32
    assert batch_token_budget(None, cpu, f32, 8192) == 8192  # never below the longest input
    assert batch_token_budget(None, gpu, "float16", 512) == 16384  # TEI's default
    assert batch_token_budget(1000, cpu, bf16, 512) == 1000  # MAX_BATCH_TOKENS wins
    assert batch_token_budget(1000, gpu, f32, 512) == 1000


def test_lanes_share_the_cpu_token_budget() -> None:
    cpu, gpu, f32 = "cpu", "cuda", "float32"
    assert batch_token_budget(None, cpu, f32, 256, lanes=2) == CPU_BATCH_TOKENS_FLOAT32 // 2
    assert batch_token_budget(None, cpu, f32, 2048, lanes=4) == 2048  # the longest input
    assert batch_token_budget(None, gpu, f32, 512, lanes=2) == 16384


def test_inference_lanes_by_device() -> None:
    cpu, gpu = "cpu", "cuda"
    assert inference_lanes(None, cpu, 16) == CPU_DEFAULT_LANES
    assert inference_lanes(None, cpu, 1) == 1  # one thread cannot be shared by two lanes
    assert inference_lanes(None, gpu, 16) == 1  # one CUDA stream
    assert inference_lanes(3, cpu, 16) == 3  # INFERENCE_LANES wins
    assert threads_per_lane(cpu, 2, 16) == 8
    assert threads_per_lane(cpu, 4, 2) == 1  # never below one
    assert threads_per_lane(gpu, 1, 16) == 16


def test_cpu_threads_follow_omp_num_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert cpu_threads() == 3
    monkeypatch.setenv("OMP_NUM_THREADS", "none")  # not a count: the CPUs we may use
    assert cpu_threads() == len(os.sched_getaffinity(0))
