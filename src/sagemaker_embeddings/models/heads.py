"""sentence-transformers Dense modules, applied after pooling."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from safetensors.torch import load_file

from sagemaker_embeddings.errors import ModelLoadError
from sagemaker_embeddings.models.task import DenseLayer

# Activations are named by import path in the Dense config; only these well-known
# ones are accepted, so a config file can never make us import arbitrary code.
_ACTIVATIONS: dict[str, type[torch.nn.Module]] = {
    "torch.nn.modules.linear.Identity": torch.nn.Identity,
    "torch.nn.modules.activation.Tanh": torch.nn.Tanh,
    "torch.nn.modules.activation.ReLU": torch.nn.ReLU,
    "torch.nn.modules.activation.GELU": torch.nn.GELU,
    "torch.nn.modules.activation.Sigmoid": torch.nn.Sigmoid,
}


def build_dense_stack(
    layers: Sequence[DenseLayer], dtype: torch.dtype, device: torch.device, allow_pickle: bool
) -> torch.nn.Sequential:
    modules: list[torch.nn.Module] = []
    for layer in layers:
        activation = _ACTIVATIONS.get(layer.activation)
        if activation is None:
            raise ModelLoadError(
                f"{layer.path.name}: unsupported Dense activation {layer.activation!r}"
            )
        linear = torch.nn.Linear(layer.in_features, layer.out_features, bias=layer.bias)
        linear.load_state_dict(_dense_weights(layer, allow_pickle))
        modules += [linear, activation()]
    return torch.nn.Sequential(*modules).to(device=device, dtype=dtype).eval()


def _dense_weights(layer: DenseLayer, allow_pickle: bool) -> dict[str, torch.Tensor]:
    safetensors_path = layer.path / "model.safetensors"
    if safetensors_path.is_file():
        state = load_file(str(safetensors_path))
    elif (layer.path / "pytorch_model.bin").is_file() and allow_pickle:
        state = torch.load(layer.path / "pytorch_model.bin", map_location="cpu", weights_only=True)
    else:
        raise ModelLoadError(f"{layer.path.name} has no model.safetensors weights")
    # sentence-transformers stores the layer as `linear.weight` / `linear.bias`.
    return {key.removeprefix("linear."): value for key, value in state.items()}
