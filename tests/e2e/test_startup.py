"""Where the model comes from, settings from env and flags, and start-up failures."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.harness.serve import refused_start, start_server
from tests.reference import assert_close_rows, st_encode

ModelDirs = Callable[[str], Path]


def test_sagemaker_model_dir_is_used(tmp_path: Path, model_dirs: ModelDirs) -> None:
    base = tmp_path / "ml"
    shutil.copytree(model_dirs("bert"), base / "model")  # where SageMaker extracts model.tar.gz
    server = start_server({"SAGEMAKER_BASE_DIR": str(base)}, tmp_path / "run")
    try:
        assert httpx.get(f"{server.url}/info").json()["model_id"] == str(base / "model")
        vectors = httpx.post(f"{server.url}/invocations", json={"inputs": "hi"}).json()
        assert_close_rows(vectors, st_encode(model_dirs("bert"), ["hi"], normalize_embeddings=True))
    finally:
        server.stop()


def test_hub_id_from_prefilled_cache(tmp_path: Path, model_dirs: ModelDirs) -> None:
    """HF_MODEL_ID as a hub id goes through huggingface_hub; offline, the cache serves it."""
    cache = tmp_path / "hub"
    revision = "0123456789abcdef0123456789abcdef01234567"
    repo = cache / "models--acme--tiny-bert"
    shutil.copytree(model_dirs("bert"), repo / "snapshots" / revision)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(revision)
    server = start_server(
        {
            "HF_MODEL_ID": "acme/tiny-bert",
            "HUGGINGFACE_HUB_CACHE": str(cache),
            "HF_HUB_OFFLINE": "1",
            "HF_TOKEN": "hf_secret_value",
        },
        tmp_path / "run",
    )
    try:
        info = httpx.get(f"{server.url}/info")
        assert info.json()["model_id"] == "acme/tiny-bert"
        assert "hf_secret_value" not in info.text
        assert "hf_secret_value" not in server.log()
    finally:
        server.stop()


def test_flags_override_environment(tmp_path: Path) -> None:
    server = start_server(
        {"MAX_CLIENT_BATCH_SIZE": "5", "MAX_BATCH_TOKENS": "4096"},
        tmp_path,
        args=("serve", "--max-client-batch-size", "2", "--pooling", "cls"),
    )
    try:
        info = httpx.get(f"{server.url}/info").json()
        assert info["max_client_batch_size"] == 2
        assert info["max_batch_tokens"] == 4096
        assert info["model_type"] == {"embedding": {"pooling": "cls"}}
        over = httpx.post(f"{server.url}/embed", json={"inputs": ["a", "b", "c"]})
        assert over.status_code == 422
        assert "2" in over.json()["error"]
        log = server.log()
        startup = [line for line in log.splitlines() if "load_seconds=" in line]
        assert len(startup) == 1
        for field in (
            "model=",
            "task=embed",
            "pooling=cls",
            "dtype=float32",
            "device=cpu",
            "max_input_length=256",
        ):
            assert field in startup[0]
    finally:
        server.stop()


def _broken_models(root: Path, good: Path, short_positions: Path) -> dict[str, tuple[Path, str]]:
    unknown = root / "unknown"
    shutil.copytree(good, unknown)
    config = json.loads((unknown / "config.json").read_text())
    (unknown / "config.json").write_text(
        json.dumps({**config, "model_type": "no-such-model", "architectures": ["NoSuchModel"]})
    )
    corrupt = root / "corrupt"
    shutil.copytree(good, corrupt)
    (corrupt / "model.safetensors").write_bytes(b"\x00" * 64)
    remote = root / "remote"
    shutil.copytree(good, remote)
    # A model type transformers does not know, whose code ships with the model.
    (remote / "config.json").write_text(
        json.dumps(
            {
                **config,
                "model_type": "acme-custom-bert",
                "architectures": ["CustomModel"],
                "auto_map": {
                    "AutoConfig": "configuration_custom.CustomConfig",
                    "AutoModel": "modeling_custom.CustomModel",
                },
            }
        )
    )
    missing = root / "missing"
    shutil.copytree(good, missing)
    (missing / "model.safetensors").unlink()
    return {
        "too few positions": (short_positions, "warm-up"),
        "unknown architecture": (unknown, "no-such-model"),
        "corrupt safetensors": (corrupt, "cannot load"),
        "remote code": (remote, "trust_remote_code"),
        "missing weights": (missing, "cannot load"),
    }


@pytest.mark.parametrize(
    "case",
    [
        "too few positions",
        "unknown architecture",
        "corrupt safetensors",
        "remote code",
        "missing weights",
    ],
)
def test_model_that_fails_to_load_stops_startup(
    tmp_path: Path, model_dirs: ModelDirs, case: str
) -> None:
    broken = _broken_models(tmp_path / "models", model_dirs("bert"), model_dirs("short-positions"))
    path, expected = broken[case]
    error = refused_start({"HF_MODEL_ID": str(path)}, tmp_path / "run")
    assert "cannot start:" in error
    assert expected.lower() in error.lower(), error


def test_lanes_run_concurrent_passes_correctly(tmp_path: Path, model_dirs: ModelDirs) -> None:
    """INFERENCE_LANES=3 with one input per pass: many passes run at once on one
    model, and every input still gets its own reference vector."""
    texts = [f"passage number {i} about {'lanes ' * (i % 7)}" for i in range(24)]
    server = start_server(
        {"HF_MODEL_ID": str(model_dirs("bert")), "INFERENCE_LANES": "3", "MAX_BATCH_REQUESTS": "1"},
        tmp_path,
    )
    try:
        assert "lanes=3 " in server.log()

        async def send_all() -> list[list[float]]:
            async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
                replies = await asyncio.gather(
                    *(client.post("/embed", json={"inputs": text}) for text in texts)
                )
            return [reply.json()[0] for reply in replies]

        vectors = asyncio.run(send_all())
        assert_close_rows(vectors, st_encode(model_dirs("bert"), texts, normalize_embeddings=True))
    finally:
        server.stop()


def test_the_gpu_image_without_a_gpu_refuses_unless_allowed(
    tmp_path: Path, model_dirs: ModelDirs
) -> None:
    """IMAGE_FLAVOR=gpu is what the GPU image sets; this machine has no CUDA device. The
    model folder also has an ONNX-free torch path, so nothing else could refuse."""
    env = {"HF_MODEL_ID": str(model_dirs("bert")), "IMAGE_FLAVOR": "gpu"}
    error = refused_start(env, tmp_path / "refuse")
    assert "cannot start: this is the GPU image" in error
    assert "ALLOW_CPU_FALLBACK=true" in error

    server = start_server({**env, "ALLOW_CPU_FALLBACK": "true"}, tmp_path / "allowed")
    try:
        vectors = httpx.post(f"{server.url}/embed", json={"inputs": "on CPU"}, timeout=60).json()
        assert_close_rows(
            vectors, st_encode(model_dirs("bert"), ["on CPU"], normalize_embeddings=True)
        )
    finally:
        server.stop()
