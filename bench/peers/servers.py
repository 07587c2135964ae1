"""How to start each server, and how each one is asked for embeddings or scores.

- ``ours``: `serve` from this project's virtual environment.
- ``ours-onnx``, ``ours-openvino``: the same server with BACKEND=onnx / openvino, on a
  copy of the model folder that holds its ONNX export (bench/models.py builds it;
  embedders only). ``ours-auto``: BACKEND=auto and DTYPE=auto on that copy, which is
  what the CPU image serves (its default model is exported at build time).
- ``fifo``: bench/peers/fifo_server.py in this project's environment.
- ``aws``: sagemaker-huggingface-inference-toolkit on multi-model-server, with the
  user-written inference.py (bench/peers/aws_inference.py), in its own environment.
- ``infinity``: infinity-emb 0.0.78 (torch engine), in its own environment.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Literal

from bench.load import Request
from bench.peers.environments import site_packages, venv_bin
from bench.procs import Launch, Probe, free_port

Peer = Literal["ours", "ours-onnx", "ours-openvino", "ours-auto", "fifo", "aws", "infinity"]
PEERS: tuple[Peer, ...] = (
    "ours", "ours-onnx", "ours-openvino", "ours-auto", "fifo", "aws", "infinity"
)
# Our server, by backend: the same program, so the same API and requests.
OURS: tuple[Peer, ...] = ("ours", "ours-onnx", "ours-openvino", "ours-auto")
# The rows that serve the ONNX export, and the BACKEND each sets.
ON_ONNX_FILE: dict[Peer, str] = {"ours-onnx": "onnx", "ours-openvino": "openvino",
                                 "ours-auto": "auto"}
HERE = Path(__file__).parent
PROJECT_BIN = Path(sys.executable).parent
SERVED_NAME = "bench"
PING = Probe("GET", "/ping")


def _base_env(tmp: Path) -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "TERM")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false",
               DO_NOT_TRACK="1", TMPDIR=str(tmp), TEMP=str(tmp))
    return env


def launch(peer: Peer, model_dir: Path, task: str, dtype: str, max_length: int,
           workdir: Path, cache: Path) -> Launch:
    """A ready-to-start server on a free loopback port, working in ``workdir``."""
    tmp = workdir / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    env, port = _base_env(tmp), free_port()
    label = f"{peer}/{model_dir.name}/{dtype}"
    if peer in OURS:
        env.update(HF_MODEL_ID=str(model_dir), LISTEN_ADDRESS="127.0.0.1",
                   DTYPE="auto" if peer == "ours-auto" else dtype,
                   SAGEMAKER_BIND_TO_PORT=str(port), SAGEMAKER_BASE_DIR=str(workdir / "opt-ml"),
                   LOG_LEVEL="warning", BACKEND=ON_ONNX_FILE.get(peer, "torch"))
        return Launch(label, [str(PROJECT_BIN / "serve")], env, port, PING)
    if peer == "fifo":
        env.update(MODEL_DIR=str(model_dir), DTYPE=dtype, PORT=str(port), TASK=task,
                   MAX_LENGTH=str(max_length))
        return Launch(label, [sys.executable, str(HERE / "fifo_server.py")], env, port, PING)
    if peer == "aws":
        return _aws_launch(label, model_dir, workdir, cache, env, port)
    return _infinity_launch(label, model_dir, task, dtype, cache, env, port)


def _aws_launch(label: str, model_dir: Path, workdir: Path, cache: Path,
                env: dict[str, str], port: int) -> Launch:
    """What the toolkit's `serve` does, minus its 0.0.0.0 bind and its /etc config file:
    the model folder gets code/inference.py, MMS gets the toolkit's default properties
    plus its handler service, bound to loopback."""
    bin_dir = venv_bin(cache, "aws")
    toolkit_etc = site_packages(cache, "aws") / "sagemaker_inference" / "etc"
    store = workdir / "opt-ml"
    model = store / "model"
    (model / "code").mkdir(parents=True, exist_ok=True)
    for item in model_dir.iterdir():
        if not (model / item.name).exists():
            (model / item.name).symlink_to(item)
    shutil.copy(HERE / "aws_inference.py", model / "code" / "inference.py")
    properties = workdir / "mms.properties"
    properties.write_text(
        (toolkit_etc / "default-mms.properties").read_text()
        + f"default_response_timeout=60\ninference_address=http://127.0.0.1:{port}\n"
        f"management_address=http://127.0.0.1:{port}\nvmargs=-XX:-UseContainerSupport\n"
        "default_service_handler=sagemaker_huggingface_inference_toolkit.handler_service\n"
    )
    env.update(PATH=f"{bin_dir}:{env.get('PATH', '')}", PYTHONPATH=str(model / "code"),
               LOG_LOCATION=str(workdir / "logs"), METRICS_LOCATION=str(workdir / "logs"))
    argv = [str(bin_dir / "multi-model-server"), "--start", "--foreground",
            "--model-store", "/", "--mms-config", str(properties),
            "--log-config", str(toolkit_etc / "log4j2.xml"), "--models", f"model={model}"]
    return Launch(label, argv, env, port, Probe("POST", "/invocations", {"inputs": "hello"}),
                  cwd=workdir)


def _infinity_launch(label: str, model_dir: Path, task: str, dtype: str, cache: Path,
                     env: dict[str, str], port: int) -> Launch:
    env.update(INFINITY_ANONYMOUS_USAGE_STATS="0")
    argv = [str(venv_bin(cache, "infinity") / "infinity_emb"), "v2",
            "--model-id", str(model_dir), "--served-model-name", SERVED_NAME,
            "--engine", "torch", "--device", "cpu", "--dtype", dtype,
            "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    probe = (Probe("POST", "/rerank", {"model": SERVED_NAME, "query": "q", "documents": ["d"]})
             if task == "rerank"
             else Probe("POST", "/embeddings", {"model": SERVED_NAME, "input": ["hello"]}))
    return Launch(label, argv, env, port, probe)


def embed_request(peer: Peer, texts: list[str], single: bool) -> Request:
    """``single``: send one text as a bare string where the API allows it."""
    payload: str | list[str] = texts[0] if single else texts
    if peer in (*OURS, "fifo"):
        return Request("/embed", {"inputs": payload}, len(texts))
    if peer == "aws":
        return Request("/invocations", {"inputs": payload}, len(texts))
    return Request("/embeddings", {"model": SERVED_NAME, "input": texts}, len(texts))


def rerank_request(peer: Peer, query: str, passages: list[str]) -> Request | None:
    """None: the peer has no rerank API (the AWS toolkit's users would write another
    inference.py for a cross-encoder; not benchmarked)."""
    if peer in (*OURS, "fifo"):
        return Request("/rerank", {"query": query, "texts": passages}, len(passages))
    if peer == "infinity":
        body = {"model": SERVED_NAME, "query": query, "documents": passages}
        return Request("/rerank", body, len(passages))
    return None
