"""Batch transform in local mode through the real SDK v2: JSON Lines in, one line out per record.

``model.transformer(strategy="MultiRecord", assemble_with="Line",
accept="application/jsonlines").transform(data, content_type="application/jsonlines",
split_type="Line")``: local mode reads ``/execution-parameters``, packs lines into
MultiRecord bodies, POSTs them to /invocations and appends each answer to
``<input file>.out`` followed by a newline (AssembleWith=Line).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.reference import assert_close_rows, st_encode
from tests.sagemaker_local.conftest import ModelData, local_model

pytestmark = [pytest.mark.container, pytest.mark.sagemaker_local, pytest.mark.slow]

pytest.importorskip("sagemaker", minversion="2.257")

TEXTS = [f"Record {i}: {' '.join(['batch transform'] * (1 + i % 7))} {i}." for i in range(60)]
QUERIES = ["What is batch transform?", "What is a cheetah?", "Which record is first?"]


def transform(
    image: str, model_data: str, session: Any, records: list[Any], tmp_path: Path
) -> list[Any]:
    """Run a local batch transform over ``records`` (one JSON document per line)."""
    source, output = tmp_path / "input", tmp_path / "output"
    source.mkdir()
    (source / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    transformer = local_model(image, model_data, session).transformer(
        instance_count=1,
        instance_type="local",
        strategy="MultiRecord",
        assemble_with="Line",
        accept="application/jsonlines",
        output_path=f"file://{output}",
    )
    transformer.transform(
        f"file://{source}",
        content_type="application/jsonlines",
        split_type="Line",
        wait=True,
        logs=False,  # logs=True reads the job's CloudWatch logs, from AWS even in local mode
    )
    text = (output / "records.jsonl.out").read_text()
    # The server ends a JSON Lines answer with a newline and AssembleWith=Line adds one
    # after each answer, so each MultiRecord body's answers end with one empty line.
    lines = [line for line in text.split("\n") if line]
    assert text.endswith("\n")
    return [json.loads(line) for line in lines]


def test_embedder_texts_and_objects(
    cpu_image: str,
    model_data: ModelData,
    model_dirs: dict[str, Path],
    local_session: Any,
    tmp_path: Path,
) -> None:
    # Bare strings and {"inputs": ...} objects, mixed line by line.
    records = [text if i % 2 else {"inputs": text} for i, text in enumerate(TEXTS)]
    results = transform(cpu_image, model_data("embedder"), local_session, records, tmp_path)
    assert len(results) == len(TEXTS)
    assert all(len(result) == 1 for result in results)  # one vector per record, in order
    assert_close_rows([result[0] for result in results], st_encode(model_dirs["embedder"], TEXTS))


def test_reranker_query_texts(
    cpu_image: str,
    model_data: ModelData,
    model_dirs: dict[str, Path],
    local_session: Any,
    tmp_path: Path,
) -> None:
    from sentence_transformers import CrossEncoder

    records = [{"query": query, "texts": TEXTS[i::7][:5]} for i, query in enumerate(QUERIES)]
    results = transform(cpu_image, model_data("reranker"), local_session, records, tmp_path)
    assert len(results) == len(records)
    reference = CrossEncoder(str(model_dirs["reranker"]), device="cpu")
    for record, ranks in zip(records, results, strict=True):
        expected = reference.predict([(record["query"], text) for text in record["texts"]])
        assert [rank["index"] for rank in ranks] == list(np.argsort(-expected))
        for rank in ranks:
            assert rank["score"] == pytest.approx(float(expected[rank["index"]]), abs=1e-4)
