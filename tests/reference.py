"""Reference outputs from sentence-transformers and transformers, and how we compare."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

COSINE_BOUND = 0.9999
SEED_TEXT = (Path(__file__).parent / "data" / "seed_text.txt").read_text().strip()


def cosine(a: Any, b: Any) -> float:
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(x @ y / (np.linalg.norm(x) * np.linalg.norm(y)))


def assert_close_rows(ours: Any, reference: Any, bound: float = COSINE_BOUND) -> None:
    assert len(ours) == len(reference)
    for row, (a, b) in enumerate(zip(ours, reference, strict=True)):
        assert len(a) == len(b), f"row {row}: width {len(a)} != {len(b)}"
        assert cosine(a, b) >= bound, f"row {row}: cosine {cosine(a, b)} < {bound}"


@cache
def sentence_transformer(path: str) -> Any:
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(path, device="cpu")


def st_encode(path: Path, texts: list[str], **kwargs: Any) -> np.ndarray:
    model = sentence_transformer(str(path))
    return np.asarray(model.encode(texts, convert_to_numpy=True, **kwargs))


def graph_backend() -> str:
    """What BACKEND=auto picks on this CPU for a folder with an ONNX file."""
    from sagemaker_embeddings.models.fastest_path import choose_path

    return choose_path("auto", "auto", True, gpu=False, openvino_installed=True).backend
