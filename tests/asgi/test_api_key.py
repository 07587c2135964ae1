"""API_KEY: every route but health and metrics needs ``Authorization: Bearer <key>``.

Moved from reliability/test_security.py (a `serve` process of its own there).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.harness.asgi import InProcessServer, in_process

ModelDirs = Callable[[str], Path]
API_KEY = "k-reliability-0123456789abcdef"


@pytest.fixture(scope="module")
def keyed(model_dirs: ModelDirs) -> Iterator[InProcessServer]:
    with in_process(model_dirs("bert"), api_key=API_KEY) as server:
        yield server


PROTECTED = [
    ("POST", "/embed", {"inputs": "a"}),
    ("POST", "/invocations", {"inputs": "a"}),
    ("POST", "/v1/embeddings", {"input": "a"}),
    ("POST", "/tokenize", {"inputs": "a"}),
    ("POST", "/", {"inputs": "a"}),
    ("GET", "/info", None),
    ("GET", "/openapi.json", None),
    ("GET", "/docs", None),
    ("GET", "/execution-parameters", None),
]


@pytest.mark.parametrize(("method", "path", "body"), PROTECTED)
def test_api_key_is_required(
    keyed: InProcessServer,
    caplog: pytest.LogCaptureFixture,
    method: str,
    path: str,
    body: dict[str, str] | None,
) -> None:
    caplog.set_level(logging.DEBUG)
    for headers in (
        {},
        {"authorization": "Bearer wrong"},
        {"authorization": API_KEY},  # no scheme
        {"authorization": f"Bearer {API_KEY}x"},
        {"authorization": f"bearer  {API_KEY}"},
    ):
        refused = keyed.client.request(method, path, json=body, headers=headers)
        assert refused.status_code == 401, (path, headers, refused.status_code)
        assert refused.json()["error_type"] == "Unauthorized"
        assert API_KEY not in refused.text
    allowed = keyed.client.request(
        method, path, json=body, headers={"authorization": f"Bearer {API_KEY}"}
    )
    assert allowed.status_code == 200, (path, allowed.text[:200])
    assert API_KEY not in caplog.text


@pytest.mark.parametrize("path", ["/ping", "/health", "/metrics", "/"])
def test_health_and_metrics_stay_public(
    keyed: InProcessServer, caplog: pytest.LogCaptureFixture, path: str
) -> None:
    caplog.set_level(logging.DEBUG)
    assert keyed.client.get(path).status_code == 200
    assert API_KEY not in caplog.text
