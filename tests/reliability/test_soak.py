"""Soak: mixed tasks (embed, rerank, classify) and input lengths for SOAK_SECONDS
(default 60): every answer is 200, and resident memory stops growing after warm-up
(with MALLOC_TRIM_SECONDS' default; without trimming it crept ~20 MiB a minute)."""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import ServerFactory
from tests.harness.serve import RunningServer
from tests.reference import SEED_TEXT
from tests.reliability.conftest import figure, rss_mb

SOAK_SECONDS = float(os.environ.get("SOAK_SECONDS", "60"))
WARMUP_FRACTION = 0.25
CLIENTS = 6
WORDS = SEED_TEXT.split()
ModelDirs = Callable[[str], Path]


def _text(rng: random.Random) -> str:
    # Mostly short inputs, some past the 128-token limit (cut by AUTO_TRUNCATE).
    length = rng.choice([1, 3, 8, 20, 50, 120, 400])
    start = rng.randrange(len(WORDS))
    return " ".join((WORDS * 10)[start : start + length])


def _embed_request(rng: random.Random) -> tuple[str, str, Any]:
    texts = [_text(rng) for _ in range(rng.randint(1, 8))]
    return rng.choice(
        [
            ("embed", "/embed", {"inputs": texts}),
            ("embed", "/embed", {"inputs": texts[0], "dimensions": 16}),
            ("embed", "/v1/embeddings", {"input": texts, "encoding_format": "base64"}),
            ("embed", "/embed_all", {"inputs": texts[:2]}),
            # /tokenize never truncates: inputs over the limit are 422 by design.
            ("embed", "/tokenize", {"inputs": [" ".join(t.split()[:50]) for t in texts]}),
            ("embed", "/invocations", "\n".join(f'"{t}"' for t in texts)),
            ("embed", "/similarity", {"inputs": {"source_sentence": texts[0], "sentences": texts}}),
        ]
    )


def _request(rng: random.Random) -> tuple[str, str, Any]:
    kind = rng.choice(["embed", "embed", "rerank", "classify"])
    if kind == "embed":
        return _embed_request(rng)
    texts = [_text(rng) for _ in range(rng.randint(1, 8))]
    if kind == "rerank":
        return ("rerank", "/rerank", {"query": _text(rng), "texts": texts, "return_text": True})
    pairs = [[t, _text(rng)] if rng.random() < 0.5 else [t] for t in texts]
    return ("classify", "/predict", {"inputs": pairs})


async def _client(
    servers: dict[str, RunningServer], seed: int, deadline: float, statuses: Counter[int]
) -> None:
    rng = random.Random(seed)
    async with httpx.AsyncClient(timeout=60) as client:
        while time.monotonic() < deadline:
            kind, path, body = _request(rng)
            url = servers[kind].url + path
            if isinstance(body, str):
                answer = await client.post(
                    url, content=body, headers={"content-type": "application/jsonlines"}
                )
            else:
                answer = await client.post(url, json=body)
            statuses[answer.status_code] += 1
            assert answer.status_code == 200, (path, answer.status_code, answer.text[:200])


async def _sample(
    servers: dict[str, RunningServer], deadline: float, samples: list[dict[str, float]]
) -> None:
    async with httpx.AsyncClient(timeout=5) as client:
        while time.monotonic() < deadline:
            samples.append({kind: rss_mb(server) for kind, server in servers.items()})
            for server in servers.values():
                assert (await client.get(f"{server.url}/ping")).status_code == 200
            await asyncio.sleep(1)


async def _soak(servers: dict[str, RunningServer], samples: list[dict[str, float]]) -> Counter[int]:
    deadline = time.monotonic() + SOAK_SECONDS
    statuses: Counter[int] = Counter()
    await asyncio.gather(
        _sample(servers, deadline, samples),
        *(_client(servers, seed, deadline, statuses) for seed in range(CLIENTS)),
    )
    return statuses


def test_soak_mixed_tasks_memory_flat(
    bert: RunningServer, server_factory: ServerFactory, model_dirs: ModelDirs
) -> None:
    servers = {
        "embed": bert,
        "rerank": server_factory("rel-reranker", {"HF_MODEL_ID": str(model_dirs("reranker"))}),
        "classify": server_factory(
            "rel-classifier", {"HF_MODEL_ID": str(model_dirs("classifier"))}
        ),
    }
    samples: list[dict[str, float]] = []
    started = time.monotonic()
    statuses = asyncio.run(_soak(servers, samples))
    elapsed = time.monotonic() - started
    assert set(statuses) == {200}, statuses  # not even a 429: load stays under admission
    # After warm-up, the second half's median must not sit above the first half's: single
    # samples swing by tens of MiB as batches of different shapes come and go.
    settled = samples[int(len(samples) * WARMUP_FRACTION) :]
    first, second = settled[: len(settled) // 2], settled[len(settled) // 2 :]
    lines = []
    for kind in servers:
        early = statistics.median(s[kind] for s in first)
        late = statistics.median(s[kind] for s in second)
        peak = max(s[kind] for s in settled)
        lines.append(
            f"{kind} {samples[0][kind]:.0f} at start, {early:.0f} after warm-up, "
            f"{late:.0f} at the end (median MiB; peak {peak:.0f})"
        )
        assert late - early < 25, f"{kind}: RSS grew {late - early:.1f} MiB after warm-up"
    total = sum(statuses.values())
    figure(
        f"soak: {elapsed:.0f}s, {CLIENTS} clients, {total} mixed requests "
        f"({total / elapsed:.0f}/s), all 200; RSS " + "; ".join(lines)
    )
