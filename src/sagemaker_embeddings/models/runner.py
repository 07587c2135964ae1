"""The device seam: loads weights with transformers and runs one padded batch.

GPU support stays on transformers' own paths (dtype, flash-attention-2 or SDPA) so
that what runs on this CPU-only machine covers nearly all of it.
"""

from __future__ import annotations

import importlib.util
import inspect
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from sagemaker_embeddings.errors import ModelLoadError
from sagemaker_embeddings.models.capacity import Device, DTypeName, choose_dtype
from sagemaker_embeddings.models.causal_rerank import NO, YES, token_id, yes_minus_no
from sagemaker_embeddings.models.colbert import token_vectors
from sagemaker_embeddings.models.collate import pad_batch
from sagemaker_embeddings.models.gpu_policy import (
    Capability,
    flash_attention_fits,
    installed_driver,
)
from sagemaker_embeddings.models.heads import build_dense_stack
from sagemaker_embeddings.models.m3 import M3ColbertHead, M3SparseHead
from sagemaker_embeddings.models.pooling import pool, splade
from sagemaker_embeddings.models.source import ModelSource
from sagemaker_embeddings.models.task import TASKS, ModelSpec, Want
from sagemaker_embeddings.settings import Settings

logger = logging.getLogger(__name__)

_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


@dataclass(frozen=True)
class Collated:
    """One batch as tensors, right-padded, on the model's device."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    token_type_ids: torch.Tensor | None
    lengths: tuple[int, ...]
    masked: bool  # some position is not attended to


def choose_device() -> torch.device:
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def attention_candidates(
    device: torch.device,
    settings: Settings | None = None,
    capability: Capability | None = None,
    flash_attn_installed: bool | None = None,
) -> list[str]:
    """Fastest first; a model whose architecture lacks one falls back to the next.

    flash-attn comes first only where it can run: installed, not switched off
    (USE_FLASH_ATTENTION), and built for the device's compute capability (the image
    records its archs in FLASH_ATTN_CUDA_ARCHS). Otherwise a T4 or a Blackwell GPU would
    fail at the warm-up pass.
    """
    candidates = ["sdpa", "eager"]
    if flash_attn_installed is None:
        flash_attn_installed = importlib.util.find_spec("flash_attn") is not None
    if device.type != "cuda" or not flash_attn_installed:
        return candidates
    if settings is not None and not settings.use_flash_attention:
        return candidates
    found = capability or torch.cuda.get_device_capability(device)
    archs = settings.flash_attn_cuda_archs if settings is not None else None
    if flash_attention_fits(found, archs):
        candidates.insert(0, "flash_attention_2")
    return candidates


class ModelRunner:
    """Owns the torch model; only the inference worker thread calls ``forward``."""

    backend: Literal["torch"] = "torch"

    def __init__(self, source: ModelSource, spec: ModelSpec, settings: Settings) -> None:
        self.spec = spec
        self.device = choose_device()
        self.device_type: Device = "cuda" if self.device.type == "cuda" else "cpu"
        self.dtype_name: DTypeName = choose_dtype(settings.dtype, self.device_type)
        self.dtype = _DTYPES[self.dtype_name]
        if self.device.type == "cuda":
            logger.info(
                "cuda device=%s capability=%s driver=%s cuda=%s",
                torch.cuda.get_device_name(self.device),
                torch.cuda.get_device_capability(self.device),
                installed_driver(),
                torch.version.cuda,
            )
        self.model = self._load(source, settings)
        self.dense = build_dense_stack(
            spec.dense_layers, self.dtype, self.device, settings.allow_pickle_weights
        )
        config: Any = self.model.config
        self.sparse_head = (
            M3SparseHead(
                source.path,
                int(config.hidden_size),
                int(config.vocab_size),
                self.dtype,
                self.device,
            )
            if spec.sparse_head
            else None
        )
        self.colbert_head = (
            M3ColbertHead(source.path, int(config.hidden_size), self.dtype, self.device)
            if spec.colbert_head
            else None
        )
        forward_params = inspect.signature(self.model.forward).parameters
        self.accepts_token_type_ids = "token_type_ids" in forward_params
        pad = getattr(self.model.config, "pad_token_id", None)
        self.pad_token_id = int(pad) if pad is not None else 0
        if spec.causal_lm_rerank:
            self._score_yes_against_no(source)
        threads = torch.get_num_threads()
        self._threads = {False: threads, True: threads}
        self._lane = threading.local()

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
        auto_class: Any = getattr(transformers, TASKS[self.spec.task].auto_class)
        kwargs: dict[str, Any] = {
            "dtype": self.dtype,
            "trust_remote_code": settings.trust_remote_code,
            "use_safetensors": None if settings.allow_pickle_weights else True,
        }
        if self.spec.causal_lm_rerank:
            kwargs["num_labels"] = 1  # the score layer carries the yes/no head
        *preferred, last = attention_candidates(self.device, settings)
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

    def _score_yes_against_no(self, source: ModelSource) -> None:
        """Turn the one-label classifier's fresh score vector into the LM head's "yes"
        row minus its "no" row (models/causal_rerank.py)."""
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(source.path / "tokenizer.json"))
        yes, no = token_id(tokenizer, YES), token_id(tokenizer, NO)
        weight = yes_minus_no(self.model, source.path, yes, no)
        score = getattr(self.model, "score", None)
        if not isinstance(score, torch.nn.Linear) or score.weight.shape != weight.shape:
            raise ModelLoadError(
                f"{source.model_id}: no one-label score layer to carry the yes/no head"
            )
        with torch.no_grad():
            score.weight.copy_(weight.to(score.weight.dtype))
        # The classifier scores the last token that is not padding; it must know ours.
        config: Any = self.model.config
        config.pad_token_id = self.pad_token_id

    def set_threads(self, per_lane: int, alone: int) -> None:
        """torch's intra-op threads on CPU for a pass beside others, and for one alone."""
        self._threads = {False: per_lane, True: alone}
        if self.device.type == "cpu":
            torch.set_num_threads(per_lane)

    def _use_threads(self, alone: bool) -> None:
        # torch.set_num_threads sets the calling thread's OpenMP team size, so each lane
        # sizes its own passes: a lone pass takes every core, the others their share.
        wanted = self._threads[alone]
        if getattr(self._lane, "threads", None) != wanted:
            torch.set_num_threads(wanted)
            self._lane.threads = wanted

    def collate(
        self,
        ids: Sequence[Sequence[int]],
        type_ids: Sequence[Sequence[int]],
        attended: Sequence[int | None] | None = None,
    ) -> Collated:
        # Width rounding is for CPU kernels' per-shape caches (models/collate.py).
        limit = self.spec.max_input_length if self.device.type == "cpu" else None
        padded = pad_batch(
            ids, type_ids, self.pad_token_id, self.accepts_token_type_ids, limit, attended
        )
        types = padded.token_type_ids
        return Collated(
            input_ids=torch.from_numpy(padded.input_ids).to(self.device),
            attention_mask=torch.from_numpy(padded.attention_mask).to(self.device),
            token_type_ids=torch.from_numpy(types).to(self.device) if types is not None else None,
            lengths=padded.lengths,
            masked=padded.masked,
        )

    @torch.inference_mode()
    def forward(
        self, batch: Collated, wants: Sequence[Want], alone: bool = False
    ) -> list[np.ndarray]:
        """Return, per input, its pooled vector / logits, token states or sparse vector."""
        if self.device.type == "cpu":
            self._use_threads(alone)
        inputs: dict[str, torch.Tensor] = {"input_ids": batch.input_ids}
        # Without padding the mask is all ones; leaving it out lets SDPA take its
        # unmasked kernels (length grouping makes such batches common).
        if batch.masked:
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
        results: list[np.ndarray] = [np.empty(0, dtype=np.float32)] * len(wants)
        pooled_rows = [i for i, want in enumerate(wants) if want == "pooled"]
        if pooled_rows:
            assert self.spec.pooling is not None
            states, mask = _rows(hidden, batch.attention_mask, pooled_rows, len(wants))
            vectors = pool(states, mask, self.spec.pooling)
            vectors = self.dense(vectors).float().cpu().numpy()
            for row, vector in zip(pooled_rows, vectors, strict=True):
                results[row] = vector
        sparse_rows = [i for i, want in enumerate(wants) if want == "sparse"]
        if sparse_rows:
            assert self.sparse_head is not None  # the engine only asks a model that has one
            states, mask = _rows(hidden, batch.attention_mask, sparse_rows, len(wants))
            ids, _ = _rows(batch.input_ids, batch.attention_mask, sparse_rows, len(wants))
            sparse = self.sparse_head(states, ids, mask).cpu().numpy()
            for row, vector in zip(sparse_rows, sparse, strict=True):
                results[row] = vector
        for row, want in enumerate(wants):
            if want == "tokens":
                states = hidden[row, : batch.lengths[row]]
                if self.colbert_head is not None:  # bge-m3: its ColBERT vectors
                    states = self.colbert_head(states)
                elif task == "colbert":  # PyLate: projected, normalized, every token
                    states = token_vectors(states, self.dense)
                results[row] = states.float().cpu().numpy()
        return results


def _rows(
    values: torch.Tensor, mask: torch.Tensor, rows: list[int], count: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The batch's ``rows`` of ``values`` and of the mask; gathered only when the batch
    mixes inputs that want different outputs."""
    if len(rows) == count:
        return values, mask
    index = torch.tensor(rows, device=values.device)
    return values[index], mask[index]
