"""Write a model folder's ONNX file (``onnx/model.onnx``), checked against torch.

The graph is traced with torch.export (the dynamo exporter: the TorchScript tracer
bakes transformers' attention-mask logic in as constants), with dynamic batch and
sequence axes, and kept only if ONNX Runtime reproduces torch's outputs on inputs of
other shapes than the traced ones (cosine >= MIN_COSINE per input).
"""

from __future__ import annotations

import inspect
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from sagemaker_embeddings.errors import ModelLoadError
from sagemaker_embeddings.models.graph_runner import output_name
from sagemaker_embeddings.models.task import TASKS, ModelSpec, detect
from sagemaker_embeddings.settings import Settings

logger = logging.getLogger(__name__)

MIN_COSINE = 0.9999
OPSET = 18
# Beyond this many bytes of weights a single ONNX file hits protobuf's 2 GB limit:
# the weights then go to an external data file beside it.
_SINGLE_FILE_BYTES = 1_500_000_000
_TARGET = Path("onnx") / "model.onnx"


class ExportFailed(ModelLoadError):
    """The model cannot be exported, or its export does not match torch."""


def export_onnx(
    model_dir: Path, out_dir: Path | None = None, settings: Settings | None = None
) -> Path:
    """Write ``<out_dir or model_dir>/onnx/model.onnx`` and return its path.

    With ``out_dir`` the model folder is copied there first, so a read-only folder can
    be exported into a new one. ``settings`` (TASK, POOLING) decide what the graph
    returns, as they decide what the server runs; by default they come from the env.
    """
    if settings is None:
        from_env: dict[str, Any] = {"model_id": str(model_dir)}  # the rest from the env
        settings = Settings(**from_env)
    spec = detect(model_dir, settings)
    if spec.causal_lm_rerank:
        # Its yes/no head is built at load time (models/causal_rerank.py); a graph
        # exported from the checkpoint would carry an untrained score layer instead.
        raise ExportFailed(f"{model_dir} is a causal-LM reranker, which serves on torch only")
    target_dir = out_dir or model_dir
    if out_dir is not None and out_dir.resolve() != model_dir.resolve():
        shutil.copytree(
            model_dir, out_dir, dirs_exist_ok=True, ignore=shutil.ignore_patterns("onnx")
        )
    model = _load_torch_model(model_dir, spec, settings)
    target = target_dir / _TARGET
    target.parent.mkdir(parents=True, exist_ok=True)
    # Written beside the target and moved into place only once it is checked.
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".export-") as scratch:
        candidate = Path(scratch) / "model.onnx"
        names = _export(model, spec, candidate)
        cosine = cosine_to_torch(model, spec, candidate, names)
        if cosine < MIN_COSINE:
            raise ExportFailed(
                f"the ONNX export of {model_dir} does not match torch (cosine {cosine:.6f} "
                f"< {MIN_COSINE}); nothing was written"
            )
        for produced in Path(scratch).iterdir():
            produced.replace(target.parent / produced.name)
    logger.info("wrote %s (cosine to torch %.6f)", target, cosine)
    return target


def _load_torch_model(model_dir: Path, spec: ModelSpec, settings: Settings) -> Any:
    import transformers

    auto_class: Any = getattr(transformers, TASKS[spec.task].auto_class)
    try:
        # Eager attention: every architecture has it, and it traces to plain ops.
        return auto_class.from_pretrained(
            model_dir,
            attn_implementation="eager",
            dtype="float32",
            trust_remote_code=settings.trust_remote_code,
        ).eval()
    # Export boundary: whatever transformers raises becomes one clear message.
    except Exception as exc:
        raise ExportFailed(f"cannot load {model_dir} with transformers: {exc}") from exc


def _export(model: Any, spec: ModelSpec, path: Path) -> list[str]:
    """Trace ``model`` into ``path``; return the graph's input names."""
    import torch

    names = ["input_ids", "attention_mask"]
    if "token_type_ids" in inspect.signature(model.forward).parameters:
        names.append("token_type_ids")
    output = output_name(spec)

    class Graph(torch.nn.Module):
        """Named tensors in, one named tensor out, as ONNX files on the hub have them."""

        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(
            self,
            input_ids: torch.Tensor,
            attention_mask: torch.Tensor,
            token_type_ids: torch.Tensor | None = None,
        ) -> torch.Tensor:
            inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
            if token_type_ids is not None:
                inputs["token_type_ids"] = token_type_ids
            result: torch.Tensor = getattr(self.model(**inputs), output)
            return result

    example = _example_inputs(model, names, batch=2, length=8)
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    batch, sequence = torch.export.Dim.DYNAMIC, torch.export.Dim.DYNAMIC
    try:
        torch.onnx.export(
            Graph().eval(),
            tuple(torch.from_numpy(example[n]) for n in names),
            str(path),
            input_names=names,
            output_names=[output],
            dynamic_shapes={n: {0: batch, 1: sequence} for n in names},
            opset_version=OPSET,
            dynamo=True,
            external_data=weights > _SINGLE_FILE_BYTES,
            verbose=False,
        )
    # Export boundary: the exporter raises many kinds of errors for unsupported models.
    except Exception as exc:
        raise ExportFailed(f"torch.onnx.export failed: {type(exc).__name__}: {exc}") from exc
    return names


def _example_inputs(model: Any, names: list[str], batch: int, length: int) -> dict[str, np.ndarray]:
    """Random token ids, the first row right-padded (as the server's batches are)."""
    rng = np.random.default_rng(length)
    vocab = int(model.config.vocab_size)
    ids = rng.integers(min(5, vocab - 1), vocab, size=(batch, length), dtype=np.int64)
    mask = np.ones((batch, length), dtype=np.int64)
    mask[0, length // 2 :] = 0
    pad = model.config.pad_token_id
    ids[mask == 0] = int(pad) if isinstance(pad, int) else 0
    inputs = {"input_ids": ids, "attention_mask": mask}
    if "token_type_ids" in names:
        inputs["token_type_ids"] = np.zeros_like(ids)
    return inputs


def cosine_to_torch(model: Any, spec: ModelSpec, path: Path, names: list[str]) -> float:
    """The smallest cosine between torch's and ONNX Runtime's output per input, on
    shapes the trace did not see."""
    import onnxruntime as ort
    import torch

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    output = output_name(spec)
    worst = 1.0
    for batch, length in ((3, 13), (1, 5)):
        inputs = _example_inputs(model, names, batch, length)
        (onnx_out,) = session.run([output], inputs)
        with torch.inference_mode():
            torch_out = getattr(
                model(**{n: torch.from_numpy(v) for n, v in inputs.items()}), output
            ).numpy()
        for row in range(batch):
            a, b = torch_out[row], onnx_out[row]
            if a.ndim == 2:  # token states or MLM logits: the real tokens only
                real = inputs["attention_mask"][row] == 1
                a, b = a[real], b[real]
            worst = min(worst, _cosine(a, b))
    return worst


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    x, y = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    denominator = float(np.linalg.norm(x) * np.linalg.norm(y))
    return float(x @ y) / denominator if denominator else float(np.allclose(x, y))
