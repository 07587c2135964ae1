"""The server on a real GPU: half precision against float32, flash-attn against SDPA, the
refusal with CUDA hidden, and batch-32 throughput of MiniLM and a BERT-base shape.

Each check starts ``serve`` the way the image does (IMAGE_FLAVOR=gpu) and compares with
sentence-transformers in float32 on the CPU.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.harness.serve import run_to_exit, start_server
from tests.model_factory import minilm_dir
from tests.reference import st_encode

TEXTS = [f"GPU check sentence number {i}: " + "embeddings on CUDA " * (i % 7) for i in range(32)]
HALF_PRECISION_COSINE = 0.999


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return np.sum(a * b, axis=1)


def _embed(env: dict[str, str], workdir: Path, model: Path) -> np.ndarray:
    server = start_server({"HF_MODEL_ID": str(model), "IMAGE_FLAVOR": "gpu", **env}, workdir)
    try:
        answer = httpx.post(f"{server.url}/embed", json={"inputs": TEXTS}, timeout=120)
        assert answer.status_code == 200, answer.text
        return np.asarray(answer.json(), dtype=np.float64)
    finally:
        server.stop()


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32"])
def test_precisions_match_float32_on_cpu(tmp_path: Path, dtype: str) -> None:
    model = minilm_dir()
    expected = st_encode(model, TEXTS, normalize_embeddings=True)
    found = _embed({"DTYPE": dtype, "BACKEND": "torch"}, tmp_path, model)
    assert _cosines(found, np.asarray(expected)).min() >= HALF_PRECISION_COSINE


def test_flash_attention_matches_sdpa(tmp_path: Path) -> None:
    if importlib.util.find_spec("flash_attn") is None:
        pytest.skip("flash-attn is not installed here")
    model = minilm_dir()
    flash = _embed({"DTYPE": "float16", "USE_FLASH_ATTENTION": "true"}, tmp_path / "f", model)
    sdpa = _embed({"DTYPE": "float16", "USE_FLASH_ATTENTION": "false"}, tmp_path / "s", model)
    assert _cosines(flash, sdpa).min() >= HALF_PRECISION_COSINE


def test_with_cuda_hidden_the_gpu_image_refuses(tmp_path: Path) -> None:
    env = {"HF_MODEL_ID": str(minilm_dir()), "IMAGE_FLAVOR": "gpu", "CUDA_VISIBLE_DEVICES": ""}
    code, log, answered = run_to_exit(env, tmp_path)
    assert code == 1
    assert not answered
    assert "this is the GPU image" in log
    assert "ALLOW_CPU_FALLBACK=true" in log


def _throughput(model: Path, dtype: str, seconds: float = 10.0) -> float:
    import torch
    from transformers import AutoModel

    net = AutoModel.from_pretrained(model, dtype=getattr(torch, dtype)).cuda().eval()
    batch = {
        "input_ids": torch.randint(1000, 2000, (32, 256), device="cuda"),
        "attention_mask": torch.ones(32, 256, dtype=torch.long, device="cuda"),
    }
    with torch.inference_mode():
        net(**batch)
        torch.cuda.synchronize()
        started, passes = time.perf_counter(), 0
        while time.perf_counter() - started < seconds:
            net(**batch)
            passes += 1
        torch.cuda.synchronize()
    return 32 * passes / (time.perf_counter() - started)


@pytest.mark.parametrize("name", ["minilm", "bert-base"])
def test_batch_32_throughput(name: str, tmp_path: Path) -> None:
    """Recorded, not judged: the numbers go in docs/images.md with the GPU they came from."""
    import torch

    builders: dict[str, Callable[[], Path]] = {"minilm": minilm_dir}
    if name == "bert-base":
        from bench.models import build_bert_base

        target = tmp_path / "bert-base"
        build_bert_base(target)
        builders[name] = lambda: target
    model = builders[name]()
    rate = _throughput(model, "float16")
    print(f"{torch.cuda.get_device_name()}: {name} float16, 32 x 256 tokens: {rate:.0f} inputs/s")
    assert rate > 0
