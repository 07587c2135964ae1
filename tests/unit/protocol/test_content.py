"""Body decoding for /invocations: each content type, and what it refuses."""

from __future__ import annotations

import pytest

from sagemaker_embeddings.errors import EmptyInput, MalformedBody, NotAcceptable, UnsupportedMedia
from sagemaker_embeddings.protocol.content import (
    choose_accept,
    decode_body,
    encode_records,
    parse_custom_attributes,
)


def test_json_with_charset_and_bare_string() -> None:
    decoded = decode_body(b'"hello"', "application/json; charset=utf-8")
    assert decoded.records == [{"inputs": "hello"}]
    assert not decoded.multi_record


def test_json_lines_and_csv() -> None:
    lines = decode_body(b'"a"\n\n{"inputs": "b"}\n', "application/x-jsonlines")
    assert lines.records == [{"inputs": "a"}, {"inputs": "b"}]
    assert lines.multi_record
    rows = decode_body(b'one\n"two, three"\nq,text\n', "text/csv")
    assert rows.records == [{"inputs": "one"}, {"inputs": "two, three"}, {"inputs": ["q", "text"]}]


@pytest.mark.parametrize(
    ("body", "content_type", "error"),
    [
        (b"", "application/json", EmptyInput),
        (b"\xff", "application/json", MalformedBody),
        (b"{", "application/json", MalformedBody),
        (b'{"inputs": NaN}', "application/json", MalformedBody),
        (b"x", "application/x-npy", UnsupportedMedia),
    ],
)
def test_refusals(body: bytes, content_type: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        decode_body(body, content_type)


def test_accept() -> None:
    assert choose_accept(None) == "application/json"
    assert choose_accept("*/*") == "application/json"
    assert choose_accept("text/html, application/jsonlines;q=0.9") == "application/jsonlines"
    with pytest.raises(NotAcceptable):
        choose_accept("text/html")
    assert encode_records([b"[1]", b"[2]"], "application/json") == b"[[1],[2]]"
    assert encode_records([b"[1]", b"[2]"], "application/jsonlines") == b"[1]\n[2]\n"


def test_custom_attributes() -> None:
    assert parse_custom_attributes("normalize=false, truncate=true; prompt_name=query, junk") == {
        "normalize": False,
        "truncate": True,
        "prompt_name": "query",
    }
    assert parse_custom_attributes(None) == {}
