"""Pooling of token states into one vector per input (inputs are right-padded)."""

from __future__ import annotations

import torch

from sagemaker_embeddings.settings import Pooling


def pool(hidden: torch.Tensor, mask: torch.Tensor, pooling: Pooling) -> torch.Tensor:
    """Reduce ``hidden`` [batch, tokens, dim] to [batch, dim]; ``mask`` is [batch, tokens]."""
    if pooling == "cls":
        return hidden[:, 0]
    if pooling == "mean":
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
    if pooling == "max":
        filled = hidden.masked_fill(~mask.bool().unsqueeze(-1), torch.finfo(hidden.dtype).min)
        return filled.max(1).values
    if pooling == "last_token":
        # Right padding: the last real token sits at length - 1.
        last = mask.sum(1).long() - 1
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
    if pooling == "splade":
        return splade(hidden, mask)
    raise ValueError(f"unknown pooling {pooling!r}")


def splade(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """SPLADE: max over tokens of log(1 + relu(MLM logits)); padding contributes nothing."""
    activations = torch.log1p(torch.relu(logits)) * mask.unsqueeze(-1).to(logits.dtype)
    return activations.max(1).values
