"""Causal-LM rerankers (Qwen3-Reranker): relevance is P("yes") against P("no") for the
next token after the model card's prompt.

The card scores a (query, document) pair as softmax(logit_yes, logit_no)[yes] at the last
position. That equals sigmoid(h . (w_yes - w_no)) for the last hidden state h and the
LM head's rows for the two tokens, so the model is loaded as a one-label sequence
classifier whose score vector is that difference (vLLM converts it the same way). The
engine then serves it like any cross-encoder reranker: the token budget, /rerank,
/invocations, sigmoid or raw logit.

Detection: a ``*ForCausalLM`` checkpoint with TASK=rerank, or one whose folder name
says "reranker" (Hub cache folders carry the repository name).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tokenizers import Encoding, Tokenizer

from sagemaker_embeddings.errors import ModelLoadError

# The Qwen3-Reranker card's prompt, split where the card splits it: the prefix and the
# suffix are tokenized on their own, the middle is what truncation may shorten.
PREFIX = (
    "<|im_start|>system\nJudge whether the Document meets the requirements based on the Query"
    ' and the Instruct provided. Note that the answer can only be "yes" or "no".<|im_end|>\n'
    "<|im_start|>user\n"
)
SUFFIX = "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
DEFAULT_INSTRUCTION = "Given a web search query, retrieve relevant passages that answer the query"
YES, NO = "yes", "no"


def is_causal_reranker(architectures: Sequence[str], model_dir: Path, task: str | None) -> bool:
    if not any(a.endswith("ForCausalLM") for a in architectures):
        return False
    return task == "rerank" or "reranker" in model_dir.resolve().name.lower()


def middle(query: str, document: str, instruction: str | None) -> str:
    instruct = instruction or DEFAULT_INSTRUCTION
    return f"<Instruct>: {instruct}\n<Query>: {query}\n<Document>: {document}"


class PromptEncoder:
    """(query, document) pairs -> the card's token ids: prefix + middle + suffix."""

    def __init__(self, tokenizer: Tokenizer, max_length: int, instruction: str | None) -> None:
        self.instruction = instruction
        self._prefix = tokenizer.encode(PREFIX, add_special_tokens=False)
        self._suffix = tokenizer.encode(SUFFIX, add_special_tokens=False)
        self.budget = max_length - len(self._prefix.ids) - len(self._suffix.ids)
        if self.budget < 1:
            raise ModelLoadError(f"a maximum length of {max_length} leaves no room for the prompt")
        self._whole = Tokenizer.from_str(tokenizer.to_str())
        self._whole.no_padding()
        self._whole.no_truncation()
        self._cut = Tokenizer.from_str(tokenizer.to_str())
        self._cut.no_padding()
        self._cut.enable_truncation(self.budget)

    def encode(
        self, pairs: Sequence[tuple[str, str]], truncate: bool, instruction: str | None = None
    ) -> list[Encoding]:
        """``instruction``: this request's; None: the server's (RERANK_INSTRUCTION), else
        the card's."""
        tokenizer = self._cut if truncate else self._whole
        instruction = instruction or self.instruction
        # The card tokenizes the middle with the tokenizer's own special tokens (Qwen's
        # adds none) and the prefix and suffix without.
        middles = tokenizer.encode_batch([middle(q, d, instruction) for q, d in pairs])
        return [Encoding.merge([self._prefix, m, self._suffix]) for m in middles]


def token_id(tokenizer: Tokenizer, token: str) -> int:
    found = tokenizer.token_to_id(token)
    if found is None:
        raise ModelLoadError(f"a causal-LM reranker needs the token {token!r} in its vocabulary")
    return int(found)


def yes_minus_no(model: Any, model_dir: Path, yes: int, no: int) -> Any:
    """The LM head's row for "yes" minus its row for "no", as a [1, hidden] tensor."""
    import torch

    config = model.config
    if getattr(config, "tie_word_embeddings", False):
        head = model.get_input_embeddings().weight
        return (head[yes] - head[no]).unsqueeze(0).detach().clone()
    rows = _untied_head_rows(model_dir, [yes, no])
    return (rows[0] - rows[1]).unsqueeze(0).to(torch.float32)


def _untied_head_rows(model_dir: Path, rows: list[int]) -> Any:
    import json

    import torch
    from safetensors import safe_open

    name = "lm_head.weight"
    index = model_dir / "model.safetensors.index.json"
    if index.is_file():
        shard = json.loads(index.read_text())["weight_map"].get(name)
        path = model_dir / str(shard)
    else:
        path = model_dir / "model.safetensors"
    try:
        with safe_open(str(path), framework="pt") as weights:
            head = weights.get_slice(name)
            return torch.cat([head[row : row + 1] for row in rows])
    # Start-up boundary: a missing file or tensor stops the load with its name.
    except Exception as exc:
        raise ModelLoadError(f"cannot read {name} from {path.name}: {exc}") from exc
