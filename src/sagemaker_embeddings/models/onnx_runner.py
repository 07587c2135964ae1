"""The ONNX Runtime runner: CPU, float32 (or the checked int8 graph), with no torch in
the process."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np

from sagemaker_embeddings.errors import ModelLoadError
from sagemaker_embeddings.models.capacity import Device, DTypeName
from sagemaker_embeddings.models.graph_runner import Feed, GraphRunner, check_graph
from sagemaker_embeddings.models.task import ModelSpec


class OnnxRunner(GraphRunner):
    """One InferenceSession shared by the lanes (``run`` is thread-safe): one copy of the
    weights. Its intra-op pool has every thread, so a lone pass gets the whole machine;
    concurrent passes share the pool, which lost nothing against one-thread lanes in
    throughput (figures: bench/notes/onnx.md)."""

    backend: Literal["onnx"] = "onnx"
    device_type: Device = "cpu"
    dtype_name: DTypeName = "float32"

    def __init__(
        self,
        model_dir: Path,
        path: Path,
        spec: ModelSpec,
        threads: int,
        dtype: DTypeName = "float32",
    ) -> None:
        super().__init__(model_dir, path, spec)
        self.dtype_name = dtype
        self._threads = threads
        self._session = self._open(threads)

    def set_threads(self, per_lane: int, alone: int) -> None:
        # The session's intra-op pool is sized at creation: a new count needs a new one.
        if alone != self._threads:
            self._threads = alone
            self._session = self._open(alone)

    def _open(self, threads: int) -> Any:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        # Spinning pool threads would steal a core from the other lane between passes.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            session = ort.InferenceSession(
                str(self.path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        # Start-up boundary: whatever onnxruntime raises becomes one clear message.
        except Exception as exc:
            raise ModelLoadError(f"cannot load {self.path}: {exc}") from exc
        inputs = [i.name for i in session.get_inputs()]
        check_graph(self.path, self.spec, inputs, [o.name for o in session.get_outputs()])
        self._takes_token_types = "token_type_ids" in inputs
        return session

    def _run(self, feed: Feed, alone: bool) -> np.ndarray:
        (output,) = self._session.run([self._output], feed)
        return np.asarray(output)
