"""Padding a pass: wide passes round up to a few widths, never past the model's limit."""

from __future__ import annotations

import numpy as np
import pytest

from sagemaker_embeddings.models.collate import EXACT_WIDTH_UP_TO, WIDTH_STEP, pad_batch


@pytest.mark.parametrize(
    ("longest", "limit", "width"),
    [
        (10, 512, 10),  # a short query is not padded further
        (EXACT_WIDTH_UP_TO, 512, EXACT_WIDTH_UP_TO),
        (EXACT_WIDTH_UP_TO + 1, 512, 48),
        (251, 512, 256),
        (256, 512, 256),
        (251, 254, 254),  # the limit caps the rounding
        (251, None, 251),  # no limit given: exact (GPU)
    ],
)
def test_width(longest: int, limit: int | None, width: int) -> None:
    batch = pad_batch([[7] * longest, [7] * 5], [[0] * longest, [1] * 5], 0, True, limit)
    assert batch.input_ids.shape == (2, width)
    assert batch.lengths == (longest, 5)
    # The mask, not the width, says which tokens are real.
    assert batch.attention_mask.sum(axis=1).tolist() == [longest, 5]
    assert (batch.input_ids[0, longest:] == 0).all()
    assert batch.token_type_ids is not None
    assert batch.token_type_ids[1].tolist() == [1] * 5 + [0] * (width - 5)


def test_widths_of_a_varied_workload_are_few() -> None:
    widths = {
        pad_batch([[1] * n], [[0] * n], 0, False, 512).input_ids.shape[1] for n in range(1, 513)
    }
    assert len(widths) == EXACT_WIDTH_UP_TO + (512 - EXACT_WIDTH_UP_TO) // WIDTH_STEP
    assert np.diff(sorted(widths)).max() == WIDTH_STEP
