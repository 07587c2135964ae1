"""bge-m3's lexical (sparse) head: one weight per token from the same forward pass as
the dense vector.

BAAI/bge-m3 ships ``sparse_linear.pt`` (a Linear from the hidden size to 1) beside its
weights. A token's weight is ReLU(linear(its hidden state)); a text's sparse vector
holds, per vocabulary id, the largest weight of that id's tokens, with the CLS, EOS,
padding and unknown tokens dropped. That is FlagEmbedding's BGEM3FlagModel rule, which
tests/e2e/test_m3_sparse.py checks against the library itself.

The files are torch pickles; they are read with ``weights_only=True``, which loads
tensors and nothing that can run code.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

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

        path = model_dir / SPARSE_HEAD_FILE
        linear = torch.nn.Linear(hidden_size, 1)
        try:
            linear.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        # Start-up boundary: any unreadable or mis-shaped head file stops the load.
        except Exception as exc:
            raise ModelLoadError(f"cannot load {path.name}: {exc}") from exc
        self.linear = linear.to(device=device, dtype=dtype).eval()
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
