"""PyLate as the reference for ColBERT models; run by the PyLate environment's Python.

PyLate pins sentence-transformers and transformers versions other than ours, so it
lives in its own environment (tests/harness/pylate_env.py) and this script is its
only entry point. Not a test module: pytest never imports it.

    python reference_pylate.py build BASE_DIR TARGET   # a PyLate model from an encoder
    python reference_pylate.py encode MODEL_DIR         # stdin: {"queries", "documents"}
"""

from __future__ import annotations

import json
import sys
from typing import Any


def build(base: str, target: str) -> None:
    """PyLate's own layout: its Dense projection, [Q]/[D] markers added to the
    tokenizer, query and document lengths in config_sentence_transformers.json."""
    import torch
    from pylate import models

    torch.manual_seed(2)
    model = models.ColBERT(
        model_name_or_path=base,
        device="cpu",
        embedding_size=16,
        query_length=24,
        document_length=40,
    )
    model.save(target)


def encode(model_dir: str, request: dict[str, Any]) -> dict[str, Any]:
    """Token vectors of queries and documents as PyLate encodes them, and the MaxSim
    score of every (query, document) pair from PyLate's ``colbert_scores``.

    Each pair is scored on the document's own vectors. Padded documents would change
    short documents' scores: PyLate gives padding a score of 0 (``rank.rerank`` pads
    with zero vectors, ``documents_mask`` multiplies by 0), so a query token whose best
    match is negative would get 0 instead. Stanford's ColBERT excludes padding."""
    import torch
    from pylate import models
    from pylate.scores import colbert_scores

    model = models.ColBERT(model_name_or_path=model_dir, device="cpu")
    queries = model.encode(request["queries"], is_query=True, batch_size=4)
    documents = model.encode(request["documents"], is_query=False, batch_size=4)
    scores = [
        [
            float(colbert_scores(torch.as_tensor(q)[None], torch.as_tensor(d)[None])[0, 0])
            for d in documents
        ]
        for q in queries
    ]
    return {
        "queries": [q.tolist() for q in queries],
        "documents": [d.tolist() for d in documents],
        "scores": scores,
        "query_length": model.query_length,
        "document_length": model.document_length,
    }


def main() -> None:
    command, *args = sys.argv[1:]
    if command == "build":
        build(*args)
    elif command == "encode":
        json.dump(encode(args[0], json.load(sys.stdin)), sys.stdout)
    else:
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    main()
