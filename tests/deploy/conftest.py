"""Shared fixtures of the deploy tests: a clean, offline AWS and Docker client environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.harness.env import offline_aws


@pytest.fixture(autouse=True)
def clean_aws_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy credentials, no region, no config files, a private docker client config."""
    offline_aws(monkeypatch, tmp_path)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker-config"))
