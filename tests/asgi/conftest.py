"""In-process apps over the fake runner (tests/harness/asgi.py), one per configuration."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.harness.asgi import InProcessServer, in_process


@pytest.fixture(scope="module")
def minilm() -> Iterator[InProcessServer]:
    """The embedded default model (all-MiniLM-L6-v2); its weights are never read."""
    with in_process(None) as server:
        yield server
