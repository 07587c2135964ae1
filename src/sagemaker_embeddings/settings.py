"""Settings: the only place that reads environment variables.

Names follow TEI (``MODEL_ID``, ``MAX_BATCH_TOKENS``, ...) and SageMaker
(``HF_MODEL_ID``, ``SAGEMAKER_BIND_TO_PORT``, ...). ``serve`` flags override the
environment; tests build ``Settings(...)`` directly.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Pooling = Literal["cls", "mean", "max", "last_token", "splade"]
# The kind of model served. TASK also takes "sentence-similarity": an embedder whose
# /invocations answers /similarity (models/task.py holds the table of tasks).
Task = Literal["embed", "rerank", "classify", "sparse"]
DType = Literal["auto", "float32", "float16", "bfloat16"]
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
    model_id: str | None = Field(None, validation_alias=_env("HF_MODEL_ID", "MODEL_ID"))
    revision: str | None = Field(None, validation_alias=_env("HF_MODEL_REVISION", "REVISION"))
    hf_token: SecretStr | None = Field(None, validation_alias=_env("HF_TOKEN", "HF_API_TOKEN"))
    sagemaker_base_dir: Path = Field(Path("/opt/ml"), validation_alias=_env("SAGEMAKER_BASE_DIR"))
    huggingface_hub_cache: Path | None = Field(
        None, validation_alias=_env("HUGGINGFACE_HUB_CACHE", "HF_HUB_CACHE")
    )
    served_model_name: str | None = Field(None, validation_alias=_env("SERVED_MODEL_NAME"))

    # --- how the model runs ----------------------------------------------------
    task: Task | Literal["sentence-similarity"] | None = Field(None, validation_alias=_env("TASK"))
    pooling: Pooling | None = Field(None, validation_alias=_env("POOLING"))
    dtype: DType = Field("auto", validation_alias=_env("DTYPE"))
    trust_remote_code: bool = Field(False, validation_alias=_env("TRUST_REMOTE_CODE"))
    allow_pickle_weights: bool = Field(False, validation_alias=_env("ALLOW_PICKLE_WEIGHTS"))
    default_prompt_name: str | None = Field(None, validation_alias=_env("DEFAULT_PROMPT_NAME"))
    default_prompt: str | None = Field(None, validation_alias=_env("DEFAULT_PROMPT"))

    # --- batching and admission ------------------------------------------------
    # None: TEI's 16384 on GPU, a smaller device-chosen budget on CPU (models/runner.py).
    max_batch_tokens: int | None = Field(None, ge=1, validation_alias=_env("MAX_BATCH_TOKENS"))
    max_batch_requests: int | None = Field(None, ge=1, validation_alias=_env("MAX_BATCH_REQUESTS"))
    max_concurrent_requests: int = Field(
        512, ge=1, validation_alias=_env("MAX_CONCURRENT_REQUESTS")
    )
    max_client_batch_size: int = Field(32, ge=1, validation_alias=_env("MAX_CLIENT_BATCH_SIZE"))
    auto_truncate: bool = Field(True, validation_alias=_env("AUTO_TRUNCATE"))
    tokenization_workers: int | None = Field(
        None, ge=1, validation_alias=_env("TOKENIZATION_WORKERS")
    )
    # Forward passes that run at once, each on its share of the CPU threads. None: two
    # on CPU, one on GPU (models/runner.py: inference_lanes).
    inference_lanes: int | None = Field(None, ge=1, validation_alias=_env("INFERENCE_LANES"))

    # --- HTTP ------------------------------------------------------------------
    # Not `HOSTNAME`: Docker sets that to the container id.
    listen_address: str = Field("0.0.0.0", validation_alias=_env("LISTEN_ADDRESS"))
    port: int = Field(8080, ge=1, le=65535, validation_alias=_env("SAGEMAKER_BIND_TO_PORT", "PORT"))
    payload_limit: int = Field(
        SAGEMAKER_PAYLOAD_LIMIT, ge=1, validation_alias=_env("PAYLOAD_LIMIT")
    )
    sagemaker_max_payload_in_mb: int | None = Field(
        None, ge=1, validation_alias=_env("SAGEMAKER_MAX_PAYLOAD_IN_MB")
    )
    api_key: SecretStr | None = Field(None, validation_alias=_env("API_KEY"))
    # glibc malloc_trim(0) this often (TEI: 0.1 s) so that fragmented heap goes back
    # to the OS under mixed shapes; 0 turns it off.
    malloc_trim_seconds: float = Field(0.1, ge=0, validation_alias=_env("MALLOC_TRIM_SECONDS"))
    graceful_shutdown_seconds: float = Field(
        25.0, ge=0, lt=30, validation_alias=_env("GRACEFUL_SHUTDOWN_SECONDS")
    )

    # --- toolkit mode: sagemaker-inference + multi-model-server (toolkit/) --------
    # auto: toolkit when SAGEMAKER_MULTI_MODEL=true or model/code/<SAGEMAKER_PROGRAM> exists.
    serving_mode: ServingMode = Field("auto", validation_alias=_env("SERVING_MODE"))
    multi_model: bool = Field(False, validation_alias=_env("SAGEMAKER_MULTI_MODEL"))
    sagemaker_program: str = Field("inference.py", validation_alias=_env("SAGEMAKER_PROGRAM"))
    model_server_workers: int | None = Field(
        None, ge=1, validation_alias=_env("SAGEMAKER_MODEL_SERVER_WORKERS")
    )
    model_server_timeout: int = Field(
        60, ge=1, validation_alias=_env("SAGEMAKER_MODEL_SERVER_TIMEOUT")
    )
    model_server_vmargs: str | None = Field(
        None, validation_alias=_env("SAGEMAKER_MODEL_SERVER_VMARGS")
    )
    startup_timeout: int = Field(600, ge=1, validation_alias=_env("SAGEMAKER_STARTUP_TIMEOUT"))
    # Multi-model: a model is refused with 507 unless its weights plus this much stay free.
    memory_headroom_mb: int = Field(512, ge=0, validation_alias=_env("MEMORY_HEADROOM_MB"))

    # --- what /info reports about the build (the image sets these) -------------
    source_revision: str | None = Field(None, validation_alias=_env("SOURCE_REVISION"))
    docker_label: str | None = Field(None, validation_alias=_env("DOCKER_LABEL"))

    # --- logging ---------------------------------------------------------------
    json_output: bool = Field(False, validation_alias=_env("JSON_OUTPUT"))
    log_level: str = Field("info", validation_alias=_env("LOG_LEVEL"))

    # --- tracing (OpenTelemetry; the `otel` extra) ----------------------------------
    # OTLP over HTTP/protobuf: a collector's base URL (http://collector:4318), to which
    # /v1/traces is added, or the full traces URL. Unset: no tracing, no cost.
    otlp_endpoint: str | None = Field(None, validation_alias=_env("OTLP_ENDPOINT"))
    otlp_service_name: str = Field(
        "sagemaker-embeddings", validation_alias=_env("OTLP_SERVICE_NAME")
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
