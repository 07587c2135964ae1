"""The device seam: loads weights with transformers and runs one padded batch.

GPU support stays on transformers' own paths (dtype, flash-attention-2 or SDPA) so
that what runs on this CPU-only machine covers nearly all of it.
"""

from __future__ import annotations

import importlib.util
import inspect
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sagemaker_embeddings.errors import ModelLoadError
from sagemaker_embeddings.models.heads import build_dense_stack
from sagemaker_embeddings.models.pooling import pool, splade
from sagemaker_embeddings.models.source import ModelSource
from sagemaker_embeddings.models.task import ModelSpec
from sagemaker_embeddings.settings import TEI_MAX_BATCH_TOKENS, Settings

logger = logging.getLogger(__name__)

_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


@dataclass(frozen=True)
class Collated:
    """One batch as tensors, right-padded, on the model's device."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    token_type_ids: torch.Tensor | None
    lengths: tuple[int, ...]


def choose_device() -> torch.device:
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


# CPU features with native bfloat16 arithmetic (Cooper Lake / Zen 4 and Sapphire Rapids
# AMX). Without them torch emulates bfloat16, which is slower than float32.
_BF16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    """Feature flags of the first CPU listed in ``cpuinfo``; empty where it cannot be read."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.partition(":")[2].split())
    return frozenset()


def choose_dtype(
    setting: str, device: torch.device, flags: frozenset[str] | None = None
) -> torch.dtype:
    """``DTYPE`` wins; "auto" is float16 on GPU, bfloat16 on CPUs with native support
    (``flags``: the CPU's feature flags, read from /proc/cpuinfo when not given), else float32.
    """
    if setting != "auto":
        return _DTYPES[setting]
    if device.type == "cuda":
        return torch.float16
    flags = cpu_flags() if flags is None else flags
    return torch.bfloat16 if flags & _BF16_CPU_FLAGS else torch.float32


# On CPU a float32 pass's throughput per input is flat from batch 1 up (MiniLM, 251
# tokens: 22-27 inputs/s at 1 to 32 inputs), while its activations grow with the
# batch. Peak memory of MiniLM in float32 after the benchmark's W1-W4: 650 MB at 4096
# tokens, 590 MB at 2048 (730 MB at TEI's 16384), at the same throughput. bfloat16
# passes gain from larger batches (W1 and W2 fell 10-17% at 2048 tokens), and their
# activations are half the size: they get the same memory, twice the tokens. The
# budget is shared by the passes that run at once (the lanes below): two lanes of
# 2048 tokens each peaked at 630-640 MB, two of 1024 at 560-565 MB.
CPU_BATCH_TOKENS_FLOAT32 = 2048

# On CPU two passes at once, each on half the cores, beat one pass on all of them: a
# pass on two threads is far from twice as fast as on one, and one lane's Python glue
# overlaps the other's compute. All-MiniLM-L6-v2 in float32 on 2 AVX2 cores, in
# process (python -m bench.lanes), two lanes of one thread against one lane of two:
# 8 inputs x 251 tokens 1.10x, 1 x 20 tokens 1.88x, 32 x 60 tokens 1.08x. Served
# (python -m bench.run, bench/runs/2026-12-02T0438Z.json one lane, T0530Z two): W1
# 11.8 -> 14.6 and W4 (RAG mix) 21.3 -> 30.7 inputs/s; a lone request pays for it,
# its pass having half the threads (W3 p50 25.3 -> 27.2 ms). More lanes would shrink
# each pass's share of the cores further. MMS, too, gives each worker one thread.
CPU_DEFAULT_LANES = 2


def cpu_threads() -> int:
    """The intra-op threads a process would use: OMP_NUM_THREADS when set, else the
    CPUs this process may run on."""
    setting = os.environ.get("OMP_NUM_THREADS", "")
    if setting.isdigit() and int(setting) > 0:
        return int(setting)
    return len(os.sched_getaffinity(0))


def inference_lanes(setting: int | None, device: torch.device, threads: int) -> int:
    """INFERENCE_LANES when set; else one on GPU (one stream), and on CPU two, or one
    where there is a single thread to give."""
    if setting is not None:
        return setting
    if device.type == "cuda":
        return 1
    return max(1, min(CPU_DEFAULT_LANES, threads))


def threads_per_lane(device: torch.device, lanes: int, threads: int) -> int:
    """Each lane's equal share of the CPU threads, at least one (GPU: unchanged)."""
    return max(1, threads // lanes) if device.type == "cpu" else threads


def batch_token_budget(
    setting: int | None,
    device: torch.device,
    dtype: torch.dtype,
    max_input_length: int,
    lanes: int = 1,
) -> int:
    """MAX_BATCH_TOKENS when set; else TEI's default on GPU, and on CPU each lane's share
    of the tokens whose activations take as much memory as CPU_BATCH_TOKENS_FLOAT32 do
    in float32, or the model's longest input, whichever is larger."""
    if setting is not None:
        return setting
    if device.type == "cuda":
        return TEI_MAX_BATCH_TOKENS
    scaled = CPU_BATCH_TOKENS_FLOAT32 * 4 // dtype.itemsize // lanes
    return max(scaled, max_input_length)


def attention_candidates(device: torch.device) -> list[str]:
    """Fastest first; a model whose architecture lacks one falls back to the next."""
    candidates = ["sdpa", "eager"]
    if device.type == "cuda" and importlib.util.find_spec("flash_attn") is not None:
        candidates.insert(0, "flash_attention_2")
    return candidates


class ModelRunner:
    """Owns the torch model; only the inference worker thread calls ``forward``."""

    def __init__(self, source: ModelSource, spec: ModelSpec, settings: Settings) -> None:
        self.spec = spec
        self.device = choose_device()
        self.dtype = choose_dtype(settings.dtype, self.device)
        self.model = self._load(source, settings)
        self.dense = build_dense_stack(
            spec.dense_layers, self.dtype, self.device, settings.allow_pickle_weights
        )
        forward_params = inspect.signature(self.model.forward).parameters
        self.accepts_token_type_ids = "token_type_ids" in forward_params
        pad = getattr(self.model.config, "pad_token_id", None)
        self.pad_token_id = int(pad) if pad is not None else 0

    def _load(self, source: ModelSource, settings: Settings) -> torch.nn.Module:
        import transformers

        # Progress bars are for notebooks; a server logs one line per model instead.
        transformers.utils.logging.disable_progress_bar()  # type: ignore[no-untyped-call]
        needs_own_code = (
            self.spec.ships_code and self.spec.model_type not in transformers.CONFIG_MAPPING
        )
        if needs_own_code and not settings.trust_remote_code:
            raise ModelLoadError(
                f"{source.model_id} needs its own model code (auto_map in config.json); "
                "set TRUST_REMOTE_CODE=true to run it"
            )
        auto_class: Any = {
            "embed": transformers.AutoModel,
            "sparse": transformers.AutoModelForMaskedLM,
            "rerank": transformers.AutoModelForSequenceClassification,
            "classify": transformers.AutoModelForSequenceClassification,
        }[self.spec.task]
        kwargs: dict[str, Any] = {
            "dtype": self.dtype,
            "trust_remote_code": settings.trust_remote_code,
            "use_safetensors": None if settings.allow_pickle_weights else True,
        }
        *preferred, last = attention_candidates(self.device)
        for attention in preferred:
            try:
                return self._from_pretrained(auto_class, source, attention, kwargs)
            except ModelLoadError as exc:
                # transformers refuses an attention kind an architecture lacks with a
                # ValueError naming it; anything else is a real load failure.
                if not isinstance(exc.__cause__, ValueError) or "attention" not in str(exc).lower():
                    raise
                logger.warning(
                    "%s attention unavailable (%s); trying the next kind", attention, exc
                )
        return self._from_pretrained(auto_class, source, last, kwargs)

    def _from_pretrained(
        self, auto_class: Any, source: ModelSource, attention: str, kwargs: dict[str, Any]
    ) -> torch.nn.Module:
        try:
            model = auto_class.from_pretrained(source.path, attn_implementation=attention, **kwargs)
        # Start-up boundary: whatever transformers raises becomes one clear message.
        except Exception as exc:
            raise ModelLoadError(f"cannot load {source.model_id}: {exc}") from exc
        module: torch.nn.Module = model.to(self.device).eval()
        return module

    def set_threads_per_pass(self, threads: int) -> None:
        """torch's intra-op threads for each pass on CPU (a process-wide setting)."""
        if self.device.type == "cpu":
            torch.set_num_threads(threads)

    def collate(self, ids: Sequence[Sequence[int]], type_ids: Sequence[Sequence[int]]) -> Collated:
        lengths = tuple(len(x) for x in ids)
        width = max(lengths)
        input_ids = np.full((len(ids), width), self.pad_token_id, dtype=np.int64)
        mask = np.zeros((len(ids), width), dtype=np.int64)
        types = np.zeros((len(ids), width), dtype=np.int64) if self.accepts_token_type_ids else None
        for row, (tokens, segment) in enumerate(zip(ids, type_ids, strict=True)):
            input_ids[row, : len(tokens)] = tokens
            mask[row, : len(tokens)] = 1
            if types is not None:
                types[row, : len(segment)] = segment
        return Collated(
            input_ids=torch.from_numpy(input_ids).to(self.device),
            attention_mask=torch.from_numpy(mask).to(self.device),
            token_type_ids=torch.from_numpy(types).to(self.device) if types is not None else None,
            lengths=lengths,
        )

    @torch.inference_mode()
    def forward(self, batch: Collated, raw: Sequence[bool]) -> list[np.ndarray]:
        """Return, per input, its pooled vector / logits, or its token states when ``raw``."""
        inputs: dict[str, torch.Tensor] = {"input_ids": batch.input_ids}
        # Without padding the mask is all ones; leaving it out lets SDPA take its
        # unmasked kernels (length grouping makes such batches common).
        if min(batch.lengths) != max(batch.lengths):
            inputs["attention_mask"] = batch.attention_mask
        if batch.token_type_ids is not None:
            inputs["token_type_ids"] = batch.token_type_ids
        output = self.model(**inputs)
        task = self.spec.task
        if task in ("rerank", "classify"):
            return list(output.logits.float().cpu().numpy())
        if task == "sparse":
            pooled = splade(output.logits, batch.attention_mask)
            return list(pooled.float().cpu().numpy())
        hidden = output.last_hidden_state
        results: list[np.ndarray] = [np.empty(0, dtype=np.float32)] * len(raw)
        pooled_rows = [i for i, is_raw in enumerate(raw) if not is_raw]
        if pooled_rows:
            assert self.spec.pooling is not None
            states, mask = hidden, batch.attention_mask
            if len(pooled_rows) < len(raw):  # gather only when raw and pooled inputs share a batch
                index = torch.tensor(pooled_rows, device=hidden.device)
                states, mask = hidden[index], mask[index]
            vectors = pool(states, mask, self.spec.pooling)
            vectors = self.dense(vectors).float().cpu().numpy()
            for row, vector in zip(pooled_rows, vectors, strict=True):
                results[row] = vector
        for row, is_raw in enumerate(raw):
            if is_raw:
                results[row] = hidden[row, : batch.lengths[row]].float().cpu().numpy()
        return results
