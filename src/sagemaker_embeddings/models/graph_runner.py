"""What the runners of exported graphs (ONNX Runtime, OpenVINO) share: the padded numpy
batch going in, and pooling, Dense modules and SPLADE in numpy coming out.

A graph takes ``input_ids``, ``attention_mask`` and, where it has it,
``token_type_ids``; it gives ``last_hidden_state`` for embedders (ColBERT models
included) and ``logits`` for
SPLADE, rerankers and classifiers (what ``sagemaker-embeddings export`` writes and
Hugging Face repositories ship as ``onnx/model.onnx``).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path

import numpy as np

from sagemaker_embeddings.errors import ModelLoadError
from sagemaker_embeddings.models.collate import PaddedBatch, pad_batch
from sagemaker_embeddings.models.numpy_heads import DenseStack, normalized, pool, splade
from sagemaker_embeddings.models.task import ModelSpec, Want, read_json

Feed = dict[str, np.ndarray]


class GraphMismatch(ModelLoadError):
    """The graph's inputs or outputs do not fit the model's task."""


def output_name(spec: ModelSpec) -> str:
    return "last_hidden_state" if spec.task in ("embed", "colbert") else "logits"


def check_graph(
    path: Path, spec: ModelSpec, inputs: Collection[str], outputs: Collection[str]
) -> None:
    missing = {"input_ids", "attention_mask"} - set(inputs)
    if missing or output_name(spec) not in outputs:
        raise GraphMismatch(
            f"{path} takes {sorted(inputs)} and gives {sorted(outputs)}; {spec.task} needs "
            f"input_ids and attention_mask in, {output_name(spec)} out (export it again with "
            "`sagemaker-embeddings export`, with the same TASK and POOLING as the server)"
        )


class GraphRunner:
    """Collation and post-processing around ``_run``, which the backend provides."""

    def __init__(self, model_dir: Path, path: Path, spec: ModelSpec) -> None:
        self.path = path
        self.spec = spec
        self.dense = DenseStack(spec.dense_layers)
        pad = read_json(model_dir / "config.json").get("pad_token_id")
        self.pad_token_id = int(pad) if isinstance(pad, int) else 0
        self._output = output_name(spec)
        self._takes_token_types = False  # set by the subclass once the graph is read

    def _run(self, feed: Feed, alone: bool) -> np.ndarray:
        raise NotImplementedError

    def collate(
        self,
        ids: Sequence[Sequence[int]],
        type_ids: Sequence[Sequence[int]],
        attended: Sequence[int | None] | None = None,
    ) -> PaddedBatch:
        return pad_batch(
            ids,
            type_ids,
            self.pad_token_id,
            self._takes_token_types,
            self.spec.max_input_length,
            attended,
        )

    def forward(
        self, batch: PaddedBatch, wants: Sequence[Want], alone: bool = False
    ) -> list[np.ndarray]:
        """Return, per input, its pooled vector / logits, or its token states.
        (bge-m3's sparse head is not in an export: ``load_runner`` refuses such models.)"""
        feed = {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask}
        if batch.token_type_ids is not None:
            feed["token_type_ids"] = batch.token_type_ids
        output = np.asarray(self._run(feed, alone), dtype=np.float32)
        task = self.spec.task
        if task in ("rerank", "classify"):
            return list(output)
        if task == "sparse":
            return list(splade(output, batch.attention_mask))
        results: list[np.ndarray] = [np.empty(0, dtype=np.float32)] * len(wants)
        pooled_rows = [i for i, want in enumerate(wants) if want != "tokens"]
        if pooled_rows:
            assert self.spec.pooling is not None
            vectors = pool(
                output[pooled_rows], batch.attention_mask[pooled_rows], self.spec.pooling
            )
            for row, vector in zip(pooled_rows, self.dense(vectors), strict=True):
                results[row] = vector
        for row, want in enumerate(wants):
            if want == "tokens":
                states = output[row, : batch.lengths[row]]
                # A ColBERT model's token vectors: projected, normalized (models/colbert.py).
                results[row] = normalized(self.dense(states)) if task == "colbert" else states
        return results
