"""Real-time endpoints through the real SDK v2 in local mode, one per task.

``HuggingFaceModel(image_uri=<the CPU image>, model_data="file://.../model.tar.gz",
env={"HF_MODEL_ID": "/opt/ml/model"}).deploy(1, "local")``, then ``predictor.predict``
with the seed table's payloads, checked against sentence-transformers and transformers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from tests.reference import assert_close_rows, st_encode
from tests.sagemaker_local.conftest import ModelData, local_model

pytestmark = [pytest.mark.container, pytest.mark.sagemaker_local, pytest.mark.slow]

pytest.importorskip("sagemaker", minversion="2.257")

QUERY = "What is Deep Learning?"
TEXTS = [
    "Deep learning is a subset of machine learning based on neural networks.",
    "A cheetah is running behind its prey.",
    "What is Deep Learning?",
]


def deploy(image: str, model_data: str, session: Any) -> Any:
    return local_model(image, model_data, session).deploy(
        initial_instance_count=1, instance_type="local"
    )


def test_embedder(
    cpu_image: str, model_data: ModelData, model_dirs: dict[str, Path], local_session: Any
) -> None:
    predictor = deploy(cpu_image, model_data("embedder"), local_session)
    try:
        one = predictor.predict({"inputs": QUERY})
        many = predictor.predict({"inputs": TEXTS})
        # CustomAttributes travel through the SDK and local mode to the container.
        attributes = {"CustomAttributes": "dimensions=64"}
        short = predictor.predict({"inputs": QUERY}, initial_args=attributes)
    finally:
        predictor.delete_endpoint()
    expected = st_encode(model_dirs["embedder"], [QUERY, *TEXTS])
    assert_close_rows(one, expected[:1])
    assert_close_rows(many, expected[1:])
    assert np.linalg.norm(many, axis=1) == pytest.approx(1.0, abs=1e-5)
    assert len(short[0]) == 64
    assert_close_rows([short[0]], [expected[0][:64]])


def test_reranker(
    cpu_image: str, model_data: ModelData, model_dirs: dict[str, Path], local_session: Any
) -> None:
    from sentence_transformers import CrossEncoder

    predictor = deploy(cpu_image, model_data("reranker"), local_session)
    try:
        ranks = predictor.predict({"query": QUERY, "texts": TEXTS})
    finally:
        predictor.delete_endpoint()
    expected = CrossEncoder(str(model_dirs["reranker"]), device="cpu").predict(
        [(QUERY, text) for text in TEXTS]
    )
    assert [rank["index"] for rank in ranks] == list(np.argsort(-expected))
    for rank in ranks:
        assert rank["score"] == pytest.approx(float(expected[rank["index"]]), abs=1e-4)


def test_classifier(
    cpu_image: str, model_data: ModelData, model_dirs: dict[str, Path], local_session: Any
) -> None:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    predictor = deploy(cpu_image, model_data("classifier"), local_session)
    try:
        single = predictor.predict({"inputs": QUERY})
        batch = predictor.predict({"inputs": [[TEXTS[0]], [TEXTS[1]]]})
    finally:
        predictor.delete_endpoint()
    path = model_dirs["classifier"]
    model = AutoModelForSequenceClassification.from_pretrained(path).eval()
    tokenizer = AutoTokenizer.from_pretrained(path)

    def reference(text: str) -> dict[str, float]:
        with torch.no_grad():
            logits = model(**tokenizer(text, return_tensors="pt")).logits[0]
        probabilities = torch.softmax(logits, -1).tolist()
        return {model.config.id2label[i]: p for i, p in enumerate(probabilities)}

    assert {p["label"]: p["score"] for p in single} == pytest.approx(reference(QUERY), abs=1e-5)
    for row, text in zip(batch, TEXTS[:2], strict=True):
        assert {p["label"]: p["score"] for p in row} == pytest.approx(reference(text), abs=1e-5)
