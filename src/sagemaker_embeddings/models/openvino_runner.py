"""The OpenVINO runner: the same ONNX file as ONNX Runtime, on CPU, in float32 or in
bfloat16 where the CPU has it natively (AMX, avx512_bf16), with no torch in the process.

It starts as fast as ONNX Runtime and, on such CPUs, runs as fast as torch in bfloat16
with about half its memory (bench/notes/fastest-path.md).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any, Literal

import numpy as np

from sagemaker_embeddings.errors import ModelLoadError
from sagemaker_embeddings.models.capacity import Device, DTypeName
from sagemaker_embeddings.models.graph_runner import Feed, GraphRunner, check_graph
from sagemaker_embeddings.models.task import ModelSpec

logger = logging.getLogger(__name__)

OPENVINO_DTYPES: tuple[DTypeName, ...] = ("float32", "bfloat16")


class OpenVinoRunner(GraphRunner):
    """Two compiled models of one graph: one with a stream per lane, each stream on its
    share of the cores, for passes that run side by side; one with a single stream on
    every core, for a pass that runs alone. Each lane thread keeps its own requests."""

    backend: Literal["openvino"] = "openvino"
    device_type: Device = "cpu"

    def __init__(
        self,
        model_dir: Path,
        path: Path,
        spec: ModelSpec,
        dtype: DTypeName,
        lanes: int,
        threads: int,
    ) -> None:
        if dtype not in OPENVINO_DTYPES:
            raise ModelLoadError(
                f"BACKEND=openvino runs {' or '.join(OPENVINO_DTYPES)}, not DTYPE={dtype}"
            )
        super().__init__(model_dir, path, spec)
        self.dtype_name: DTypeName = dtype
        import openvino as ov

        self._core = ov.Core()
        try:
            self._model = self._core.read_model(str(path))
        # Start-up boundary: whatever OpenVINO raises becomes one clear message.
        except Exception as exc:
            raise ModelLoadError(f"cannot load {path}: {exc}") from exc
        inputs = {name for port in self._model.inputs for name in port.get_names()}
        outputs = {name for port in self._model.outputs for name in port.get_names()}
        check_graph(path, spec, inputs, outputs)
        self._takes_token_types = "token_type_ids" in inputs
        self._lanes = 0
        self._threads = 0
        self.set_threads(max(1, threads // lanes), threads, lanes)

    def set_threads(self, per_lane: int, alone: int, lanes: int | None = None) -> None:
        """Compile for ``lanes`` streams of ``per_lane`` threads and one of ``alone``."""
        lanes = lanes or max(1, alone // per_lane)
        if (lanes, alone) == (self._lanes, self._threads):
            return
        self._lanes, self._threads = lanes, alone
        self._requests = threading.local()
        self._shared = self._compile(streams=lanes, threads=per_lane * lanes)
        self._alone = self._shared
        if lanes > 1:
            # The single-stream model only speeds up lone passes, so it compiles after
            # start-up (a third of a second of a 1.5 s cold start on MiniLM); until it is
            # ready, a lone pass runs on the shared model's stream, with the same answer.
            # Not a daemon: an interpreter exiting mid-compile would tear OpenVINO down
            # under it; exit waits the fraction of a second instead.
            threading.Thread(
                target=self._compile_alone, args=(alone,), name="openvino-compile"
            ).start()

    def _compile_alone(self, threads: int) -> None:
        try:
            compiled = self._compile(streams=1, threads=threads)
        except ModelLoadError:
            logger.warning("lone passes stay on the shared model", exc_info=True)
            return
        if self._threads == threads:  # not superseded by a later set_threads
            self._alone = compiled  # one attribute store: a lane sees the old or the new

    def _compile(self, streams: int, threads: int) -> Any:
        import openvino as ov
        import openvino.properties as props
        import openvino.properties.hint as hints

        precision = ov.Type.bf16 if self.dtype_name == "bfloat16" else ov.Type.f32
        config = {
            hints.inference_precision: precision,
            props.num_streams: streams,
            props.inference_num_threads: threads,
        }
        try:
            return self._core.compile_model(self._model, "CPU", config)
        # Start-up boundary, as in __init__.
        except Exception as exc:
            raise ModelLoadError(f"OpenVINO cannot compile {self.path}: {exc}") from exc

    def _request(self, alone: bool) -> Any:
        compiled = self._alone if alone else self._shared
        # Keyed by the compiled model: the lone one may arrive after a lane's first pass.
        key = f"r{id(compiled)}"
        request = getattr(self._requests, key, None)
        if request is None:
            request = compiled.create_infer_request()
            setattr(self._requests, key, request)
        return request

    def _run(self, feed: Feed, alone: bool) -> np.ndarray:
        result = self._request(alone).infer(feed, share_inputs=True)
        return np.asarray(result[self._output])
