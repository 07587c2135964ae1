"""Pooling, SPLADE and sentence-transformers Dense modules in numpy (the ONNX path).

The same arithmetic as models/pooling.py and models/heads.py, which run on torch
tensors; tests/e2e/test_onnx_backend.py checks both against sentence-transformers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
from safetensors.numpy import load_file

from sagemaker_embeddings.errors import ModelLoadError
from sagemaker_embeddings.models.task import DenseLayer
from sagemaker_embeddings.settings import Pooling

_erf = np.vectorize(math.erf, otypes=[np.float32])

# Activations are named by import path in the Dense config; only these are accepted.
_ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "torch.nn.modules.linear.Identity": lambda x: x,
    "torch.nn.modules.activation.Tanh": np.tanh,
    "torch.nn.modules.activation.ReLU": lambda x: np.maximum(x, 0),
    "torch.nn.modules.activation.GELU": lambda x: 0.5 * x * (1 + _erf(x / math.sqrt(2))),
    "torch.nn.modules.activation.Sigmoid": lambda x: 1 / (1 + np.exp(-x)),
}


def pool(hidden: np.ndarray, mask: np.ndarray, pooling: Pooling) -> np.ndarray:
    """Reduce ``hidden`` [batch, tokens, dim] to [batch, dim]; ``mask`` is [batch, tokens]."""
    pooled: np.ndarray
    if pooling == "cls":
        pooled = hidden[:, 0]
    elif pooling == "mean":
        weights = mask[..., None].astype(hidden.dtype)
        pooled = (hidden * weights).sum(1) / np.maximum(weights.sum(1), 1e-9)
    elif pooling == "max":
        filled = np.where(mask[..., None].astype(bool), hidden, np.finfo(hidden.dtype).min)
        pooled = filled.max(1)
    elif pooling == "last_token":
        # Right padding: the last real token sits at length - 1.
        pooled = hidden[np.arange(hidden.shape[0]), mask.sum(1) - 1]
    elif pooling == "splade":
        pooled = splade(hidden, mask)
    else:
        raise ValueError(f"unknown pooling {pooling!r}")
    return pooled


def splade(logits: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """SPLADE: max over tokens of log(1 + relu(MLM logits)); padding contributes nothing."""
    activations = np.log1p(np.maximum(logits, 0)) * mask[..., None].astype(logits.dtype)
    pooled: np.ndarray = activations.max(1)
    return pooled


class DenseStack:
    """sentence-transformers Dense modules (linear + activation), applied in order."""

    def __init__(self, layers: Sequence[DenseLayer]) -> None:
        self._layers: list[tuple[np.ndarray, np.ndarray | None, Callable[..., np.ndarray]]] = []
        for layer in layers:
            activation = _ACTIVATIONS.get(layer.activation)
            if activation is None:
                raise ModelLoadError(
                    f"{layer.path.name}: unsupported Dense activation {layer.activation!r}"
                )
            path = layer.path / "model.safetensors"
            if not path.is_file():
                raise ModelLoadError(f"{layer.path.name} has no model.safetensors weights")
            state = load_file(str(path))
            # sentence-transformers stores the layer as `linear.weight` / `linear.bias`.
            weight = state["linear.weight"].astype(np.float32).T
            bias = state["linear.bias"].astype(np.float32) if layer.bias else None
            self._layers.append((weight, bias, activation))

    def __call__(self, vectors: np.ndarray) -> np.ndarray:
        for weight, bias, activation in self._layers:
            vectors = vectors @ weight
            if bias is not None:
                vectors = vectors + bias
            vectors = activation(vectors)
        return vectors


def normalized(vectors: np.ndarray) -> np.ndarray:
    """Each row scaled to unit L2 norm, as torch's ``normalize`` does (with its epsilon)."""
    norms = np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-12)
    return np.asarray(vectors / norms, dtype=np.float32)
