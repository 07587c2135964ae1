"""In-process apps over the fake runner (tests/harness/asgi.py), one per configuration."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.harness.asgi import InProcessServer, in_process
from tests.model_factory import minilm_dir


@pytest.fixture(scope="module")
def minilm() -> Iterator[InProcessServer]:
    """all-MiniLM-L6-v2's config and tokenizer (the embedded default); its weights unread."""
    with in_process(minilm_dir()) as server:
        yield server
