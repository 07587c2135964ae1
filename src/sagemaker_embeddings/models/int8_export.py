"""DTYPE=int8: a quantized copy of the ONNX export, written only when it retrieves what
float32 retrieves.

Dynamic int8 quantization of the MatMul weights, per output channel (ONNX Runtime's
``quantize_dynamic``); activations are quantized per pass. The check embeds the
labelled set of models/retrieval_set.py with both graphs and compares, per query, the
passages' similarities: the share of float32's top-10 neighbours int8 keeps, and the
Spearman correlation of the two similarity rankings. A cosine bar per text (issue 15's)
says nothing about which passages a search returns; these do.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sagemaker_embeddings.errors import ModelLoadError
from sagemaker_embeddings.models.retrieval_set import RetrievalSet, retrieval_set
from sagemaker_embeddings.models.task import ModelSpec

INT8_FILE = "onnx/model_int8.onnx"
QUALITY_FILE = "onnx/model_int8.quality.json"
MIN_TOP10_KEPT = 0.99
MIN_SPEARMAN = 0.99
TOP_K = 10
METHOD = "onnxruntime quantize_dynamic: MatMul weights, int8, per channel"
# Products of two activations (attention scores and their weighted sum) stay float32:
# quantized per pass, both sides lose precision for no saved weight.


class Int8Refused(ModelLoadError):
    """The int8 graph loses too much of what float32 retrieves."""


@dataclass(frozen=True)
class Int8Quality:
    top10_kept: float  # mean over queries of |top-10 int8 & top-10 float32| / 10
    spearman_mean: float
    spearman_min: float
    recall10_float32: float  # labelled: queries whose answer is in the top 10
    recall10_int8: float
    passed: bool
    data: str
    method: str = METHOD

    def line(self) -> str:
        return (
            f"int8 keeps {self.top10_kept:.4f} of float32's top-{TOP_K} neighbours "
            f"(needs {MIN_TOP10_KEPT}), Spearman {self.spearman_mean:.4f} mean / "
            f"{self.spearman_min:.4f} worst (needs {MIN_SPEARMAN} mean); labelled recall@10 "
            f"{self.recall10_int8:.3f} against float32's {self.recall10_float32:.3f} "
            f"({self.data})"
        )


def _ranks(values: np.ndarray) -> np.ndarray:
    return np.argsort(np.argsort(values, axis=1), axis=1).astype(np.float64)


def spearman_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman correlation of each row of ``a`` with the same row of ``b`` (no ties:
    similarities of distinct passages)."""
    ra, rb = _ranks(a), _ranks(b)
    ra -= ra.mean(axis=1, keepdims=True)
    rb -= rb.mean(axis=1, keepdims=True)
    return np.asarray((ra * rb).sum(1) / np.sqrt((ra**2).sum(1) * (rb**2).sum(1)))


def compare(
    data: RetrievalSet,
    float_queries: np.ndarray,
    float_passages: np.ndarray,
    int8_queries: np.ndarray,
    int8_passages: np.ndarray,
) -> Int8Quality:
    def similarities(queries: np.ndarray, passages: np.ndarray) -> np.ndarray:
        q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
        p = passages / np.linalg.norm(passages, axis=1, keepdims=True)
        return np.asarray(q @ p.T)

    reference = similarities(float_queries, float_passages)
    quantized = similarities(int8_queries, int8_passages)
    top_ref = np.argsort(-reference, axis=1)[:, :TOP_K]
    top_int8 = np.argsort(-quantized, axis=1)[:, :TOP_K]
    kept = np.mean([len(set(a) & set(b)) / TOP_K for a, b in zip(top_ref, top_int8, strict=True)])
    spearman = spearman_rows(reference, quantized)

    def recall(top: np.ndarray) -> float:
        hits = [bool(set(row) & relevant) for row, relevant in zip(top, data.relevant, strict=True)]
        return float(np.mean(hits))

    return Int8Quality(
        top10_kept=round(float(kept), 5),
        spearman_mean=round(float(spearman.mean()), 5),
        spearman_min=round(float(spearman.min()), 5),
        recall10_float32=round(recall(top_ref), 4),
        recall10_int8=round(recall(top_int8), 4),
        passed=bool(kept >= MIN_TOP10_KEPT and spearman.mean() >= MIN_SPEARMAN),
        data=data.source,
    )


def _embed(model_dir: Path, graph: Path, spec: ModelSpec, texts: list[str]) -> np.ndarray:
    from sagemaker_embeddings.engine.tokenize import InputTokenizer, load_tokenizer
    from sagemaker_embeddings.models.onnx_runner import OnnxRunner

    tokenizer = InputTokenizer(load_tokenizer(model_dir, False, with_transformers=False), spec)
    runner = OnnxRunner(model_dir, graph, spec, threads=1)
    rows: list[np.ndarray] = []
    for start in range(0, len(texts), 16):
        tokens = tokenizer.encode(texts[start : start + 16], truncate=True)
        batch = runner.collate([t.ids for t in tokens], [t.type_ids for t in tokens])
        rows.extend(runner.forward(batch, ["pooled"] * len(tokens)))
    return np.stack(rows)


def measure_int8(
    model_dir: Path, float_graph: Path, int8_graph: Path, spec: ModelSpec
) -> Int8Quality:
    data = retrieval_set()
    embeddings = [
        _embed(model_dir, graph, spec, texts)
        for graph in (float_graph, int8_graph)
        for texts in (data.queries, data.passages)
    ]
    return compare(data, *embeddings)


def export_int8(model_dir: Path, float_graph: Path, spec: ModelSpec) -> Path:
    """Write INT8_FILE and QUALITY_FILE beside ``float_graph``'s folder; raise
    Int8Refused (leaving only the quality record) when the check fails."""
    if spec.task != "embed":
        raise Int8Refused(f"int8 is checked on retrieval, so embedders only, not {spec.task}")
    from onnxruntime.quantization import QuantType, quantize_dynamic

    target = model_dir / INT8_FILE
    with tempfile.TemporaryDirectory(dir=model_dir) as scratch:
        written = Path(scratch) / "model_int8.onnx"
        quantize_dynamic(
            float_graph,
            written,
            per_channel=True,
            op_types_to_quantize=["MatMul"],
            weight_type=QuantType.QInt8,
            nodes_to_exclude=activation_products(float_graph),
        )
        quality = measure_int8(model_dir, float_graph, written, spec)
        (model_dir / QUALITY_FILE).write_text(json.dumps(asdict(quality), indent=1) + "\n")
        if not quality.passed:
            raise Int8Refused(f"int8 refused: {quality.line()}")
        written.replace(target)
    return target


def activation_products(graph: Path) -> list[str]:
    """The MatMul nodes with no weight among their inputs."""
    import onnx

    model = onnx.load(str(graph), load_external_data=False)
    weights = {initializer.name for initializer in model.graph.initializer}
    return [
        node.name
        for node in model.graph.node
        if node.op_type == "MatMul" and not weights.intersection(node.input)
    ]


def export_int8_folder(model_dir: Path) -> Path:
    """export_int8 for a model folder that holds its float32 export."""
    from sagemaker_embeddings.models.backend import onnx_file
    from sagemaker_embeddings.models.task import detect
    from sagemaker_embeddings.settings import Settings

    graph = onnx_file(model_dir)
    if graph is None:
        raise ModelLoadError(f"{model_dir} has no ONNX export to quantize")
    fields: dict[str, Any] = {"model_id": str(model_dir)}  # TASK, POOLING from the env
    return export_int8(model_dir, graph, detect(model_dir, Settings(**fields)))


def passed_int8(model_dir: Path) -> Path:
    """The int8 graph, when its quality record says it passed; else a clear refusal."""
    graph, record = model_dir / INT8_FILE, model_dir / QUALITY_FILE
    how = "write it with `sagemaker-embeddings export MODEL_DIR --int8`"
    if record.is_file():
        try:
            found = json.loads(record.read_text())
            passed = bool(found["passed"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelLoadError(f"DTYPE=int8: {QUALITY_FILE} is unreadable; {how}") from exc
        if not passed:
            raise ModelLoadError(
                f"DTYPE=int8: {QUALITY_FILE} says the check failed (top-10 kept "
                f"{found.get('top10_kept')}, needs {MIN_TOP10_KEPT}); serve float32"
            )
    if not graph.is_file() or not record.is_file():
        raise ModelLoadError(f"DTYPE=int8 needs {INT8_FILE} and {QUALITY_FILE}; {how}")
    return graph
