"""Task detection from the model's files, as TEI does it (no torch needed here).

An architecture ending in ``ForSequenceClassification`` with one label is a reranker,
with more a classifier; a ``*ForCausalLM`` reranker (models/causal_rerank.py) is a
reranker too; ``*ForMaskedLM`` with splade pooling is a sparse embedder;
anything else is an embedder whose pooling comes from POOLING, ``1_Pooling``, or CLS
for the BERT family. An embedder with bge-m3's ``sparse_linear.pt`` also answers
/embed_sparse (models/m3.py); POOLING=m3_sparse binds /invocations to it, as TEI's
``--pooling m3_sparse``. With ``colbert_linear.pt``, /embed_all gives its ColBERT vectors.
A model in PyLate's layout is a ColBERT model (models/colbert.py): /embed_all and
/invocations give its token vectors, /rerank scores by MaxSim.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from sagemaker_embeddings.errors import ModelLoadError
from sagemaker_embeddings.models.causal_rerank import is_causal_reranker
from sagemaker_embeddings.models.colbert import (
    ST_CONFIG_FILE,
    ColbertLayout,
    is_colbert,
    read_layout,
)
from sagemaker_embeddings.models.m3 import SPARSE_HEAD_FILE, has_colbert_head, has_sparse_head
from sagemaker_embeddings.settings import TEI_MAX_BATCH_TOKENS, Pooling, Settings, Task

logger = logging.getLogger(__name__)

# TEI's operation names: the engine's methods and the TEI routes share them.
Route = Literal["embed", "rerank", "predict", "embed_sparse", "similarity", "embed_all"]
# What one input of a request wants from the forward pass: its pooled vector (or a
# classifier's logits), its token states (/embed_all), or its sparse vector.
Want = Literal["pooled", "tokens", "sparse"]


@dataclass(frozen=True)
class TaskInfo:
    label: str  # how messages name this kind of model
    route: Route  # the operation /invocations answers for it
    auto_class: str  # the transformers class that loads it (torch runner, ONNX export)
    output: Want  # what its route asks of a forward pass (and the warm-up pass)


# The one table of tasks.
TASKS: dict[Task, TaskInfo] = {
    "embed": TaskInfo("an embedding model", "embed", "AutoModel", "pooled"),
    "sparse": TaskInfo(
        "a sparse (SPLADE) embedding model", "embed_sparse", "AutoModelForMaskedLM", "pooled"
    ),
    "rerank": TaskInfo("a reranker", "rerank", "AutoModelForSequenceClassification", "pooled"),
    "classify": TaskInfo("a classifier", "predict", "AutoModelForSequenceClassification", "pooled"),
    "colbert": TaskInfo("a ColBERT (late interaction) model", "embed_all", "AutoModel", "tokens"),
}

# sentence-transformers wrote the max length under several names over the years.
_ST_CONFIG_NAMES = (
    "sentence_bert_config.json",
    "sentence_roberta_config.json",
    "sentence_distilbert_config.json",
    "sentence_camembert_config.json",
    "sentence_albert_config.json",
    "sentence_xlm-roberta_config.json",
    "sentence_xlnet_config.json",
)
# These model types start position ids after the padding index.
_PADDING_OFFSET_TYPES = {"roberta", "xlm-roberta", "camembert"}

_POOLING_KEYS: dict[str, Pooling] = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_lasttoken": "last_token",
}


@dataclass(frozen=True)
class DenseLayer:
    """A sentence-transformers Dense module applied after pooling."""

    path: Path
    in_features: int
    out_features: int
    bias: bool
    activation: str


@dataclass(frozen=True)
class ModelSpec:
    """Everything about the model that is decided before loading weights."""

    task: Task
    route: Route
    architecture: str
    model_type: str
    pooling: Pooling | None
    max_input_length: int
    id2label: dict[int, str] = field(default_factory=dict)
    dense_layers: tuple[DenseLayer, ...] = ()
    normalize_module: bool = False
    prompts: dict[str, str] = field(default_factory=dict)
    default_prompt: str | None = None
    ships_code: bool = False  # config.json has an auto_map pointing at the model's own code
    sparse_head: bool = False  # bge-m3's lexical head: /embed_sparse beside /embed
    colbert_head: bool = False  # bge-m3's multi-vector head: /embed_all gives its vectors
    causal_lm_rerank: bool = False  # a causal LM scoring "yes" against "no" (causal_rerank.py)
    rerank_instruction: str | None = None  # its prompt's <Instruct>; None: the card's
    colbert: ColbertLayout | None = None  # PyLate's settings, for task "colbert"


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ModelLoadError(f"{path} is not a JSON object")
    return data


def detect(model_dir: Path, settings: Settings) -> ModelSpec:
    """Decide task, pooling, limits and extra modules for the model in ``model_dir``."""
    config_path = model_dir / "config.json"
    if not config_path.is_file():
        raise ModelLoadError(f"{model_dir} has no config.json")
    config = read_json(config_path)
    architectures = [str(a) for a in config.get("architectures") or []]
    architecture = architectures[0] if architectures else "AutoModel"
    model_type = str(config.get("model_type", ""))
    id2label = {int(k): str(v) for k, v in (config.get("id2label") or {}).items()}
    modules = _read_modules(model_dir)
    prompts_config = _read_optional(model_dir / ST_CONFIG_FILE)

    causal_lm_rerank = is_causal_reranker(architectures, model_dir, settings.task)
    if causal_lm_rerank:
        task: Task = "rerank"
        id2label = {0: "LABEL_0"}  # one score, as a cross-encoder reranker has
    elif is_colbert(prompts_config, modules):
        if settings.task not in (None, "colbert"):
            raise ModelLoadError(f"TASK={settings.task} does not fit a ColBERT (PyLate) model")
        task = "colbert"
    else:
        task = _detect_task(architectures, id2label, settings)
    colbert = (
        read_layout(model_dir, prompts_config, _read_optional(model_dir / "tokenizer_config.json"))
        if task == "colbert"
        else None
    )
    pooling: Pooling | None = None
    if task in ("embed", "sparse"):
        pooling = (
            "splade"
            if task == "sparse"
            else _detect_pooling(model_dir, modules, model_type, settings)
        )
    sparse_head = task == "embed" and has_sparse_head(model_dir)
    if settings.pooling == "m3_sparse" and not sparse_head:
        raise ModelLoadError(
            f"POOLING=m3_sparse needs an embedding model with {SPARSE_HEAD_FILE} beside its "
            "weights (bge-m3's layout)"
        )
    route = _route_for(task, settings)
    st_config = _read_st_config(model_dir)
    if colbert is not None:  # PyLate sets the length per call, from its own settings
        st_config = {**st_config, "max_seq_length": colbert.longest}
    prompts = {str(k): str(v) for k, v in (prompts_config.get("prompts") or {}).items()}
    return ModelSpec(
        task=task,
        route=route,
        architecture=architecture,
        model_type=model_type,
        pooling=pooling,
        max_input_length=_max_input_length(config, st_config, model_type, settings),
        id2label=id2label if task in ("rerank", "classify") else {},
        dense_layers=_dense_layers(model_dir, modules) if task in ("embed", "colbert") else (),
        normalize_module=any("Normalize" in str(m.get("type", "")) for m in modules),
        prompts=prompts,
        default_prompt=_default_prompt(prompts, prompts_config, settings),
        ships_code=bool(config.get("auto_map")),
        sparse_head=sparse_head,
        colbert_head=task == "embed" and has_colbert_head(model_dir),
        causal_lm_rerank=causal_lm_rerank,
        rerank_instruction=settings.rerank_instruction,
        colbert=colbert,
    )


def _detect_task(architectures: list[str], id2label: dict[int, str], settings: Settings) -> Task:
    is_classifier = any(a.endswith("ForSequenceClassification") for a in architectures)
    is_masked_lm = any(a.endswith("ForMaskedLM") for a in architectures)
    if settings.pooling == "splade":
        if not is_masked_lm:
            raise ModelLoadError("POOLING=splade needs a *ForMaskedLM architecture")
        return "sparse"
    if is_classifier:
        if settings.task in ("embed", "sentence-similarity", "sparse"):
            raise ModelLoadError(f"TASK={settings.task} does not fit a sequence classifier")
        n_labels = max(len(id2label), 1)
        detected: Task = "rerank" if n_labels == 1 else "classify"
        if settings.task == "rerank" and detected != "rerank":
            raise ModelLoadError(f"TASK=rerank needs a one-label classifier, this has {n_labels}")
        return "classify" if settings.task == "classify" else detected
    if settings.task in ("rerank", "classify"):
        raise ModelLoadError(f"TASK={settings.task} needs a *ForSequenceClassification model")
    if settings.task == "colbert":
        raise ModelLoadError("TASK=colbert needs a model in PyLate's layout (MaxSim)")
    return "embed"


def _route_for(task: Task, settings: Settings) -> Route:
    if task == "embed" and settings.task == "sentence-similarity":
        return "similarity"
    if task == "embed" and settings.pooling == "m3_sparse":
        return "embed_sparse"
    return TASKS[task].route


def _read_optional(path: Path) -> dict[str, Any]:
    return read_json(path) if path.is_file() else {}


def _read_modules(model_dir: Path) -> list[dict[str, Any]]:
    path = model_dir / "modules.json"
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"cannot read {path}: {exc}") from exc
    return [m for m in data if isinstance(m, dict)] if isinstance(data, list) else []


def _detect_pooling(
    model_dir: Path, modules: list[dict[str, Any]], model_type: str, settings: Settings
) -> Pooling:
    if settings.pooling not in (None, "m3_sparse"):
        return settings.pooling
    pooling_dirs = [str(m.get("path", "")) for m in modules if "Pooling" in str(m.get("type", ""))]
    for name in [*pooling_dirs, "1_Pooling"]:
        pooling_config = _read_optional(model_dir / name / "config.json")
        chosen = [mode for key, mode in _POOLING_KEYS.items() if pooling_config.get(key)]
        if len(chosen) == 1:
            return chosen[0]
        if pooling_config:
            raise ModelLoadError(
                f"{name}/config.json asks for an unsupported pooling; set POOLING to one of "
                "cls, mean, max, last_token"
            )
    if "bert" in model_type:
        logger.warning("no pooling configuration found; using CLS pooling for %s", model_type)
        return "cls"
    raise ModelLoadError(
        f"no pooling configuration for model type {model_type!r}; set POOLING to one of "
        "cls, mean, max, last_token, splade"
    )


def _read_st_config(model_dir: Path) -> dict[str, Any]:
    for name in _ST_CONFIG_NAMES:
        if (model_dir / name).is_file():
            return read_json(model_dir / name)
    return {}


def _max_input_length(
    config: dict[str, Any], st_config: dict[str, Any], model_type: str, settings: Settings
) -> int:
    length: int | None = st_config.get("max_seq_length")
    if length is None and config.get("max_position_embeddings"):
        offset = 0
        if model_type in _PADDING_OFFSET_TYPES:
            offset = int(config.get("pad_token_id") or 0) + 1
        length = int(config["max_position_embeddings"]) - offset
    if length is None and config.get("max_trained_positions"):
        length = int(config["max_trained_positions"])
    if length is None:
        raise ModelLoadError("cannot tell the model's maximum input length from its config")
    limit = settings.max_batch_tokens or TEI_MAX_BATCH_TOKENS
    if length > limit:
        if not settings.auto_truncate:
            raise ModelLoadError(
                f"max input length {length} exceeds MAX_BATCH_TOKENS="
                f"{limit}; raise MAX_BATCH_TOKENS or enable AUTO_TRUNCATE"
            )
        length = limit
    return int(length)


def _dense_layers(model_dir: Path, modules: list[dict[str, Any]]) -> tuple[DenseLayer, ...]:
    layers = []
    for module in modules:
        if "Dense" not in str(module.get("type", "")):
            continue
        path = model_dir / str(module.get("path", ""))
        config = read_json(path / "config.json")
        layers.append(
            DenseLayer(
                path=path,
                in_features=int(config["in_features"]),
                out_features=int(config["out_features"]),
                bias=bool(config.get("bias", True)),
                activation=str(
                    config.get("activation_function", "torch.nn.modules.linear.Identity")
                ),
            )
        )
    return tuple(layers)


def _default_prompt(
    prompts: dict[str, str], prompts_config: dict[str, Any], settings: Settings
) -> str | None:
    if settings.default_prompt is not None:
        return settings.default_prompt
    name = settings.default_prompt_name or prompts_config.get("default_prompt_name")
    if not name:
        return None
    if name not in prompts:
        raise ModelLoadError(f"default prompt name {name!r} is not one of {sorted(prompts)}")
    return prompts[name]
