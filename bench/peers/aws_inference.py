"""The ``code/inference.py`` a user of the SageMaker Hugging Face toolkit writes to get
pooled sentence embeddings: the toolkit's own feature-extraction task returns one vector
per token, so users override ``model_fn`` and ``predict_fn`` (mean pooling, then L2
normalisation, as the sentence-transformers model cards show).

Written for the benchmark; it runs inside the toolkit's own virtual environment.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812
from transformers import AutoModel, AutoTokenizer


def model_fn(model_dir: str) -> tuple[Any, Any]:
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir).eval()
    return model, tokenizer


def mean_pooling(token_embeddings: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    mask = attention_mask.unsqueeze(-1).expand(token_embeddings.size()).float()
    summed = torch.sum(token_embeddings * mask, 1)
    return summed / torch.clamp(mask.sum(1), min=1e-9)


def predict_fn(data: dict[str, Any], model_and_tokenizer: tuple[Any, Any]) -> list[list[float]]:
    model, tokenizer = model_and_tokenizer
    sentences = data.pop("inputs", data)
    encoded = tokenizer(sentences, padding=True, truncation=True, return_tensors="pt")
    with torch.no_grad():
        output = model(**encoded)
    embeddings = mean_pooling(output[0], encoded["attention_mask"])
    embeddings = F.normalize(embeddings, p=2, dim=1)
    vectors: list[list[float]] = embeddings.tolist()
    return vectors
