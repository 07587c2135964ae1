"""Engine: the transport-free API (embed, rerank, predict, ...) over one loaded model.

Every request goes admission -> tokenization (inline when short, else in a pool) -> the token-budget
queue -> the inference worker -> post-processing here. The HTTP routes and toolkit
mode both call it the same way.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np

from sagemaker_embeddings.engine.admission import Admission
from sagemaker_embeddings.engine.batching import Batch, Entry, Output, TokenBudgetQueue
from sagemaker_embeddings.engine.heap_trim import HeapTrimmer
from sagemaker_embeddings.engine.tokenize import (
    Direction,
    InputTokenizer,
    TextInput,
    TokenizedInput,
    is_empty,
    text_chars,
)
from sagemaker_embeddings.engine.worker import InferenceWorker
from sagemaker_embeddings.errors import (
    EmptyInput,
    ModelLoadError,
    ServingError,
    ValidationFailed,
    WrongModelType,
)
from sagemaker_embeddings.models.backend import Runner
from sagemaker_embeddings.models.capacity import plan_capacity
from sagemaker_embeddings.models.colbert import ColbertQuery, maxsim
from sagemaker_embeddings.models.source import ModelSource
from sagemaker_embeddings.models.task import TASKS, ModelSpec, Want
from sagemaker_embeddings.observability.metrics import Metrics, failure_label
from sagemaker_embeddings.settings import Settings, Task

logger = logging.getLogger(__name__)

T = TypeVar("T")
# Requests up to this many characters are tokenized on the event loop, not in the pool.
INLINE_TOKENIZATION_CHARS = 2048
# The CPU warm-up pass is at most this long. A long-context model (a Qwen3-Reranker
# clamped to 16,384 tokens) would otherwise spend minutes warming up on a CPU. Models
# with learnt positions, whose claimed length the pass checks, have 512 or fewer.
CPU_WARMUP_TOKENS = 512
RawInput = str | list[int]  # text, or token ids (decoded and re-encoded, as TEI does)


@dataclass(frozen=True)
class Timings:
    """Seconds; the three stages are per-input averages, as TEI reports them."""

    total: float
    tokenization: float
    queue: float
    inference: float


@dataclass(frozen=True)
class Result(Generic[T]):
    value: T
    tokens: int
    chars: int
    timings: Timings


@dataclass(frozen=True)
class TokenInfo:
    id: int
    text: str
    special: bool
    start: int | None
    stop: int | None


class Engine:
    def __init__(
        self,
        source: ModelSource,
        spec: ModelSpec,
        tokenizer: InputTokenizer,
        runner: Runner,
        settings: Settings,
    ) -> None:
        self.source = source
        self.spec = spec
        self.tokenizer = tokenizer
        self.runner = runner
        self.settings = settings
        self.metrics = Metrics(spec.max_input_length)
        self.admission = Admission(settings.max_concurrent_requests)
        capacity = plan_capacity(
            settings, runner.device_type, runner.dtype_name, spec.max_input_length
        )
        self.lanes = capacity.lanes
        self.threads_per_lane = capacity.threads_per_lane
        self.max_batch_tokens = capacity.max_batch_tokens
        self.batches = TokenBudgetQueue(
            self.max_batch_tokens,
            settings.max_batch_requests,
            on_dropped=self._on_dropped,
        )
        self.worker = InferenceWorker(
            runner, self.batches, on_batch=self._observe_batch, lanes=self.lanes
        )
        workers = settings.tokenization_workers or max(1, (os.cpu_count() or 2) - 1)
        self.tokenization_workers = workers
        self.output_width = 0  # width of the pooled output, learnt from the warm-up pass
        self._tokenizer_pool = ThreadPoolExecutor(workers, thread_name_prefix="tokenize")
        self._trimmer: HeapTrimmer | None = None

    # --- lifecycle -------------------------------------------------------------
    def start(self) -> None:
        """Warm up and start serving; raises ModelLoadError when the warm-up fails."""
        # Before the lanes' first pass, which sizes their thread teams.
        self.runner.set_threads(self.threads_per_lane, self.threads_per_lane * self.lanes)
        self.worker.start(self.warmup)
        # With the engine, not the HTTP app: toolkit mode (MMS) trims the heap too.
        self._trimmer = HeapTrimmer(self.settings.malloc_trim_seconds, self.worker.last_active)
        self._trimmer.start()

    def stop(self) -> None:
        if self._trimmer is not None:
            self._trimmer.stop()
        self.worker.stop()
        self._tokenizer_pool.shutdown(wait=False, cancel_futures=True)

    def warmup(self) -> None:
        """One forward pass of the longest input the server accepts (allocations, kernels);
        on CPU, of at most CPU_WARMUP_TOKENS."""
        length = min(self.spec.max_input_length, self.max_batch_tokens)
        if self.runner.device_type == "cpu":
            length = min(length, CPU_WARMUP_TOKENS)
        ids = [[0] * length]
        try:
            want = TASKS[self.spec.task].output
            (output,) = self.runner.forward(self.runner.collate(ids, ids), [want])
            self.output_width = int(output.shape[-1])
        # Start-up boundary: a model that cannot run its own maximum length must not serve.
        except Exception as exc:
            raise ModelLoadError(
                f"the warm-up forward pass of {length} tokens failed: {type(exc).__name__}: {exc}"
            ) from exc

    @property
    def healthy(self) -> bool:
        return self.worker.healthy

    @property
    def task(self) -> Task:
        return self.spec.task

    # --- tasks -----------------------------------------------------------------
    async def embed(
        self,
        inputs: Sequence[RawInput],
        *,
        truncate: bool | None = None,
        direction: Direction = "right",
        prompt_name: str | None = None,
        normalize: bool = True,
        dimensions: int | None = None,
    ) -> Result[list[np.ndarray]]:
        self._require({"embed", "sparse"}, "embed")
        # Checked before any work is queued: a bad request costs no forward pass.
        if dimensions is not None and not 0 < dimensions <= self.output_width:
            raise ValidationFailed(
                f"`dimensions` must be between 1 and {self.output_width}, got {dimensions}"
            )
        result = await self._run(
            self._texts(inputs, prompt_name), "pooled", truncate, direction, prompt_name
        )
        # TEI: the request's flag decides, even for models with a Normalize module.
        vectors = [_matryoshka(v, dimensions, normalize) for v in result.value]
        return _with_value(result, vectors)

    async def embed_all(
        self,
        inputs: Sequence[RawInput],
        *,
        truncate: bool | None = None,
        direction: Direction = "right",
        prompt_name: str | None = None,
    ) -> Result[list[np.ndarray]]:
        self._require({"embed", "colbert"}, "embed_all")
        texts = self._texts(inputs, prompt_name)
        if self.spec.task == "colbert" and prompt_name == "query":
            # PyLate's prompt names say which side a text is on; documents by default.
            texts = [ColbertQuery(t) if isinstance(t, str) else t for t in texts]
        return await self._run(texts, "tokens", truncate, direction, prompt_name)

    async def embed_sparse(
        self,
        inputs: Sequence[RawInput],
        *,
        truncate: bool | None = None,
        direction: Direction = "right",
        prompt_name: str | None = None,
    ) -> Result[list[list[tuple[int, float]]]]:
        if not self.spec.sparse_head:  # bge-m3: its lexical head, beside /embed
            self._require({"sparse"}, "embed_sparse")
        result = await self._run(
            self._texts(inputs, prompt_name), "sparse", truncate, direction, prompt_name
        )
        sparse = [[(int(i), float(v[i])) for i in np.flatnonzero(v)] for v in result.value]
        return _with_value(result, sparse)

    async def predict(
        self,
        inputs: Sequence[TextInput],
        *,
        truncate: bool | None = None,
        direction: Direction = "right",
        raw_scores: bool = False,
    ) -> Result[list[list[tuple[str, float]]]]:
        self._require({"rerank", "classify"}, "predict")
        result = await self._run(list(inputs), "pooled", truncate, direction, None)
        labels = [self.spec.id2label.get(i, f"LABEL_{i}") for i in range(_width(result.value))]
        scored = []
        for logits in result.value:
            scores = logits if raw_scores else _activate(logits)
            ranked = sorted(zip(labels, scores.tolist(), strict=True), key=lambda p: -p[1])
            scored.append(ranked)
        return _with_value(result, scored)

    async def rerank(
        self,
        query: str,
        texts: Sequence[str],
        *,
        truncate: bool | None = None,
        direction: Direction = "right",
        raw_scores: bool = False,
        instruction: str | None = None,
    ) -> Result[list[float]]:
        """One score per text, in the order given (callers sort). ``instruction``: a
        causal-LM reranker's task instruction for this request (models/causal_rerank.py)."""
        self._require({"rerank", "colbert"}, "rerank")
        if not texts:
            raise EmptyInput("`texts` cannot be empty")
        if instruction is not None and not self.spec.causal_lm_rerank:
            raise ValidationFailed("`instruction` is only for causal-LM rerankers")
        if self.spec.task == "colbert":
            # Late interaction: the query and the texts are encoded apart (in the same
            # passes) and scored by MaxSim, which has no probability to squash into.
            encoded: list[TextInput] = [ColbertQuery(query), *texts]
            vectors = await self._run(encoded, "tokens", truncate, direction, None)
            query_vectors, *documents = vectors.value
            return _with_value(vectors, [maxsim(query_vectors, d) for d in documents])
        pairs: list[TextInput] = [(query, text) for text in texts]
        result = await self._run(pairs, "pooled", truncate, direction, None, instruction)
        scores = [float(v[0] if raw_scores else _sigmoid(v[0])) for v in result.value]
        return _with_value(result, scores)

    async def similarity(
        self,
        source: str,
        sentences: Sequence[str],
        *,
        truncate: bool | None = None,
        direction: Direction = "right",
        prompt_name: str | None = None,
    ) -> Result[list[float]]:
        self._require({"embed"}, "similarity")
        if not sentences:
            raise EmptyInput("`sentences` cannot be empty")
        result = await self.embed(
            [source, *sentences],
            truncate=truncate,
            direction=direction,
            prompt_name=prompt_name,
            normalize=True,
        )
        anchor, *others = result.value
        return _with_value(result, [float(np.dot(anchor, other)) for other in others])

    async def tokenize(
        self,
        inputs: Sequence[str],
        *,
        add_special_tokens: bool = True,
        prompt_name: str | None = None,
    ) -> list[list[TokenInfo]]:
        self._check_count(len(inputs))
        self._check_not_empty(inputs)
        prompt = self.tokenizer.prompt_for(prompt_name)
        # TEI tokenizes text of any token length (only the character limit applies).
        encodings = await self._in_pool(
            lambda: self.tokenizer.encodings(
                inputs,
                truncate=False,
                prompt_name=prompt_name,
                add_special_tokens=add_special_tokens,
                limit_tokens=False,
            )
        )
        tokens = []
        for text, encoding in zip(inputs, encodings, strict=True):
            full = (prompt or "") + text
            # TEI's offsets count UTF-8 bytes; the tokenizers binding gives characters.
            byte_at = _byte_offsets(full)
            row = []
            for token_id, token, special, (start, stop) in zip(
                encoding.ids,
                encoding.tokens,
                encoding.special_tokens_mask,
                encoding.offsets,
                strict=True,
            ):
                is_special = bool(special)
                row.append(
                    TokenInfo(
                        id=token_id,
                        text=token if is_special else full[start:stop],
                        special=is_special,
                        start=None if is_special else byte_at[start],
                        stop=None if is_special else byte_at[stop],
                    )
                )
            tokens.append(row)
        return tokens

    def decode(self, batch: Sequence[Sequence[int]], skip_special_tokens: bool) -> list[str]:
        self._check_count(len(batch))
        return self.tokenizer.decode(batch, skip_special_tokens)

    # --- shared path -------------------------------------------------------------
    def _require(self, tasks: set[Task], operation: str) -> None:
        # Operations carry TEI's names, which its routes spell with a leading slash.
        if self.spec.task not in tasks:
            self.metrics.request_failure.labels("model_type").inc()
            task = TASKS[self.spec.task]
            raise WrongModelType(
                f"/{operation} is not available: this model is {task.label} (use /{task.route})"
            )

    def _check_count(self, count: int) -> None:
        if count == 0:
            raise EmptyInput("`inputs` cannot be empty")
        if count > self.settings.max_client_batch_size:
            raise ValidationFailed(
                f"batch size {count} > maximum allowed batch size "
                f"{self.settings.max_client_batch_size}"
            )

    def _texts(self, inputs: Sequence[RawInput], prompt_name: str | None) -> list[TextInput]:
        # A ColBERT encoder adds its own specials (and its marker), so ids go in as text.
        prompted = any(not isinstance(x, str) for x in inputs) and (
            self.spec.task == "colbert" or self.tokenizer.prompt_for(prompt_name) is not None
        )
        return [
            x if isinstance(x, str) else self.tokenizer.ids_to_text(x, prompted) for x in inputs
        ]

    def _check_not_empty(self, inputs: Sequence[TextInput]) -> None:
        if any(map(is_empty, inputs)):
            raise EmptyInput("`inputs` cannot be empty")

    async def _in_pool(self, work: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._tokenizer_pool, work)

    async def _run(
        self,
        inputs: list[TextInput],
        want: Want,
        truncate: bool | None,
        direction: Direction,
        prompt_name: str | None,
        instruction: str | None = None,
    ) -> Result[list[np.ndarray]]:
        started = time.perf_counter()
        method = "single" if len(inputs) == 1 else "batch"
        # TEI's embed series cover pooled, raw, sparse and similarity; predict covers
        # classification and reranking.
        classifies = self.spec.task in ("rerank", "classify")
        operation = self.metrics.predict if classifies else self.metrics.embed
        self.metrics.request_count.labels(method).inc()
        try:
            self._check_count(len(inputs))
            self._check_not_empty(inputs)
            with self.admission.acquire(len(inputs)):
                operation.count.inc(len(inputs))
                result = await self._through_model(
                    inputs,
                    want,
                    self.settings.auto_truncate if truncate is None else truncate,
                    direction,
                    prompt_name,
                    instruction,
                    started,
                )
        except ServingError as error:
            self.metrics.request_failure.labels(failure_label(error)).inc()
            raise
        self.metrics.request_success.labels(method).inc()
        self.metrics.request_duration.observe(result.timings.total)
        t = result.timings
        operation.answered(len(inputs), t.total, t.tokenization, t.queue, t.inference)
        return result

    async def _through_model(
        self,
        inputs: list[TextInput],
        want: Want,
        truncate: bool,
        direction: Direction,
        prompt_name: str | None,
        instruction: str | None,
        started: float,
    ) -> Result[list[np.ndarray]]:
        def encode() -> list[TokenizedInput]:
            return self.tokenizer.encode(
                inputs,
                truncate=truncate,
                direction=direction,
                prompt_name=prompt_name,
                instruction=instruction,
            )

        # A short request encodes in well under a millisecond: cheaper on the event loop
        # than a hop to the pool (figures: bench/notes/engine.md).
        if sum(map(text_chars, inputs)) <= INLINE_TOKENIZATION_CHARS:
            tokenized = encode()
        else:
            tokenized = await self._in_pool(encode)
        tokenized_at = time.perf_counter()
        loop = asyncio.get_running_loop()
        entries = [Entry(t, want, loop.create_future(), loop) for t in tokenized]
        self.batches.append(entries)
        self.metrics.queue_size.set(len(self.batches))
        try:
            outputs: list[Output] = await asyncio.gather(*(e.future for e in entries))
        except asyncio.CancelledError:
            # The client went away: abandoned entries are skipped by the queue.
            for entry in entries:
                entry.future.cancel()
            raise
        count = len(outputs)
        tokenization = tokenized_at - started
        queue_avg = sum(o.queue_seconds for o in outputs) / count
        inference_avg = sum(o.inference_seconds for o in outputs) / count
        tokens = sum(len(t.ids) for t in tokenized)
        for t in tokenized:
            self.metrics.input_length.observe(len(t.ids))
        self.metrics.tokenization_duration.observe(tokenization)
        self.metrics.queue_duration.observe(queue_avg)
        self.metrics.inference_duration.observe(inference_avg)
        return Result(
            value=[_returned(o.value, t, want) for o, t in zip(outputs, tokenized, strict=True)],
            tokens=tokens,
            chars=sum(t.chars for t in tokenized),
            timings=Timings(
                total=time.perf_counter() - started,
                tokenization=tokenization / count,
                queue=queue_avg,
                inference=inference_avg,
            ),
        )

    def _on_dropped(self, count: int) -> None:
        # Inputs of clients that went away leave the queue without a forward pass; when
        # they were the last ones, no batch follows to refresh te_queue_size. Called with
        # the queue's (re-entrant) lock held, after the entries were removed.
        self.metrics.request_failure.labels("dropped").inc(count)
        self.metrics.queue_size.set(len(self.batches))

    def _observe_batch(self, batch: Batch, seconds: float) -> None:
        self.metrics.batch_size.observe(len(batch.entries))
        self.metrics.batch_tokens.observe(batch.padded_tokens)
        self.metrics.worker_busy.inc(seconds)
        self.metrics.queue_size.set(len(self.batches))


def _byte_offsets(text: str) -> list[int]:
    """The UTF-8 byte offset of every character position of ``text`` (and of its end)."""
    if text.isascii():
        return list(range(len(text) + 1))
    offsets = [0]
    for char in text:
        offsets.append(offsets[-1] + len(char.encode("utf-8")))
    return offsets


def _returned(value: np.ndarray, tokenized: TokenizedInput, want: Want) -> np.ndarray:
    """Token outputs keep the positions the tokenizer chose (a ColBERT document drops
    its punctuation); everything else is answered whole."""
    if want != "tokens" or tokenized.returned is None:
        return value
    return value[list(tokenized.returned)]


def _with_value(result: Result[Any], value: T) -> Result[T]:
    return Result(value=value, tokens=result.tokens, chars=result.chars, timings=result.timings)


def _width(values: list[np.ndarray]) -> int:
    return int(values[0].shape[-1]) if values else 0


def _sigmoid(x: float) -> float:
    return float(1.0 / (1.0 + np.exp(-x)))


def _activate(logits: np.ndarray) -> np.ndarray:
    """Sigmoid for one label (a reranker), softmax over several (a classifier)."""
    if logits.shape[-1] == 1:
        return np.asarray(1.0 / (1.0 + np.exp(-logits)))
    shifted = np.exp(logits - logits.max())
    return np.asarray(shifted / shifted.sum())


def _matryoshka(vector: np.ndarray, dimensions: int | None, normalize: bool) -> np.ndarray:
    if dimensions is not None:
        vector = vector[:dimensions]
    if normalize:
        norm = float(np.linalg.norm(vector))
        vector = vector / norm if norm > 0 else vector
    return vector.astype(np.float32, copy=False)
