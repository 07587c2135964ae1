"""Settings: the only place that reads environment variables.

Names follow TEI (``MODEL_ID``, ``MAX_BATCH_TOKENS``, ...) and SageMaker
(``HF_MODEL_ID``, ``SAGEMAKER_BIND_TO_PORT``, ...). ``serve`` flags override the
environment; tests build ``Settings(...)`` directly.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# m3_sparse: bge-m3's lexical head (models/m3.py) answers /invocations; the dense
# vector keeps the pooling of the model's files.
Pooling = Literal["cls", "mean", "max", "last_token", "splade", "m3_sparse"]
# The kind of model served. TASK also takes "sentence-similarity": an embedder whose
# /invocations answers /similarity (models/task.py holds the table of tasks).
Task = Literal["embed", "rerank", "classify", "sparse", "colbert"]
DType = Literal["auto", "float32", "float16", "bfloat16", "int8"]
Backend = Literal["auto", "torch", "onnx", "openvino"]
ServingMode = Literal["auto", "native", "toolkit"]

SAGEMAKER_PAYLOAD_LIMIT = 6 * 1024 * 1024  # 6 MB, the InvokeEndpoint limit


def _env(*names: str) -> AliasChoices:
    return AliasChoices(*names)


# TEI's MAX_BATCH_TOKENS default: the budget on GPU, and the longest input any device
# accepts unless MAX_BATCH_TOKENS says more.
TEI_MAX_BATCH_TOKENS = 16384


class Settings(BaseSettings):
    """Every knob of the server, in one object built once at start-up."""

    model_config = SettingsConfigDict(
        populate_by_name=True, extra="ignore", frozen=True, case_sensitive=False
    )

    # --- where the model comes from -------------------------------------------
    model_id: str | None = Field(
        None,
        validation_alias=_env("HF_MODEL_ID", "MODEL_ID"),
        description=(
            "Hub id or local folder of the model; unset: the model in SAGEMAKER_BASE_DIR/model."
        ),
    )
    revision: str | None = Field(
        None,
        validation_alias=_env("HF_MODEL_REVISION", "REVISION"),
        description="Hub revision (branch, tag or commit) of MODEL_ID.",
    )
    hf_token: SecretStr | None = Field(
        None,
        validation_alias=_env("HF_TOKEN", "HF_API_TOKEN"),
        description="Hugging Face token for private or gated hub models.",
    )
    sagemaker_base_dir: Path = Field(
        Path("/opt/ml"),
        validation_alias=_env("SAGEMAKER_BASE_DIR"),
        description="SageMaker's base folder; the model is read from its model/ subfolder.",
    )
    huggingface_hub_cache: Path | None = Field(
        None,
        validation_alias=_env("HUGGINGFACE_HUB_CACHE", "HF_HUB_CACHE"),
        description="Folder where hub downloads are cached.",
    )
    served_model_name: str | None = Field(
        None,
        validation_alias=_env("SERVED_MODEL_NAME"),
        description=(
            "Model name that /info, /rerank and OpenAI responses report; unset: the model id."
        ),
    )

    # --- how the model runs ----------------------------------------------------
    task: Task | Literal["sentence-similarity"] | None = Field(
        None,
        validation_alias=_env("TASK"),
        description="What the model does; unset: inferred from the model's config.",
    )
    pooling: Pooling | None = Field(
        None,
        validation_alias=_env("POOLING"),
        description="Embedding pooling; unset: the model's sentence-transformers config, else cls.",
    )
    dtype: DType = Field(
        "auto",
        validation_alias=_env("DTYPE"),
        description=(
            "Weights and compute dtype; auto: float16 on GPU, on CPU the dtype of the"
            " fastest measured path. int8: ONNX Runtime on onnx/model_int8.onnx, which"
            " `sagemaker-embeddings export --int8` writes only when it passes a retrieval check."
        ),
    )
    backend: Backend = Field(
        "auto",
        validation_alias=_env("BACKEND"),
        description=(
            "What runs the model: torch, onnx (ONNX Runtime, CPU, float32) or openvino (CPU,"
            " float32 or bfloat16), the last two on the folder's onnx/model.onnx or model.onnx;"
            " auto: torch on GPU, on CPU the fastest the benchmark measured on this kind of CPU."
        ),
    )
    trust_remote_code: bool = Field(
        False,
        validation_alias=_env("TRUST_REMOTE_CODE"),
        description="Run the model repository's own Python code (transformers trust_remote_code).",
    )
    allow_pickle_weights: bool = Field(
        False,
        validation_alias=_env("ALLOW_PICKLE_WEIGHTS"),
        description="Load pickled (.bin) weights when no safetensors exist; pickle can run code.",
    )
    use_flash_attention: bool = Field(
        True,
        validation_alias=_env("USE_FLASH_ATTENTION"),
        description=(
            "On a GPU, use flash-attn where the image's build covers the device's compute "
            "capability; false: SDPA always."
        ),
    )
    allow_cpu_fallback: bool = Field(
        False,
        validation_alias=_env("ALLOW_CPU_FALLBACK"),
        description=(
            "Let the GPU image serve on CPU when it finds no usable CUDA device (by default it "
            "refuses to start, saying why)."
        ),
    )
    default_prompt_name: str | None = Field(
        None,
        validation_alias=_env("DEFAULT_PROMPT_NAME"),
        description="Name of a sentence-transformers prompt put before every input.",
    )
    default_prompt: str | None = Field(
        None,
        validation_alias=_env("DEFAULT_PROMPT"),
        description="Text put before every input that names no prompt.",
    )
    rerank_instruction: str | None = Field(
        None,
        validation_alias=_env("RERANK_INSTRUCTION"),
        description=(
            "The <Instruct> line of a causal-LM reranker's prompt (Qwen3-Reranker); unset: the"
            " model card's web-search instruction."
        ),
    )

    # --- batching and admission ------------------------------------------------
    max_batch_tokens: int | None = Field(
        None,
        ge=1,
        validation_alias=_env("MAX_BATCH_TOKENS"),
        description=(
            "Token budget of one forward pass; unset: TEI's 16384 on GPU, a smaller device-chosen"
            " budget on CPU (models/capacity.py)."
        ),
    )
    max_batch_requests: int | None = Field(
        None,
        ge=1,
        validation_alias=_env("MAX_BATCH_REQUESTS"),
        description="Most requests in one forward pass; unset: no limit.",
    )
    max_concurrent_requests: int = Field(
        512,
        ge=1,
        validation_alias=_env("MAX_CONCURRENT_REQUESTS"),
        description="Requests in flight at once; more are refused (TEI: 429 Overloaded).",
    )
    max_client_batch_size: int = Field(
        32,
        ge=1,
        validation_alias=_env("MAX_CLIENT_BATCH_SIZE"),
        description="Most inputs in one request.",
    )
    auto_truncate: bool = Field(
        True,
        validation_alias=_env("AUTO_TRUNCATE"),
        description="Truncate inputs longer than the model's maximum instead of refusing them.",
    )
    tokenization_workers: int | None = Field(
        None,
        ge=1,
        validation_alias=_env("TOKENIZATION_WORKERS"),
        description="Tokenizer threads; unset: one less than the CPU count (at least one).",
    )
    inference_lanes: int | None = Field(
        None,
        ge=1,
        validation_alias=_env("INFERENCE_LANES"),
        description=(
            "Forward passes that run at once, each on its share of the CPU threads; unset: two on"
            " CPU, one on GPU (models/capacity.py)."
        ),
    )

    # --- HTTP ------------------------------------------------------------------
    # Not `HOSTNAME`: Docker sets that to the container id.
    listen_address: str = Field(
        "0.0.0.0",
        validation_alias=_env("LISTEN_ADDRESS"),
        description="Address to listen on (not HOSTNAME: Docker sets that to the container id).",
    )
    port: int = Field(
        8080,
        ge=1,
        le=65535,
        validation_alias=_env("SAGEMAKER_BIND_TO_PORT", "PORT"),
        description="Port to listen on; SageMaker sets SAGEMAKER_BIND_TO_PORT.",
    )
    payload_limit: int = Field(
        SAGEMAKER_PAYLOAD_LIMIT,
        ge=1,
        validation_alias=_env("PAYLOAD_LIMIT"),
        description=(
            "Largest request body in bytes; default: SageMaker's 6 MB InvokeEndpoint limit."
        ),
    )
    sagemaker_max_payload_in_mb: int | None = Field(
        None,
        ge=1,
        validation_alias=_env("SAGEMAKER_MAX_PAYLOAD_IN_MB"),
        description="Largest request body in MB; wins over PAYLOAD_LIMIT.",
    )
    api_key: SecretStr | None = Field(
        None,
        validation_alias=_env("API_KEY"),
        description="Bearer token every request must carry; unset: no authentication.",
    )
    malloc_trim_seconds: float = Field(
        0.1,
        ge=0,
        validation_alias=_env("MALLOC_TRIM_SECONDS"),
        description=(
            "How often glibc malloc_trim(0) returns fragmented heap to the OS under mixed shapes "
            "(TEI: 0.1 s); 0 turns it off."
        ),
    )
    graceful_shutdown_seconds: float = Field(
        25.0,
        ge=0,
        lt=30,
        validation_alias=_env("GRACEFUL_SHUTDOWN_SECONDS"),
        description="Seconds in-flight requests get to finish after SIGTERM; under SageMaker's 30.",
    )

    # --- toolkit mode: sagemaker-inference + multi-model-server (toolkit/) --------
    serving_mode: ServingMode = Field(
        "auto",
        validation_alias=_env("SERVING_MODE"),
        description=(
            "native (this server) or toolkit (sagemaker-inference + multi-model-server); auto: "
            "toolkit when SAGEMAKER_MULTI_MODEL=true or model/code/<SAGEMAKER_PROGRAM> exists."
        ),
    )
    multi_model: bool = Field(
        False,
        validation_alias=_env("SAGEMAKER_MULTI_MODEL"),
        description=(
            "Multi-model endpoint: serve models SageMaker loads and unloads (toolkit mode)."
        ),
    )
    sagemaker_program: str = Field(
        "inference.py",
        validation_alias=_env("SAGEMAKER_PROGRAM"),
        description="File name of custom inference code in model/code/ (toolkit mode).",
    )
    model_server_workers: int | None = Field(
        None,
        ge=1,
        validation_alias=_env("SAGEMAKER_MODEL_SERVER_WORKERS"),
        description="multi-model-server workers per model; unset: one (toolkit mode).",
    )
    model_server_timeout: int = Field(
        60,
        ge=1,
        validation_alias=_env("SAGEMAKER_MODEL_SERVER_TIMEOUT"),
        description="Seconds multi-model-server waits for one prediction (toolkit mode).",
    )
    model_server_vmargs: str | None = Field(
        None,
        validation_alias=_env("SAGEMAKER_MODEL_SERVER_VMARGS"),
        description="JVM options for multi-model-server (toolkit mode).",
    )
    startup_timeout: int = Field(
        600,
        ge=1,
        validation_alias=_env("SAGEMAKER_STARTUP_TIMEOUT"),
        description="Seconds toolkit mode waits for multi-model-server to start.",
    )
    memory_headroom_mb: int = Field(
        512,
        ge=0,
        validation_alias=_env("MEMORY_HEADROOM_MB"),
        description=(
            "Multi-model: a model is refused with 507 unless its weights plus this many MB stay "
            "free."
        ),
    )

    # --- what /info reports about the build (the image sets these) -------------
    source_revision: str | None = Field(
        None,
        validation_alias=_env("SOURCE_REVISION"),
        description="Source revision /info reports; the image sets it.",
    )
    docker_label: str | None = Field(
        None,
        validation_alias=_env("DOCKER_LABEL"),
        description="Image label /info reports; the image sets it.",
    )
    image_flavor: Literal["cpu", "gpu", "cpu-arm64"] | None = Field(
        None,
        validation_alias=_env("IMAGE_FLAVOR"),
        description="The image's flavor; the image sets it (gpu: no CUDA device stops start-up).",
    )
    flash_attn_cuda_archs: str | None = Field(
        None,
        validation_alias=_env("FLASH_ATTN_CUDA_ARCHS"),
        description="CUDA archs the image's flash-attn was built for (80;90); the image sets it.",
    )

    # --- logging ---------------------------------------------------------------
    json_output: bool = Field(
        False, validation_alias=_env("JSON_OUTPUT"), description="Log one JSON object per line."
    )
    log_level: str = Field(
        "info",
        validation_alias=_env("LOG_LEVEL"),
        description="Log level: debug, info, warning or error.",
    )

    # --- tracing (OpenTelemetry; the `otel` extra) ----------------------------------
    otlp_endpoint: str | None = Field(
        None,
        validation_alias=_env("OTLP_ENDPOINT"),
        description=(
            "OpenTelemetry OTLP/HTTP collector base URL (http://collector:4318, /v1/traces is "
            "added) or full traces URL; unset: no tracing, no cost (`otel` extra)."
        ),
    )
    otlp_service_name: str = Field(
        "sagemaker-embeddings",
        validation_alias=_env("OTLP_SERVICE_NAME"),
        description="service.name of exported traces.",
    )

    @field_validator("pooling", mode="before")
    @classmethod
    def _pooling_spelling(cls, value: Any) -> Any:
        # TEI spells it `last-token` on the command line and `last_token` in JSON.
        return value.replace("-", "_").lower() if isinstance(value, str) else value

    @field_validator(
        "model_id",
        "revision",
        "default_prompt_name",
        "default_prompt",
        "rerank_instruction",
        "otlp_endpoint",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        # SageMaker passes every key of the endpoint config, often as an empty string.
        return None if value == "" else value

    @property
    def effective_payload_limit(self) -> int:
        """Bytes a request body may have: SageMaker's MB setting wins over PAYLOAD_LIMIT."""
        if self.sagemaker_max_payload_in_mb is not None:
            return self.sagemaker_max_payload_in_mb * 1024 * 1024
        return self.payload_limit


def parse_serve_args(argv: Sequence[str]) -> Settings:
    """Build Settings from ``serve`` flags (one per field, ``--max-batch-tokens``) over env."""
    parser = argparse.ArgumentParser(
        prog="serve", description="Serve an embedding, reranker or classifier model."
    )
    for name, field in Settings.model_fields.items():
        flag = "--" + name.replace("_", "-")
        parser.add_argument(flag, dest=name, default=None, help=field.description)
    namespace = parser.parse_args(list(argv))
    overrides = {key: value for key, value in vars(namespace).items() if value is not None}
    return Settings(**overrides)


def _env_names(name: str) -> list[str]:
    alias = Settings.model_fields[name].validation_alias
    if isinstance(alias, AliasChoices):
        return [str(choice) for choice in alias.choices]
    return [name.upper()]


def _default_text(name: str) -> str:
    default = Settings.model_fields[name].default
    return "unset" if default is None else f"`{default}`"


def settings_markdown() -> str:
    """docs/configuration.md: one row per field, from the same text ``serve --help`` prints."""
    lines = [
        "# Configuration",
        "",
        "<!-- Generated by `python -m sagemaker_embeddings.settings --markdown`; do not edit. -->",
        "",
        "Every setting is an environment variable (the first name is preferred) and a `serve`",
        "flag; a flag wins over the environment.",
        "",
        "| Environment | Flag | Default | Meaning |",
        "| --- | --- | --- | --- |",
    ]
    for name, field in Settings.model_fields.items():
        env = ", ".join(f"`{env_name}`" for env_name in _env_names(name))
        flag = "`--" + name.replace("_", "-") + "`"
        meaning = (field.description or "").replace("|", "\\|")
        lines.append(f"| {env} | {flag} | {_default_text(name)} | {meaning} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    if sys.argv[1:] != ["--markdown"]:
        sys.exit("usage: python -m sagemaker_embeddings.settings --markdown")
    sys.stdout.write(settings_markdown())
