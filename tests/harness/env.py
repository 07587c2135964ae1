"""Environments for `serve` processes: the developer's shell must not change what they do."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Variables of the developer's shell that would change what the server loads or does.
SERVER_VARIABLES = (
    "HF_MODEL_ID",
    "MODEL_ID",
    "HF_MODEL_REVISION",
    "REVISION",
    "POOLING",
    "TASK",
    "DTYPE",
    "SAGEMAKER_BIND_TO_PORT",
    "PORT",
    "API_KEY",
    "PAYLOAD_LIMIT",
    "SAGEMAKER_MAX_PAYLOAD_IN_MB",
    "MAX_BATCH_TOKENS",
    "MAX_CONCURRENT_REQUESTS",
    "MAX_CLIENT_BATCH_SIZE",
    "AUTO_TRUNCATE",
    "IMAGE_FLAVOR",
    "ALLOW_CPU_FALLBACK",
    "USE_FLASH_ATTENTION",
    "FLASH_ATTN_CUDA_ARCHS",
)
# The native server's variables, plus those toolkit mode and MMS read.
TOOLKIT_VARIABLES = (
    *SERVER_VARIABLES,
    "SAGEMAKER_MULTI_MODEL",
    "SERVING_MODE",
    "SAGEMAKER_PROGRAM",
    "SAGEMAKER_MODEL_SERVER_WORKERS",
    "MEMORY_HEADROOM_MB",
    "LOG_LOCATION",
    "METRICS_LOCATION",
    "OMP_NUM_THREADS",
)


def without(names: tuple[str, ...]) -> dict[str, str]:
    """This process's environment less ``names``."""
    return {k: v for k, v in os.environ.items() if k not in names}


def loopback(base_dir: Path, port: int) -> dict[str, str]:
    """What every `serve` of the tests shares: loopback only, its own base dir, offline."""
    return {
        "LISTEN_ADDRESS": "127.0.0.1",
        "SAGEMAKER_BIND_TO_PORT": str(port),
        # An empty base dir: a stray /opt/ml/model on the machine must not be picked up.
        "SAGEMAKER_BASE_DIR": str(base_dir),
        "HF_HUB_OFFLINE": "1",
        # Reference checks are float32 (cosine >= 0.9999); the bfloat16 default of CPUs
        # that support it has its own test.
        "DTYPE": "float32",
    }


def server_env(extra: dict[str, str], base_dir: Path, port: int) -> dict[str, str]:
    """The native server's environment: ``extra`` over the shell's, cleaned."""
    return {
        **without(SERVER_VARIABLES),
        **loopback(base_dir, port),
        "TOKENIZERS_PARALLELISM": "false",
        **extra,
    }


# The SDK and boto3 read these; each test starts from none of them.
AWS_VARIABLES = (
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_PROFILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_ENDPOINT_URL",
)


def offline_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Dummy credentials, no region, no AWS config files, no instance metadata."""
    for name in AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
