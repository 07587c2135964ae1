"""The ONNX Runtime runner: CPU, float32, with no torch in the process.

It takes the ONNX files Hugging Face repositories ship (``onnx/model.onnx``) and the
ones ``sagemaker-embeddings export`` writes: inputs ``input_ids``, ``attention_mask``
and, where the graph has it, ``token_type_ids``; output ``last_hidden_state`` for
embedders and ``logits`` for SPLADE, rerankers and classifiers. Pooling, Dense
modules and SPLADE run in numpy (models/numpy_heads.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from sagemaker_embeddings.errors import ModelLoadError
from sagemaker_embeddings.models.capacity import Device, DTypeName
from sagemaker_embeddings.models.collate import PaddedBatch, pad_batch
from sagemaker_embeddings.models.numpy_heads import DenseStack, pool, splade
from sagemaker_embeddings.models.task import ModelSpec, read_json


class OnnxGraphMismatch(ModelLoadError):
    """The ONNX file's inputs or outputs do not fit the model's task."""


def output_name(spec: ModelSpec) -> str:
    return "last_hidden_state" if spec.task == "embed" else "logits"


class OnnxRunner:
    """One InferenceSession shared by the lanes: ``run`` is thread-safe, and with one
    intra-op thread per lane (the CPU default) each pass runs on its lane's own thread,
    so two lanes cost one copy of the weights (figures: bench/notes/onnx.md)."""

    backend: Literal["onnx"] = "onnx"
    device_type: Device = "cpu"
    dtype_name: DTypeName = "float32"

    def __init__(self, model_dir: Path, path: Path, spec: ModelSpec, threads: int) -> None:
        self.path = path
        self.spec = spec
        self.dense = DenseStack(spec.dense_layers)
        pad = read_json(model_dir / "config.json").get("pad_token_id")
        self.pad_token_id = int(pad) if isinstance(pad, int) else 0
        self._output = output_name(spec)
        self._threads = threads
        self._session, self._inputs = self._open(threads)

    def set_threads_per_pass(self, threads: int) -> None:
        # The session's intra-op pool is sized at creation: a new count needs a new one.
        if threads != self._threads:
            self._threads = threads
            self._session, self._inputs = self._open(threads)

    def _open(self, threads: int) -> tuple[Any, tuple[str, ...]]:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        # Spinning pool threads would steal the other lane's core between passes.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            session = ort.InferenceSession(
                str(self.path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        # Start-up boundary: whatever onnxruntime raises becomes one clear message.
        except Exception as exc:
            raise ModelLoadError(f"cannot load {self.path}: {exc}") from exc
        inputs = tuple(i.name for i in session.get_inputs())
        outputs = [o.name for o in session.get_outputs()]
        missing = {"input_ids", "attention_mask"} - set(inputs)
        if missing or self._output not in outputs:
            raise OnnxGraphMismatch(
                f"{self.path} takes {list(inputs)} and gives {outputs}; {self.spec.task} needs "
                f"input_ids and attention_mask in, {self._output} out (export it again with "
                "`sagemaker-embeddings export`, with the same TASK and POOLING as the server)"
            )
        return session, inputs

    def collate(
        self, ids: Sequence[Sequence[int]], type_ids: Sequence[Sequence[int]]
    ) -> PaddedBatch:
        return pad_batch(ids, type_ids, self.pad_token_id, "token_type_ids" in self._inputs)

    def forward(self, batch: PaddedBatch, raw: Sequence[bool]) -> list[np.ndarray]:
        """Return, per input, its pooled vector / logits, or its token states when ``raw``."""
        feed = {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask}
        if batch.token_type_ids is not None:
            feed["token_type_ids"] = batch.token_type_ids
        (output,) = self._session.run([self._output], feed)
        output = np.asarray(output, dtype=np.float32)
        task = self.spec.task
        if task in ("rerank", "classify"):
            return list(output)
        if task == "sparse":
            return list(splade(output, batch.attention_mask))
        results: list[np.ndarray] = [np.empty(0, dtype=np.float32)] * len(raw)
        pooled_rows = [i for i, is_raw in enumerate(raw) if not is_raw]
        if pooled_rows:
            assert self.spec.pooling is not None
            vectors = pool(
                output[pooled_rows], batch.attention_mask[pooled_rows], self.spec.pooling
            )
            for row, vector in zip(pooled_rows, self.dense(vectors), strict=True):
                results[row] = vector
        for row, is_raw in enumerate(raw):
            if is_raw:
                results[row] = output[row, : batch.lengths[row]]
        return results
