"""/invocations content types: JSON, JSON Lines, CSV, Accept and custom attributes."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.conftest import ServerFactory
from tests.harness.serve import RunningServer
from tests.model_factory import minilm_dir
from tests.reference import assert_close_rows, st_encode

TEXTS = ["first record", "second, with a comma", "third record"]


@pytest.fixture(scope="module")
def client(server_factory: ServerFactory) -> httpx.Client:
    server: RunningServer = server_factory("minilm", {})
    return httpx.Client(base_url=server.url, timeout=60)


def test_json_lines_in_and_out(client: httpx.Client) -> None:
    body = "\n".join(
        [json.dumps(TEXTS[0]), json.dumps({"inputs": TEXTS[1]}), json.dumps({"inputs": [TEXTS[2]]})]
    )
    response = client.post(
        "/invocations",
        content=body + "\n",
        headers={"content-type": "application/jsonlines", "accept": "application/jsonlines"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/jsonlines")
    lines = response.text.strip().split("\n")
    assert len(lines) == 3  # one answer per record, in order
    assert_close_rows([json.loads(line)[0] for line in lines], st_encode(minilm_dir(), TEXTS))


def test_csv_in_json_out(client: httpx.Client) -> None:
    body = "\n".join(['"first record"', '"second, with a comma"', "third record"])
    response = client.post("/invocations", content=body, headers={"content-type": "text/csv"})
    assert response.status_code == 200
    records = response.json()
    assert len(records) == 3
    assert_close_rows([r[0] for r in records], st_encode(minilm_dir(), TEXTS))


def test_many_records_are_not_refused(client: httpx.Client) -> None:
    """A MultiRecord body larger than MAX_CONCURRENT_REQUESTS is admitted in waves."""
    body = "\n".join(json.dumps(f"record number {i}") for i in range(600))
    response = client.post(
        "/invocations", content=body, headers={"content-type": "application/x-jsonlines"}
    )
    assert response.status_code == 200
    assert len(response.json()) == 600


def test_json_with_jsonlines_accept(client: httpx.Client) -> None:
    response = client.post(
        "/invocations", json={"inputs": TEXTS[:2]}, headers={"accept": "application/jsonlines"}
    )
    assert response.text.endswith("\n")
    assert len(json.loads(response.text)) == 2


def test_custom_attributes(client: httpx.Client) -> None:
    attributes = "dimensions=64, truncation_direction=left"
    response = client.post(
        "/invocations",
        json={"inputs": "hello"},
        headers={"x-amzn-sagemaker-custom-attributes": attributes},
    )
    assert response.status_code == 200
    assert len(response.json()[0]) == 64
    assert response.headers["x-amzn-sagemaker-custom-attributes"] == attributes
    # A field in the body wins over the attribute.
    explicit = client.post(
        "/invocations",
        json={"inputs": "hello", "dimensions": 32},
        headers={"x-amzn-sagemaker-custom-attributes": attributes},
    )
    assert len(explicit.json()[0]) == 32
