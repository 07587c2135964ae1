"""bge-m3's lexical (sparse) and multi-vector (ColBERT) heads, fed by the same forward
pass as the dense vector.

BAAI/bge-m3 ships ``sparse_linear.pt`` (a Linear from the hidden size to 1) beside its
weights. A token's weight is ReLU(linear(its hidden state)); a text's sparse vector
holds, per vocabulary id, the largest weight of that id's tokens, with the CLS, EOS,
padding and unknown tokens dropped. That is FlagEmbedding's BGEM3FlagModel rule, which
tests/e2e/test_m3.py checks against the library itself.

``colbert_linear.pt`` maps each token's hidden state after CLS to a vector, normalized:
the text's ColBERT vectors, one per token (its closing token included, padding not).

The files are torch pickles; they are read with ``weights_only=True``, which loads
tensors and nothing that can run code.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from sagemaker_embeddings.errors import ModelLoadError

if TYPE_CHECKING:  # task detection reads this module's file names without torch
    import torch

SPARSE_HEAD_FILE = "sparse_linear.pt"
COLBERT_HEAD_FILE = "colbert_linear.pt"
# FlagEmbedding drops these special tokens from the lexical weights (by their
# tokenizer's attribute names); <mask> never appears in a text.
DROPPED_SPECIAL_TOKENS = ("cls_token", "eos_token", "pad_token", "unk_token")


def has_sparse_head(model_dir: Path) -> bool:
    return (model_dir / SPARSE_HEAD_FILE).is_file()


def has_colbert_head(model_dir: Path) -> bool:
    return (model_dir / COLBERT_HEAD_FILE).is_file()


def load_linear(path: Path, hidden_size: int, dtype: torch.dtype, device: torch.device) -> Any:
    """A torch Linear from a pickled state dict (weights only), its width from the file."""
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        weight = state["weight"]
        linear = torch.nn.Linear(hidden_size, int(weight.shape[0]), bias="bias" in state)
        linear.load_state_dict(state)
    # Start-up boundary: any unreadable or mis-shaped head file stops the load.
    except Exception as exc:
        raise ModelLoadError(f"cannot load {path.name}: {exc}") from exc
    return linear.to(device=device, dtype=dtype).eval()


class M3ColbertHead:
    """Token states -> normalized ColBERT vectors of the tokens after CLS."""

    def __init__(
        self, model_dir: Path, hidden_size: int, dtype: torch.dtype, device: torch.device
    ) -> None:
        self.linear = load_linear(model_dir / COLBERT_HEAD_FILE, hidden_size, dtype, device)

    def __call__(self, states: torch.Tensor) -> torch.Tensor:
        """``states``: one text's real tokens, [tokens, hidden]."""
        import torch

        vectors = self.linear(states[1:]).float()
        return torch.nn.functional.normalize(vectors, dim=-1)


class M3SparseHead:
    """The loaded head: token weights -> one vocabulary-wide vector per text."""

    def __init__(
        self,
        model_dir: Path,
        hidden_size: int,
        vocab_size: int,
        dtype: torch.dtype,
        device: torch.device,
    ) -> None:
        import torch

        self.linear = load_linear(model_dir / SPARSE_HEAD_FILE, hidden_size, dtype, device)
        self.vocab_size = vocab_size
        self.dropped = torch.tensor(_dropped_ids(model_dir), dtype=torch.long, device=device)

    def __call__(
        self, hidden: torch.Tensor, input_ids: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        """[batch, vocab] float32: the max weight per id; zero for absent or dropped ids."""
        import torch

        weights = torch.relu(self.linear(hidden)).squeeze(-1).float() * mask.float()
        sparse = torch.zeros(input_ids.shape[0], self.vocab_size, device=hidden.device)
        sparse = sparse.scatter_reduce(1, input_ids, weights, reduce="amax")
        sparse[:, self.dropped] = 0.0
        return sparse


def _dropped_ids(model_dir: Path) -> list[int]:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    ids = []
    for name in DROPPED_SPECIAL_TOKENS:
        token_id = getattr(tokenizer, f"{name}_id", None)
        if isinstance(token_id, int):
            ids.append(token_id)
    return ids
