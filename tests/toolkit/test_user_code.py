"""A model archive with code/inference.py picks toolkit mode by itself (no SERVING_MODE);
its input_fn/output_fn replace the native decoding and encoding around the engine, and
code/requirements.txt is installed at start."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.harness.toolkit import ToolkitServer, start_toolkit
from tests.model_factory import copy_minilm
from tests.toolkit.conftest import NativeFactory

# CSV in (one text per row, a header row named "text"); custom JSON out. input_fn takes
# the context, output_fn does not: both forms are accepted.
INFERENCE_PY = """
import csv
import io
import json

from sagemaker_inference.errors import GenericInferenceToolkitError


def input_fn(input_data, content_type, context):
    if not content_type.startswith("text/csv"):
        raise GenericInferenceToolkitError(415, f"this model reads text/csv, not {content_type}")
    rows = list(csv.DictReader(io.StringIO(input_data)))
    if not rows:
        raise GenericInferenceToolkitError(400, "no rows")
    assert context.model_name == "model"
    return {"inputs": [row["text"] for row in rows], "normalize": True}


def output_fn(prediction, accept):
    body = {"embeddings": prediction, "count": len(prediction), "dimensions": len(prediction[0])}
    return json.dumps(body), "application/vnd.example+json"
"""
CUSTOM = "application/vnd.example+json"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ToolkitServer]:
    base = tmp_path_factory.mktemp("opt-ml")
    model = copy_minilm(base / "model")
    (model / "code").mkdir()
    (model / "code" / "inference.py").write_text(INFERENCE_PY)
    # Already installed: pip answers without the network, and the log shows it ran.
    (model / "code" / "requirements.txt").write_text("numpy\n")
    running = start_toolkit(base, {}, tmp_path_factory.mktemp("mms"))
    yield running
    running.stop()


def test_requirements_installed_at_start(server: ToolkitServer) -> None:
    log = server.log()
    assert "requirements.txt" in log
    assert "Requirement already satisfied: numpy" in log


def test_csv_in_custom_json_out(server: ToolkitServer, native: NativeFactory, minilm: Path) -> None:
    texts = ["first row, with a comma", "second row"]
    body = "text\n" + "\n".join(f'"{t}"' for t in texts) + "\n"
    response = httpx.post(
        f"{server.url}/invocations",
        content=body.encode(),
        headers={"content-type": "text/csv", "accept": CUSTOM},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(CUSTOM)
    answer = response.json()
    assert answer["count"] == 2
    assert answer["dimensions"] == 384
    expected = native(minilm)(b'{"inputs": %b}' % str(texts).replace("'", '"').encode())
    np.testing.assert_allclose(answer["embeddings"], expected.body, atol=1e-6)


def test_user_errors_keep_their_status(server: ToolkitServer) -> None:
    wrong_type = httpx.post(f"{server.url}/invocations", json={"inputs": "x"}, timeout=60)
    assert wrong_type.status_code == 415
    assert "text/csv" in wrong_type.json()["error"]
    empty = httpx.post(
        f"{server.url}/invocations",
        content=b"text\n",
        headers={"content-type": "text/csv"},
        timeout=60,
    )
    assert empty.status_code == 400
    assert empty.json()["error"] == "no rows"
