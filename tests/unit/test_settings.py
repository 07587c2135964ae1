"""Settings from TEI and SageMaker env names, and serve flags over them."""

from __future__ import annotations

import pytest

from sagemaker_embeddings.settings import Settings, parse_serve_args


def test_env_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_MODEL_ID", "BAAI/bge-base-en-v1.5")
    monkeypatch.setenv("HF_MODEL_REVISION", "refs/pr/5")
    monkeypatch.setenv("HF_API_TOKEN", "hf_secret")
    monkeypatch.setenv("SAGEMAKER_BIND_TO_PORT", "9001")
    monkeypatch.setenv("POOLING", "last-token")
    monkeypatch.setenv("AUTO_TRUNCATE", "false")
    monkeypatch.setenv("HOSTNAME", "container-id-docker-sets")  # must not be the bind address
    settings = Settings()
    assert settings.model_id == "BAAI/bge-base-en-v1.5"
    assert settings.revision == "refs/pr/5"
    assert settings.hf_token is not None
    assert settings.hf_token.get_secret_value() == "hf_secret"
    assert "hf_secret" not in repr(settings)
    assert settings.port == 9001
    assert settings.pooling == "last_token"
    assert settings.auto_truncate is False
    assert settings.listen_address == "0.0.0.0"


def test_defaults_follow_tei_and_sagemaker() -> None:
    settings = Settings()
    assert settings.max_batch_tokens is None  # chosen by device: models/runner.py
    assert settings.max_concurrent_requests == 512
    assert settings.max_client_batch_size == 32
    assert settings.auto_truncate is True
    assert settings.effective_payload_limit == 6 * 1024 * 1024
    assert Settings(sagemaker_max_payload_in_mb=20).effective_payload_limit == 20 * 1024 * 1024


def test_flags_win_over_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_BATCH_TOKENS", "1000")
    monkeypatch.setenv("MODEL_ID", "")  # SageMaker passes unset keys as empty strings
    settings = parse_serve_args(["--max-batch-tokens", "2048", "--dtype", "bfloat16"])
    assert settings.max_batch_tokens == 2048
    assert settings.dtype == "bfloat16"
    assert settings.model_id is None
