"""Servers and helpers of the reliability suite; its figures print in the terminal summary.

Everything runs against real ``serve`` processes on loopback. Case counts and durations
are bounded for CI on two cores; ``RELIABILITY_SCALE`` (default 1) multiplies the fuzz
case counts and ``SOAK_SECONDS`` sets the soak's length for longer runs.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import psutil
import pytest

from tests.conftest import ServerFactory
from tests.harness.serve import RunningServer

ModelDirs = Callable[[str], Path]
SCALE = max(1, int(os.environ.get("RELIABILITY_SCALE", "1")))
# A value that must never reach a log or an answer.
HF_TOKEN_MARKER = "hf_reliabilityMarkerToken0123456789"

FIGURES: list[str] = []


def figure(line: str) -> None:
    """Record a measured figure for the terminal summary (and print it for -s runs)."""
    FIGURES.append(line)
    print(line)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FIGURES:
        terminalreporter.section("reliability figures")
        for line in FIGURES:
            terminalreporter.write_line(line)


def rss_mb(server: RunningServer) -> float:
    """Resident memory of the server process (and any children), in MiB."""
    process = psutil.Process(server.process.pid)
    total = process.memory_info().rss
    for child in process.children(recursive=True):
        total += child.memory_info().rss
    return total / 2**20


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)$")


def metrics(server: RunningServer) -> dict[str, float]:
    """/metrics as {'name{labels}': value}; labels exactly as the server prints them.

    Names are taken as written: TEI's spelling (te_request_count, no ``_total``) is what
    the tests look up, so a ``_total`` suffix coming back fails them.
    """
    text = httpx.get(f"{server.url}/metrics", timeout=10).text
    values: dict[str, float] = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match:
            name, labels, value = match.group(1), match.group(2) or "", float(match.group(3))
            values[name + labels] = value
    return values


@pytest.fixture(scope="session")
def bert(server_factory: ServerFactory, model_dirs: ModelDirs) -> RunningServer:
    """The tiny embedder most tests share; DEBUG JSON logs, so every request is logged."""
    return server_factory(
        "rel-bert",
        {
            "HF_MODEL_ID": str(model_dirs("bert")),
            "LOG_LEVEL": "debug",
            "JSON_OUTPUT": "true",
            "HF_TOKEN": HF_TOKEN_MARKER,
            "MAX_CONCURRENT_REQUESTS": "64",
        },
    )


MINILM_CAPACITY = 16  # MAX_CONCURRENT_REQUESTS of the MiniLM server


@pytest.fixture(scope="session")
def minilm(server_factory: ServerFactory) -> RunningServer:
    """The real all-MiniLM-L6-v2 (the embedded default): slow enough for queues to form.

    A small token budget (two 256-token inputs per forward pass) makes a client batch
    take several passes, so bursts overflow admission and hang-ups leave queued work.
    """
    return server_factory(
        "rel-minilm",
        {
            "MAX_CONCURRENT_REQUESTS": str(MINILM_CAPACITY),
            "MAX_BATCH_TOKENS": "512",
            "MAX_CLIENT_BATCH_SIZE": "32",
        },
    )


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
