"""Token ids -> one right-padded batch of numpy arrays, for either backend."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# Passes wider than this are padded to a multiple of WIDTH_STEP tokens. CPU kernels are
# built and cached per input shape (oneDNN's primitive cache under torch, OpenVINO's
# runtime cache), and a varied workload would otherwise fill the caches with one entry
# per width: under bench W4 (bfloat16, MiniLM) that was 130-270 MB of resident memory.
# Narrow passes stay exact: a lone short query pays for every padded token.
EXACT_WIDTH_UP_TO = 32
WIDTH_STEP = 16


@dataclass(frozen=True)
class PaddedBatch:
    input_ids: np.ndarray  # int64 [batch, width]
    attention_mask: np.ndarray  # int64 [batch, width]: 1 for real tokens
    token_type_ids: np.ndarray | None  # int64 [batch, width], for models that take them
    lengths: tuple[int, ...]
    masked: bool  # some position is not attended to: the model needs the mask


def pad_batch(
    ids: Sequence[Sequence[int]],
    type_ids: Sequence[Sequence[int]],
    pad_token_id: int,
    with_type_ids: bool,
    max_width: int | None = None,
    attended: Sequence[int | None] | None = None,
) -> PaddedBatch:
    """``max_width``: the model's input limit, which rounding never passes; None: exact.
    ``attended``: per row, how many leading tokens the model attends to (None: all of
    them), for ColBERT's expanded queries."""
    lengths = tuple(len(x) for x in ids)
    width = padded_width(max(lengths), max_width)
    input_ids = np.full((len(ids), width), pad_token_id, dtype=np.int64)
    mask = np.zeros((len(ids), width), dtype=np.int64)
    types = np.zeros((len(ids), width), dtype=np.int64) if with_type_ids else None
    for row, (tokens, segment) in enumerate(zip(ids, type_ids, strict=True)):
        input_ids[row, : len(tokens)] = tokens
        seen = attended[row] if attended is not None else None
        mask[row, : len(tokens) if seen is None else seen] = 1
        if types is not None:
            types[row, : len(segment)] = segment
    return PaddedBatch(input_ids, mask, types, lengths, masked=not bool(mask.all()))


def padded_width(longest: int, max_width: int | None) -> int:
    if max_width is None or longest <= EXACT_WIDTH_UP_TO:
        return longest
    rounded = -(-longest // WIDTH_STEP) * WIDTH_STEP
    return max(longest, min(rounded, max_width))
