"""Task, pooling and limits detected from model files, as TEI decides them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sagemaker_embeddings.errors import ModelLoadError
from sagemaker_embeddings.models.task import detect
from sagemaker_embeddings.settings import Settings


def model(
    tmp_path: Path, config: dict[str, object], files: dict[str, object] | None = None
) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "config.json").write_text(json.dumps(config))
    for name, content in (files or {}).items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(content))
    return tmp_path


BERT = {"architectures": ["BertModel"], "model_type": "bert", "max_position_embeddings": 512}


def test_one_label_classifier_is_a_reranker(tmp_path: Path) -> None:
    config = {
        **BERT,
        "architectures": ["BertForSequenceClassification"],
        "id2label": {"0": "LABEL_0"},
    }
    spec = detect(model(tmp_path, config), Settings())
    assert (spec.task, spec.route, spec.pooling) == ("rerank", "rerank", None)


def test_several_labels_is_a_classifier(tmp_path: Path) -> None:
    labels = {"0": "neg", "1": "pos"}
    config = {**BERT, "architectures": ["BertForSequenceClassification"], "id2label": labels}
    spec = detect(model(tmp_path, config), Settings())
    assert (spec.task, spec.route) == ("classify", "predict")
    assert spec.id2label == {0: "neg", 1: "pos"}


def test_masked_lm_with_splade_pooling_is_sparse(tmp_path: Path) -> None:
    config = {**BERT, "architectures": ["BertForMaskedLM"]}
    spec = detect(model(tmp_path, config), Settings(pooling="splade"))
    assert (spec.task, spec.route, spec.pooling) == ("sparse", "embed_sparse", "splade")
    with pytest.raises(ModelLoadError, match="MaskedLM"):
        detect(model(tmp_path, BERT), Settings(pooling="splade"))


def test_pooling_sources_in_order(tmp_path: Path) -> None:
    pooling = {"1_Pooling/config.json": {"pooling_mode_mean_tokens": True}}
    assert detect(model(tmp_path, BERT, pooling), Settings()).pooling == "mean"
    assert detect(model(tmp_path, BERT, pooling), Settings(pooling="cls")).pooling == "cls"


def test_bert_family_defaults_to_cls_others_fail(tmp_path: Path) -> None:
    assert detect(model(tmp_path / "a", BERT), Settings()).pooling == "cls"
    llama = {
        "architectures": ["LlamaModel"],
        "model_type": "llama",
        "max_position_embeddings": 4096,
    }
    with pytest.raises(ModelLoadError, match="POOLING"):
        detect(model(tmp_path / "b", llama), Settings())


def test_max_input_length(tmp_path: Path) -> None:
    st = {"sentence_bert_config.json": {"max_seq_length": 256}}
    assert detect(model(tmp_path / "a", BERT, st), Settings()).max_input_length == 256
    roberta = {
        **BERT,
        "model_type": "xlm-roberta",
        "max_position_embeddings": 514,
        "pad_token_id": 1,
    }
    assert detect(model(tmp_path / "b", roberta), Settings()).max_input_length == 512
    big = {**BERT, "max_position_embeddings": 32768}
    assert detect(model(tmp_path / "c", big), Settings()).max_input_length == 16384
    with pytest.raises(ModelLoadError, match="MAX_BATCH_TOKENS"):
        detect(model(tmp_path / "c", big), Settings(auto_truncate=False))


def test_task_setting(tmp_path: Path) -> None:
    spec = detect(model(tmp_path, BERT), Settings(task="sentence-similarity"))
    assert (spec.task, spec.route) == ("embed", "similarity")
    with pytest.raises(ModelLoadError, match="TASK=rerank"):
        detect(model(tmp_path, BERT), Settings(task="rerank"))
