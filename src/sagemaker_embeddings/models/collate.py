"""Token ids -> one right-padded batch of numpy arrays, for either backend."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PaddedBatch:
    input_ids: np.ndarray  # int64 [batch, width]
    attention_mask: np.ndarray  # int64 [batch, width]: 1 for real tokens
    token_type_ids: np.ndarray | None  # int64 [batch, width], for models that take them
    lengths: tuple[int, ...]


def pad_batch(
    ids: Sequence[Sequence[int]],
    type_ids: Sequence[Sequence[int]],
    pad_token_id: int,
    with_type_ids: bool,
) -> PaddedBatch:
    lengths = tuple(len(x) for x in ids)
    width = max(lengths)
    input_ids = np.full((len(ids), width), pad_token_id, dtype=np.int64)
    mask = np.zeros((len(ids), width), dtype=np.int64)
    types = np.zeros((len(ids), width), dtype=np.int64) if with_type_ids else None
    for row, (tokens, segment) in enumerate(zip(ids, type_ids, strict=True)):
        input_ids[row, : len(tokens)] = tokens
        mask[row, : len(tokens)] = 1
        if types is not None:
            types[row, : len(segment)] = segment
    return PaddedBatch(input_ids, mask, types, lengths)
