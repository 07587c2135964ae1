"""Limits: oversized bodies are refused before they are read; a 1,000,000-character
input is cut (truncation on) or refused with 422 (off), in bounded time and memory."""

from __future__ import annotations

import json
import re
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.harness.serve import RunningServer
from tests.reference import assert_close_rows, st_encode
from tests.reliability.conftest import figure, rss_mb

FIFTY_MB = 50 * 1024 * 1024


def _connect(server: RunningServer) -> socket.socket:
    parts = urlsplit(server.url)
    return socket.create_connection((parts.hostname, parts.port), timeout=10)


def _read_response(sock: socket.socket) -> bytes:
    """Read until the answer is complete: its headers and Content-Length bytes of body
    (they may arrive in separate segments), or until the server closes (bounded)."""
    data = b""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not _complete(data):
        try:
            chunk = sock.recv(65536)
        except (TimeoutError, ConnectionResetError):
            break
        if not chunk:
            break
        data += chunk
    return data


def _complete(data: bytes) -> bool:
    head, separator, body = data.partition(b"\r\n\r\n")
    match = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    return bool(separator and match and len(body) >= int(match.group(1)))


def test_declared_50mb_body_is_refused_before_reading(bert: RunningServer) -> None:
    before = rss_mb(bert)
    with _connect(bert) as sock:
        head = (
            "POST /invocations HTTP/1.1\r\nHost: test\r\n"
            f"Content-Type: application/json\r\nContent-Length: {FIFTY_MB}\r\n\r\n"
        )
        started = time.monotonic()
        # Only the headers and a sliver of the body: the answer must not wait for the rest.
        sock.sendall(head.encode() + b'{"inputs": "' + b"a" * 1024)
        response = _read_response(sock)
        elapsed = time.monotonic() - started
    assert response.startswith(b"HTTP/1.1 413"), response[:200]
    assert b"PayloadTooLarge" in response
    assert elapsed < 2.0
    grown = rss_mb(bert) - before
    assert grown < 10, f"RSS grew {grown:.1f} MiB"
    figure(
        f"limits: a declared 50 MB body got 413 in {elapsed * 1000:.0f} ms, RSS +{grown:.1f} MiB"
    )


def test_streamed_50mb_body_is_cut_off_at_the_limit(bert: RunningServer) -> None:
    """Chunked, no Content-Length: the server stops at the limit, not at 50 MB."""
    before = rss_mb(bert)
    sent = 0
    chunk = b"a" * 65536
    with _connect(bert) as sock:
        sock.sendall(
            b"POST /embed HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        try:
            while sent < FIFTY_MB:
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass  # the server answered and closed the connection
        response = _read_response(sock)
    assert response.startswith(b"HTTP/1.1 413"), response[:200]
    assert sent < FIFTY_MB, "the server read the whole 50 MB"
    grown = rss_mb(bert) - before
    assert grown < 40, f"RSS grew {grown:.1f} MiB"
    assert httpx.get(f"{bert.url}/ping").status_code == 200
    figure(
        f"limits: a streamed 50 MB body was cut off after {sent / 2**20:.1f} MiB sent "
        f"(limit 6 MiB), RSS +{grown:.1f} MiB"
    )


def test_client_that_sends_the_whole_body_first_gets_the_413(bert: RunningServer) -> None:
    """Python's urllib writes the whole body before it reads: the server answers 413 and
    reads the rest of the body (bounded) before closing, so the client sees the answer
    instead of a connection reset."""
    body = b'{"inputs": "' + b"a" * (12 * 1024 * 1024) + b'"}'  # twice the 6 MB limit
    request = urllib.request.Request(
        f"{bert.url}/embed", data=body, headers={"content-type": "application/json"}
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 413
    assert json.loads(refused.value.read())["error_type"] == "PayloadTooLarge"
    assert httpx.get(f"{bert.url}/ping").status_code == 200


@pytest.mark.parametrize("text", ["word " * 200_000, "a" * 1_000_000], ids=["words", "one-word"])
def test_million_character_input(
    bert: RunningServer, model_dirs: Callable[[str], Path], text: str
) -> None:
    assert len(text) == 1_000_000
    before = rss_mb(bert)
    started = time.monotonic()
    cut = httpx.post(f"{bert.url}/embed", json={"inputs": text, "truncate": True}, timeout=60)
    cut_seconds = time.monotonic() - started
    assert cut.status_code == 200, cut.text[:300]
    assert_close_rows(cut.json(), st_encode(model_dirs("bert"), [text]))
    started = time.monotonic()
    refused = httpx.post(f"{bert.url}/embed", json={"inputs": text, "truncate": False}, timeout=60)
    refused_seconds = time.monotonic() - started
    assert refused.status_code == 422, refused.text[:300]
    assert refused.json()["error_type"] == "Validation"
    assert text[:50] not in refused.text  # the answer does not echo the input
    assert cut_seconds < 10
    assert refused_seconds < 10
    grown = rss_mb(bert) - before
    assert grown < 100, f"RSS grew {grown:.1f} MiB"
    figure(
        f"limits: 1,000,000 chars ({text[:4]!r}...): truncate=true 200 in {cut_seconds:.2f}s, "
        f"truncate=false 422 in {refused_seconds:.2f}s, RSS +{grown:.1f} MiB"
    )
