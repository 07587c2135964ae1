"""A minimal FastAPI embedding server with one batching task: the baseline most teams
write first, and the "first-in-first-out padded batcher" that W4 compares against.

Requests queue in arrival order; the batching task takes whole requests until it has
MAX_BATCH inputs, pads them to the longest, runs one forward pass in a thread and
splits the results. No length grouping, no token budget. Configured by environment
(MODEL_DIR, DTYPE, PORT, MAX_LENGTH, TASK=embed|rerank); run with our project's venv.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import torch
import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel
from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer

MODEL_DIR = os.environ["MODEL_DIR"]
TASK = os.environ.get("TASK", "embed")
MAX_LENGTH = int(os.environ.get("MAX_LENGTH", "512"))
MAX_BATCH = 32

tokenizer = AutoTokenizer.from_pretrained(MODEL_DIR)
model_class = AutoModelForSequenceClassification if TASK == "rerank" else AutoModel
model = model_class.from_pretrained(
    MODEL_DIR, dtype=getattr(torch, os.environ.get("DTYPE", "float32"))
).eval()
Item = str | tuple[str, str]


@dataclass
class Job:
    items: list[Item]
    future: asyncio.Future[list[Any]]


@torch.inference_mode()
def forward(items: list[Item]) -> list[Any]:
    texts = [item if isinstance(item, str) else item[0] for item in items]
    pairs = [item[1] for item in items if not isinstance(item, str)] or None
    batch = tokenizer(texts, pairs, padding=True, truncation=True, max_length=MAX_LENGTH,
                      return_tensors="pt")
    if TASK == "rerank":
        scores: list[float] = model(**batch).logits[:, 0].float().sigmoid().tolist()
        return scores
    hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    pooled = ((hidden * mask).sum(1) / mask.sum(1)).float()
    vectors: list[Any] = torch.nn.functional.normalize(pooled, dim=-1).tolist()
    return vectors


async def batching_task(queue: asyncio.Queue[Job]) -> None:
    while True:
        jobs = [await queue.get()]
        while not queue.empty() and sum(len(job.items) for job in jobs) < MAX_BATCH:
            jobs.append(queue.get_nowait())
        try:
            results = await asyncio.to_thread(forward, [i for job in jobs for i in job.items])
        except Exception as exc:  # fail this batch's requests, keep serving
            for job in jobs:
                job.future.set_exception(exc)
            continue
        for job in jobs:
            job.future.set_result(results[: len(job.items)])
            results = results[len(job.items) :]


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    app.state.queue = asyncio.Queue()
    task = asyncio.create_task(batching_task(app.state.queue))
    yield
    task.cancel()


app = FastAPI(lifespan=lifespan)


async def submit(items: list[Item]) -> list[Any]:
    job = Job(items, asyncio.get_running_loop().create_future())
    await app.state.queue.put(job)
    return await job.future


class EmbedRequest(BaseModel):
    inputs: str | list[str]


class RerankRequest(BaseModel):
    query: str
    texts: list[str]


@app.get("/ping")
async def ping() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/embed")
async def embed(request: EmbedRequest) -> list[Any]:
    texts = [request.inputs] if isinstance(request.inputs, str) else request.inputs
    return await submit(list[Item](texts))


@app.post("/rerank")
async def rerank(request: RerankRequest) -> list[dict[str, float]]:
    scores = await submit([(request.query, text) for text in request.texts])
    return [{"index": i, "score": s} for i, s in enumerate(scores)]


if __name__ == "__main__":
    forward(["warm up"])
    uvicorn.run(app, host="127.0.0.1", port=int(os.environ["PORT"]), log_level="warning")
