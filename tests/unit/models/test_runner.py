"""The torch runner's choices that need no GPU to check."""

from __future__ import annotations

import torch

from sagemaker_embeddings.models.runner import attention_candidates


def test_cpu_attention_is_sdpa_then_eager() -> None:
    assert attention_candidates(torch.device("cpu")) == ["sdpa", "eager"]
