"""The in-process ceiling: transformers forward + pooling with no server in the way.

Run as a subprocess (``python -m bench.ceiling ...``) while no server is running;
prints one JSON object. Every loop is bounded by a time budget and a count.

- ``embed``: batch-32 throughput on the seed text (W1/W2's ceiling), batch-1 latency
  of the 10-token input (W3's), and the RAG mix sorted by length in batches of 32
  (W4's); plus the FLOPs of one seed-text forward pass, counted from the config.
  With the mix comes ``mix_in_flight_per_s``: the same texts batched as a server
  under W4 can batch them. W4's clients keep at most ten requests in flight, so a
  server groups by length only within ten arrivals, not across the whole mix; each
  window is sorted and cut in two, one batch per lane.
- ``rerank``: the 20 (query, passage) pairs of W5 as one batch.
- ``rerank-causal``: the same pairs through a causal-LM reranker the way its model card
  scores them (the prompt, left padding, P(yes) against P(no) at the last position):
  ``pairs_per_s`` with only the last position's logits computed (``logits_to_keep=1``,
  the quickest form of the card's code), ``card_pairs_per_s`` as the card writes it
  (logits over the vocabulary at every position).
- ``gemm``: the large matrix-product rate in float32 and bfloat16, which bounds any
  forward pass on this CPU.
- ``load``: the start-up floor of any transformers-based server: import torch and
  transformers, load the tokenizer and the model, run one pass. The parent
  (``load_floor``) times it from process start, as a server's cold start is timed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from bench.texts import SEED_TEXT, SHORT_TEXT, rag_mix, rerank_request

MAX_ITERATIONS = 2000
W4_IN_FLIGHT = 10  # W4's clients (bench/workloads.py)
SERVER_LANES = 2  # the server's CPU default (models/capacity.py: CPU_DEFAULT_LANES)
GEMM_SIZE = 2048
IDLE_GAP_SECONDS = 0.002
IDLE_RUNS = 100
LOAD_RUNS = 3
READY_LINE = "ready"


def timed(step: Callable[[], object], seconds: float, min_runs: int = 3) -> list[float]:
    """Seconds per call of ``step`` after one warm-up call; bounded by time and count."""
    step()
    durations: list[float] = []
    deadline = time.perf_counter() + seconds
    while len(durations) < MAX_ITERATIONS and (
        len(durations) < min_runs or time.perf_counter() < deadline
    ):
        started = time.perf_counter()
        step()
        durations.append(time.perf_counter() - started)
    return durations


def max_length(model_dir: Path) -> int:
    config = json.loads((model_dir / "config.json").read_text())
    limit = int(config.get("max_position_embeddings", 512))
    st_config = model_dir / "sentence_bert_config.json"
    if st_config.exists():
        limit = min(limit, int(json.loads(st_config.read_text())["max_seq_length"]))
    return limit


def forward_flops(model_dir: Path, tokens: int) -> float:
    """2 x multiply-adds of one BERT forward pass over ``tokens`` tokens (no embeddings)."""
    config = json.loads((model_dir / "config.json").read_text())
    width, inner = config["hidden_size"], config["intermediate_size"]
    projections = 4 * tokens * width * width  # Q, K, V and the output projection
    attention = 2 * tokens * tokens * width  # scores and the weighted sum
    feed_forward = 2 * tokens * width * inner
    return float(2 * config["num_hidden_layers"] * (projections + attention + feed_forward))


def in_flight_batches(texts: list[str]) -> list[list[str]]:
    """The texts in arrival order, W4_IN_FLIGHT at a time, each window sorted by length
    and cut into SERVER_LANES batches: the best grouping a server can make with only
    W4_IN_FLIGHT requests waiting."""
    batches = []
    for start in range(0, len(texts), W4_IN_FLIGHT):
        window = sorted(texts[start : start + W4_IN_FLIGHT], key=len)
        size = -(-len(window) // SERVER_LANES)
        batches += [window[i : i + size] for i in range(0, len(window), size)]
    return batches


def embed_ceiling(model_dir: Path, dtype: str, seconds: float, mix: bool) -> dict[str, Any]:
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir, dtype=getattr(torch, dtype)).eval()
    limit = max_length(model_dir)

    def encode(texts: list[str]) -> Callable[[], object]:
        batch = tokenizer(texts, padding=True, truncation=True, max_length=limit,
                          return_tensors="pt")

        @torch.inference_mode()
        def step() -> object:
            hidden = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            return ((hidden * mask).sum(1) / mask.sum(1)).float()

        return step

    seed_tokens = len(tokenizer(SEED_TEXT, truncation=True, max_length=limit)["input_ids"])
    batch32 = timed(encode([SEED_TEXT] * 32), seconds)
    short = encode([SHORT_TEXT])
    single = timed(short, seconds / 2, min_runs=20)

    def after_idle() -> float:
        # A sequential client leaves the model idle between passes (its HTTP round
        # trip); on some CPUs a pass after idle time is slower than back to back.
        time.sleep(IDLE_GAP_SECONDS)
        started = time.perf_counter()
        short()
        return time.perf_counter() - started

    idle = [after_idle() for _ in range(IDLE_RUNS)]
    result = {
        "seed_tokens": seed_tokens,
        "batch32_per_s": 32 / statistics.median(batch32),
        "batch1_short_ms": 1000 * statistics.median(single),
        "batch1_short_after_idle_ms": 1000 * statistics.median(idle),
        "forward_flops_seed": forward_flops(model_dir, seed_tokens),
    }
    if mix:
        texts = sorted(rag_mix(), key=len)
        steps = [encode(texts[i : i + 32]) for i in range(0, len(texts), 32)]
        mix_seconds = timed(lambda: [step() for step in steps], seconds, min_runs=1)
        result["mix_per_s"] = len(texts) / statistics.median(mix_seconds)
        windows = in_flight_batches(rag_mix())
        steps = [encode(batch) for batch in windows]
        mix_seconds = timed(lambda: [step() for step in steps], seconds, min_runs=1)
        result["mix_in_flight_per_s"] = len(texts) / statistics.median(mix_seconds)
    return result


def rerank_ceiling(model_dir: Path, dtype: str, seconds: float) -> dict[str, Any]:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(
        model_dir, dtype=getattr(torch, dtype)
    ).eval()
    request = rerank_request()
    batch = tokenizer([request.query] * len(request.passages), request.passages,
                      padding=True, truncation=True, max_length=max_length(model_dir),
                      return_tensors="pt")

    @torch.inference_mode()
    def step() -> object:
        return model(**batch).logits.float()

    durations = timed(step, seconds)
    return {"pairs_per_s": len(request.passages) / statistics.median(durations)}


def causal_rerank_ceiling(model_dir: Path, dtype: str, seconds: float) -> dict[str, Any]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from sagemaker_embeddings.models.causal_rerank import DEFAULT_INSTRUCTION, PREFIX, SUFFIX

    tokenizer = AutoTokenizer.from_pretrained(model_dir, padding_side="left")
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=getattr(torch, dtype)).eval()
    yes, no = tokenizer.convert_tokens_to_ids("yes"), tokenizer.convert_tokens_to_ids("no")
    prefix = tokenizer.encode(PREFIX, add_special_tokens=False)
    suffix = tokenizer.encode(SUFFIX, add_special_tokens=False)
    request = rerank_request()
    texts = [f"<Instruct>: {DEFAULT_INSTRUCTION}\n<Query>: {request.query}\n<Document>: {p}"
             for p in request.passages]
    encoded = tokenizer(texts, padding=False, truncation="longest_first",
                        return_attention_mask=False, max_length=8192 - len(prefix) - len(suffix))
    encoded["input_ids"] = [prefix + ids + suffix for ids in encoded["input_ids"]]
    batch = tokenizer.pad(encoded, padding=True, return_tensors="pt")

    @torch.inference_mode()
    def step(keep: int) -> object:
        last = model(**batch, logits_to_keep=keep).logits[:, -1, :]
        pair = torch.stack([last[:, no], last[:, yes]], dim=1).float()
        return torch.nn.functional.log_softmax(pair, dim=1)[:, 1].exp()

    pairs = len(request.passages)
    quickest = timed(partial(step, 1), seconds)
    as_written = timed(partial(step, 0), seconds, min_runs=2)  # 0: every position's logits
    return {"pairs_per_s": pairs / statistics.median(quickest),
            "card_pairs_per_s": pairs / statistics.median(as_written),
            "tokens_per_request": int(batch["attention_mask"].sum())}


def gemm_rates(seconds: float) -> dict[str, float]:
    """FLOP/s of a GEMM_SIZE-square matrix product, per dtype."""
    import torch

    rates = {}
    for dtype in (torch.float32, torch.bfloat16):
        a = torch.randn(GEMM_SIZE, GEMM_SIZE).to(dtype)
        b = torch.randn(GEMM_SIZE, GEMM_SIZE).to(dtype)
        durations = timed(partial(torch.mm, a, b), seconds)
        rates[str(dtype).removeprefix("torch.")] = 2 * GEMM_SIZE**3 / statistics.median(durations)
    return rates


def load_once(model_dir: Path, dtype: str) -> None:
    """The child of ``load_floor``: says READY_LINE after one pass, then exits at once
    (interpreter teardown is not part of anyone's start-up)."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir, dtype=getattr(torch, dtype)).eval()
    with torch.inference_mode():
        model(**tokenizer([SHORT_TEXT], return_tensors="pt"))
    print(READY_LINE, flush=True)
    os._exit(0)


def load_floor(model_dir: Path, dtype: str, timeout: float = 300.0) -> dict[str, Any]:
    """Median seconds, over LOAD_RUNS fresh processes, from start to READY_LINE."""
    durations = []
    for _ in range(LOAD_RUNS):
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "bench.ceiling", "load-once", "--model", str(model_dir),
             "--dtype", dtype], capture_output=True, text=True, timeout=timeout, check=False,
            cwd=Path(__file__).parent.parent)
        if READY_LINE not in done.stdout.split():
            raise RuntimeError(f"bare load failed: {done.stderr[-2000:]}")
        durations.append(time.perf_counter() - started)
    return {"load_floor_s": statistics.median(durations), "load_floor_runs": durations}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("kind", choices=["embed", "rerank", "rerank-causal", "gemm", "load",
                                         "load-once"])
    parser.add_argument("--model", type=Path)
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--mix", action="store_true", help="also the W4 mix (embed)")
    args = parser.parse_args()
    if args.kind == "load-once":
        load_once(args.model, args.dtype)
    if args.kind == "gemm":
        result: dict[str, Any] = gemm_rates(args.seconds)
    elif args.kind == "load":
        result = load_floor(args.model, args.dtype)
    elif args.kind == "embed":
        result = embed_ceiling(args.model, args.dtype, args.seconds, args.mix)
    elif args.kind == "rerank-causal":
        result = causal_rerank_ceiling(args.model, args.dtype, args.seconds)
    else:
        result = rerank_ceiling(args.model, args.dtype, args.seconds)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
