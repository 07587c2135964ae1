"""The device seam's choices that need no GPU to check."""

from __future__ import annotations

import torch

from sagemaker_embeddings.models.runner import (
    CPU_BATCH_TOKENS_FLOAT32,
    attention_candidates,
    batch_token_budget,
)


def test_cpu_attention_is_sdpa_then_eager() -> None:
    assert attention_candidates(torch.device("cpu")) == ["sdpa", "eager"]


def test_batch_token_budget_by_device() -> None:
    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    f32, bf16 = torch.float32, torch.bfloat16
    assert batch_token_budget(None, cpu, f32, 512) == CPU_BATCH_TOKENS_FLOAT32
    assert batch_token_budget(None, cpu, bf16, 512) == 2 * CPU_BATCH_TOKENS_FLOAT32
    assert batch_token_budget(None, cpu, f32, 8192) == 8192  # never below the longest input
    assert batch_token_budget(None, gpu, torch.float16, 512) == 16384  # TEI's default
    assert batch_token_budget(1000, cpu, bf16, 512) == 1000  # MAX_BATCH_TOKENS wins
    assert batch_token_budget(1000, gpu, f32, 512) == 1000
