"""PyLate, run by the Python of PyLate's own environment (bench/peers/environments.py):
it builds ColBERT models, is the tests' reference for them, and the in-process ceiling
of the ColBERT W5 row. Not imported by the project: this is the only way in.

    python pylate_script.py build BASE_DIR TARGET [DIM QUERY_LENGTH DOCUMENT_LENGTH]
    python pylate_script.py encode MODEL_DIR        # stdin: {"queries": [], "documents": []}
    python pylate_script.py ceiling MODEL_DIR DTYPE SECONDS   # stdin: {"query", "documents"}
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from typing import Any


def build(
    base: str, target: str, dim: str = "16", query_length: str = "24", document_length: str = "40"
) -> None:
    """PyLate's own layout from an encoder: its Dense projection (seeded), the [Q]/[D]
    markers added to the tokenizer, the lengths in config_sentence_transformers.json."""
    import torch
    from pylate import models

    torch.manual_seed(2)
    model = models.ColBERT(
        model_name_or_path=base,
        device="cpu",
        embedding_size=int(dim),
        query_length=int(query_length),
        document_length=int(document_length),
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


def ceiling(model_dir: str, dtype: str, seconds: str, request: dict[str, Any]) -> dict[str, Any]:
    """W5 in process, PyLate's way: encode the query and the passages (one batch each),
    then ``rank.rerank``; pairs per second, median over repeated runs."""
    import torch
    from pylate import models, rank

    model = models.ColBERT(
        model_name_or_path=model_dir, device="cpu", model_kwargs={"dtype": getattr(torch, dtype)}
    )
    documents = request["documents"]

    def step() -> object:
        with torch.inference_mode():
            query = model.encode([request["query"]], is_query=True, batch_size=1)
            passages = model.encode(documents, is_query=False, batch_size=len(documents))
            return rank.rerank([list(range(len(documents)))], query, [passages])

    step()  # warm-up
    durations: list[float] = []
    deadline = time.perf_counter() + float(seconds)
    while time.perf_counter() < deadline or len(durations) < 3:
        started = time.perf_counter()
        step()
        durations.append(time.perf_counter() - started)
    return {"pairs_per_s": len(documents) / statistics.median(durations), "runs": len(durations)}


def main() -> None:
    command, *args = sys.argv[1:]
    if command == "build":
        build(*args)
    elif command == "encode":
        json.dump(encode(args[0], json.load(sys.stdin)), sys.stdout)
    elif command == "ceiling":
        json.dump(ceiling(*args, json.load(sys.stdin)), sys.stdout)
    else:
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    main()
