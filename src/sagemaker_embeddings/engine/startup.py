"""Start-up: find the model, detect its task, load it, warm it up, and say so in one line."""

from __future__ import annotations

import logging
import time

from sagemaker_embeddings.engine.engine import Engine
from sagemaker_embeddings.engine.tokenize import InputTokenizer, load_tokenizer
from sagemaker_embeddings.models.backend import load_runner
from sagemaker_embeddings.models.source import resolve_model_source
from sagemaker_embeddings.models.task import detect
from sagemaker_embeddings.settings import Settings

logger = logging.getLogger(__name__)


def load_engine(settings: Settings) -> Engine:
    """Raises ModelLoadError with one clear message when the model cannot be served."""
    started = time.perf_counter()
    source = resolve_model_source(settings)
    spec = detect(source.path, settings)
    runner = load_runner(source, spec, settings)
    # transformers' AutoTokenizer imports torch; the ONNX path reads tokenizer.json itself.
    with_transformers = runner.backend == "torch"
    tokenizer = InputTokenizer(
        load_tokenizer(source.path, settings.trust_remote_code, with_transformers), spec
    )
    engine = Engine(source, spec, tokenizer, runner, settings)
    engine.start()  # warms up on each inference lane
    logger.info(
        "model=%s task=%s pooling=%s backend=%s dtype=%s device=%s max_input_length=%d lanes=%d"
        " threads_per_lane=%d load_seconds=%.2f",
        source.model_id,
        spec.task,
        spec.pooling or "-",
        runner.backend,
        runner.dtype_name,
        runner.device_type,
        spec.max_input_length,
        engine.lanes,
        engine.threads_per_lane,
        time.perf_counter() - started,
    )
    return engine
