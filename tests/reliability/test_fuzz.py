"""Fuzzing against the real server: schemathesis over /openapi.json, hypothesis for
the /invocations decoders (JSON, JSON Lines, CSV, Custom-Attributes).

Every answer must be a documented status (no 5xx but 424 and 503), the server must
stay up and healthy, and no request may hang (each has a timeout). Case counts are
bounded for CI; RELIABILITY_SCALE=10 runs ten times as many.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable

from tests.harness.serve import RunningServer
from tests.model_factory import VOCAB
from tests.reliability.conftest import SCALE, figure

ALLOWED_5XX = {424, 503}
TIMEOUT = 30.0
# Per-operation and per-decoder example counts; RELIABILITY_SCALE multiplies them.
SCHEMA_EXAMPLES = 25 * SCALE
DECODER_EXAMPLES = 150 * SCALE
FUZZ_SETTINGS = settings(
    max_examples=DECODER_EXAMPLES,
    deadline=None,
    database=None,
    derandomize=True,  # the same cases on every run: a failure reproduces
    suppress_health_check=list(HealthCheck),
)

COUNTS: dict[str, int] = {}


def _check(response: httpx.Response | Any, what: str) -> None:
    status = response.status_code
    assert status < 500 or status in ALLOWED_5XX, f"{what}: {status} {response.text[:300]}"
    if status >= 400 and status not in (401, 404, 405):
        # Errors are TEI's JSON (TEI's OpenAI-compatible body under /v1), never a traceback.
        assert "Traceback" not in response.text, what
        body = response.json()
        if response.request.url.path.startswith("/v1/"):
            assert {"message", "code", "type"} <= body.keys(), f"{what}: {body}"
        else:
            assert "error" in body, f"{what}: {body}"


def _healthy(server: RunningServer) -> None:
    assert server.process.poll() is None, server.log()[-3000:]
    assert httpx.get(f"{server.url}/ping", timeout=5).status_code == 200


def _operations(server: RunningServer) -> list[Any]:
    import schemathesis

    schema = schemathesis.openapi.from_dict(httpx.get(f"{server.url}/openapi.json").json())
    return [result.ok() for result in schema.get_all_operations()]


def _fuzz_operation(client: httpx.Client, base_url: str, operation: Any, mode: Any) -> int:
    """Send SCHEMA_EXAMPLES generated cases of one operation; the number sent."""
    label = f"{operation.label} {mode.value}"
    sent = 0

    @settings(FUZZ_SETTINGS, max_examples=SCHEMA_EXAMPLES)
    @given(case=operation.as_strategy(generation_mode=mode))
    def fuzz(case: Any) -> None:
        nonlocal sent
        kwargs = case.as_transport_kwargs(base_url=base_url)
        response = client.request(
            kwargs["method"],
            kwargs["url"],
            headers=kwargs.get("headers"),
            params=kwargs.get("params"),
            json=kwargs.get("json"),
            content=kwargs.get("data"),
        )
        sent += 1
        _check(response, label)

    # Unsatisfiable: nothing to make invalid (GET /metrics), or no body schema
    # (/invocations, which the decoder tests below cover).
    with contextlib.suppress(Unsatisfiable):
        fuzz()
    return sent


@pytest.mark.parametrize("task", ["embed", "rerank", "classify"])
def test_schemathesis_every_route(task_servers: dict[str, RunningServer], task: str) -> None:
    from schemathesis.generation import GenerationMode

    server = task_servers[task]
    operations = _operations(server)
    assert len(operations) >= 15  # every route of the API is in the schema
    started = time.monotonic()
    total = 0
    with httpx.Client(base_url=server.url, timeout=TIMEOUT) as client:
        for operation in operations:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                total += _fuzz_operation(client, server.url, operation, mode)
    _healthy(server)
    COUNTS[f"schemathesis-{task}"] = total
    figure(
        f"fuzz: schemathesis sent {total} requests to the {task} server over "
        f"{len(operations)} operations (positive and negative) in "
        f"{time.monotonic() - started:.0f}s; no 5xx, server healthy"
    )


# --- /invocations decoders ---------------------------------------------------------
_leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
    | st.just("")
)
json_values = st.recursive(
    _leaves,
    lambda children: st.lists(children, max_size=6) | st.dictionaries(st.text(), children),
    max_leaves=24,
)
token_ids = st.lists(st.integers(min_value=-(2**70), max_value=2**70), max_size=8)
inputs_values = st.one_of(
    st.text(max_size=80),
    st.lists(st.text(max_size=20), max_size=8),  # includes lists of empty strings
    token_ids,
    st.lists(token_ids, max_size=4),
    st.lists(st.lists(st.text(max_size=10), max_size=3), max_size=4),
    json_values,
)
payloads = st.one_of(
    st.fixed_dictionaries({"inputs": inputs_values}, optional={"truncate": json_values}),
    st.fixed_dictionaries(
        {"query": st.text(max_size=30) | json_values, "texts": inputs_values},
        optional={"raw_scores": json_values, "return_text": st.booleans()},
    ),
    st.fixed_dictionaries(
        {
            "inputs": st.fixed_dictionaries(
                {"source_sentence": inputs_values, "sentences": inputs_values}
            )
        }
    ),
    json_values,
)


def _literal_json(value: Any) -> str:
    """JSON with Python's NaN/Infinity literals left in (they are not JSON)."""
    import json

    return json.dumps(value, allow_nan=True)


def _nested(depth: int) -> str:
    return '{"inputs": ' + "[" * depth + '"x"' + "]" * depth + "}"


def _huge_number(digits: int) -> str:
    return '{"inputs": "a", "dimensions": ' + "9" * digits + "}"


json_bodies = st.one_of(
    payloads.map(_literal_json).map(str.encode),
    st.integers(min_value=1, max_value=20_000).map(_nested).map(str.encode),
    st.integers(min_value=1, max_value=5_000).map(_huge_number).map(str.encode),
    st.sampled_from([b"NaN", b"Infinity", b"-Infinity", b'{"inputs": NaN}', b"1e999", b""]),
    st.binary(max_size=300),
    # Valid JSON around bytes that are not UTF-8.
    st.binary(min_size=1, max_size=20).map(lambda b: b'{"inputs": "' + b + b'"}'),
)
content_types = st.sampled_from(
    [
        "application/json",
        "application/json; charset=utf-8",
        "application/jsonlines",
        "application/x-jsonlines",
        "text/csv",
        "text/plain",
        "",
        "application/json;;;=",
    ]
)
accepts = st.sampled_from(
    ["", "*/*", "application/json", "application/jsonlines", "text/csv", "application/*, x/y"]
)
_ascii = st.characters(min_codepoint=0x20, max_codepoint=0x7E)
custom_attributes = st.one_of(
    st.text(alphabet=_ascii, max_size=1024),
    st.lists(
        st.tuples(
            st.sampled_from(
                ["truncate", "normalize", "dimensions", "prompt_name", "raw_scores", "x", ""]
            ),
            st.one_of(
                st.sampled_from(["true", "false", "-1", "0", "99999999999", "NaN", "1e999", ""]),
                st.text(alphabet=_ascii, max_size=20).filter(lambda v: "," not in v),
            ),
        ),
        max_size=6,
    ).map(lambda pairs: ", ".join(f"{k}={v}" for k, v in pairs)),
)


def _invoke(
    server: RunningServer,
    client: httpx.Client,
    body: bytes,
    content_type: str,
    accept: str = "",
    attributes: str | None = None,
) -> None:
    headers = {"content-type": content_type}
    if accept:
        headers["accept"] = accept
    if attributes is not None:
        headers["x-amzn-sagemaker-custom-attributes"] = attributes
    response = client.post("/invocations", content=body, headers=headers)
    _check(response, f"/invocations {content_type!r} {body[:80]!r}")


@pytest.fixture(scope="module")
def task_servers(
    bert: RunningServer, server_factory: Any, model_dirs: Any
) -> dict[str, RunningServer]:
    return {
        "embed": bert,
        "rerank": server_factory("rel-reranker", {"HF_MODEL_ID": str(model_dirs("reranker"))}),
        "classify": server_factory(
            "rel-classifier", {"HF_MODEL_ID": str(model_dirs("classifier"))}
        ),
    }


@pytest.mark.parametrize("task", ["embed", "rerank", "classify"])
def test_json_decoder(task_servers: dict[str, RunningServer], task: str) -> None:
    server = task_servers[task]
    count = 0
    with httpx.Client(base_url=server.url, timeout=TIMEOUT) as client:

        @FUZZ_SETTINGS
        @given(body=json_bodies, content_type=content_types, accept=accepts)
        def fuzz(body: bytes, content_type: str, accept: str) -> None:
            nonlocal count
            count += 1
            _invoke(server, client, body, content_type, accept)

        fuzz()
    _healthy(server)
    COUNTS[f"json-{task}"] = count


def test_json_lines_decoder(bert: RunningServer) -> None:
    lines = st.lists(json_bodies | st.just(b"") | st.just(b'"text"'), min_size=1, max_size=12)
    separators = st.sampled_from([b"\n", b"\r\n", b"\n\n", b"\r"])
    count = 0
    with httpx.Client(base_url=bert.url, timeout=TIMEOUT) as client:

        @FUZZ_SETTINGS
        @given(parts=lines, separator=separators, accept=accepts)
        def fuzz(parts: list[bytes], separator: bytes, accept: str) -> None:
            nonlocal count
            count += 1
            _invoke(bert, client, separator.join(parts), "application/jsonlines", accept)

        fuzz()
    _healthy(bert)
    COUNTS["jsonlines"] = count


def test_csv_decoder(bert: RunningServer) -> None:
    import csv
    import io

    def as_csv(rows: list[list[str]]) -> bytes:
        out = io.StringIO()
        csv.writer(out).writerows(rows)
        return out.getvalue().encode("utf-8", "surrogatepass")

    cells = st.text(max_size=30) | st.sampled_from(["", '"', '""', "a,b", "\x00", "\r"])
    tables = st.lists(st.lists(cells, max_size=4), min_size=1, max_size=12).map(as_csv)
    bodies = (
        tables
        | st.binary(max_size=300)
        | st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass"))
    )
    count = 0
    with httpx.Client(base_url=bert.url, timeout=TIMEOUT) as client:

        @FUZZ_SETTINGS
        @given(body=bodies, accept=accepts)
        def fuzz(body: bytes, accept: str) -> None:
            nonlocal count
            count += 1
            _invoke(bert, client, body, "text/csv", accept)

        fuzz()
    _healthy(bert)
    COUNTS["csv"] = count


def test_custom_attributes(bert: RunningServer) -> None:
    bodies = st.sampled_from(
        [b'{"inputs": "a"}', b'{"inputs": ["a", ""]}', b'"plain"', b"a\nb\n", b"[1,2]"]
    )
    count = 0
    with httpx.Client(base_url=bert.url, timeout=TIMEOUT) as client:

        @FUZZ_SETTINGS
        @given(attributes=custom_attributes, body=bodies, content_type=content_types)
        def fuzz(attributes: str, body: bytes, content_type: str) -> None:
            nonlocal count
            count += 1
            # HTTP header values carry no leading or trailing blanks (h11 refuses them).
            _invoke(bert, client, body, content_type, "", attributes.strip() or None)

        fuzz()
    _healthy(bert)
    COUNTS["custom-attributes"] = count
    decoders = {k: v for k, v in COUNTS.items() if not k.startswith("schemathesis")}
    total = sum(decoders.values())
    figure(f"fuzz: hypothesis sent {total} /invocations bodies {decoders}; no 5xx, healthy")


def test_out_of_vocabulary_token_ids(bert: RunningServer) -> None:
    vocab = VOCAB  # ids 0..VOCAB-1 exist
    for route, body in [
        ("/embed", {"inputs": [vocab]}),
        ("/embed", {"inputs": [[1, 2], [-1]]}),
        ("/embed", {"inputs": [2**64]}),
        ("/decode", {"ids": [vocab + 10]}),
        ("/v1/embeddings", {"input": [[vocab]]}),
    ]:
        response = httpx.post(f"{bert.url}{route}", json=body, timeout=TIMEOUT)
        assert response.status_code == 422, (route, body, response.text)
        assert "vocabulary" in response.text
    _healthy(bert)
