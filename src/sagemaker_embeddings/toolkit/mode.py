"""Which server ``serve`` starts: the native one, or MMS through the toolkit."""

from __future__ import annotations

from pathlib import Path

from typing_extensions import assert_never

from sagemaker_embeddings.settings import Settings


def user_module_path(model_dir: Path, settings: Settings) -> Path:
    """``<model_dir>/code/<SAGEMAKER_PROGRAM>``; the name may come with or without .py."""
    name = settings.sagemaker_program
    return model_dir / "code" / (name if name.endswith(".py") else f"{name}.py")


def toolkit_requested(settings: Settings) -> bool:
    """Toolkit mode for multi-model endpoints and custom inference code; native otherwise."""
    mode = settings.serving_mode
    if mode == "native":
        return False
    if mode == "toolkit":
        return True
    if mode == "auto":
        single_model_dir = settings.sagemaker_base_dir / "model"
        return settings.multi_model or user_module_path(single_model_dir, settings).is_file()
    assert_never(mode)


def management_url(settings: Settings) -> str:
    """Where this host reaches MMS's management API (the same port as /invocations)."""
    host = settings.listen_address
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    return f"http://{host}:{settings.port}"
