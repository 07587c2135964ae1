"""The int8 quality check's arithmetic and its labelled set (no model runs here)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from sagemaker_embeddings.models.int8_export import (
    MIN_TOP10_KEPT,
    compare,
    spearman_rows,
)
from sagemaker_embeddings.models.retrieval_set import QUERIES, retrieval_set


def test_every_query_has_passages_that_answer_it() -> None:
    data = retrieval_set()
    assert len(data.queries) == len(QUERIES) == len(data.relevant)
    assert all(data.relevant), [
        q for q, r in zip(data.queries, data.relevant, strict=True) if not r
    ]
    assert len(data.passages) > 150
    assert len(set(data.passages)) == len(data.passages)


def test_spearman_rows_is_scipys_per_row() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(5, 40))
    b = a + rng.normal(scale=0.5, size=a.shape)
    expected = [spearmanr(x, y).statistic for x, y in zip(a, b, strict=True)]
    assert spearman_rows(a, b) == pytest.approx(expected)


def _embeddings(seed: int, noise: float) -> tuple[np.ndarray, ...]:
    data = retrieval_set()
    rng = np.random.default_rng(seed)
    queries = rng.normal(size=(len(data.queries), 32))
    passages = rng.normal(size=(len(data.passages), 32))
    # Each query points at its first relevant passage, so labelled recall is defined.
    for row, relevant in enumerate(data.relevant):
        queries[row] += 3 * passages[min(relevant)]
    return (
        queries,
        passages,
        queries + rng.normal(scale=noise, size=queries.shape),
        passages + rng.normal(scale=noise, size=passages.shape),
    )


def test_the_same_embeddings_pass_with_every_neighbour_kept() -> None:
    q, p, _, _ = _embeddings(0, 0.0)
    quality = compare(retrieval_set(), q, p, q.copy(), p.copy())
    assert quality.passed
    assert (quality.top10_kept, quality.spearman_mean) == (1.0, 1.0)
    assert quality.recall10_float32 == quality.recall10_int8 == 1.0


def test_noise_that_reorders_neighbours_fails() -> None:
    quality = compare(retrieval_set(), *_embeddings(0, 0.3))
    assert not quality.passed
    assert quality.top10_kept < MIN_TOP10_KEPT
    assert "needs 0.99" in quality.line()
