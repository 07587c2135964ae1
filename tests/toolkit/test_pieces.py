"""The toolkit's parts without MMS: mode choice, hook signatures, MMS properties, memory
check, error answers. Fast; they run with the rest of the folder."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from sagemaker_inference.errors import GenericInferenceToolkitError

from sagemaker_embeddings.errors import ModelLoadError, Overloaded
from sagemaker_embeddings.settings import Settings, parse_serve_args
from sagemaker_embeddings.toolkit.hooks import load_user_hooks
from sagemaker_embeddings.toolkit.launcher import mms_properties, settings_environment
from sagemaker_embeddings.toolkit.memory_check import InsufficientMemory, ensure_room_for
from sagemaker_embeddings.toolkit.mode import toolkit_requested
from sagemaker_embeddings.toolkit.pipeline import error_answer


def _settings(base: Path, **values: object) -> Settings:
    return Settings(sagemaker_base_dir=base, **values)  # type: ignore[arg-type]


def test_mode_native_by_default_toolkit_for_mme_or_inference_py(tmp_path: Path) -> None:
    assert not toolkit_requested(_settings(tmp_path))
    assert toolkit_requested(_settings(tmp_path, multi_model=True))
    assert toolkit_requested(_settings(tmp_path, serving_mode="toolkit"))
    code = tmp_path / "model" / "code"
    code.mkdir(parents=True)
    (code / "serve_me.py").write_text("")
    assert toolkit_requested(_settings(tmp_path, sagemaker_program="serve_me"))
    assert not toolkit_requested(_settings(tmp_path))  # inference.py is the default name
    assert not toolkit_requested(_settings(tmp_path, multi_model=True, serving_mode="native"))


def _hooks_file(tmp_path: Path, source: str) -> Path:
    path = tmp_path / "code" / "inference.py"
    path.parent.mkdir(exist_ok=True)
    path.write_text(source)
    return path


def test_hooks_with_and_without_context(tmp_path: Path) -> None:
    path = _hooks_file(
        tmp_path,
        "def model_fn(model_dir):\n    return model_dir\n"
        "def input_fn(data, content_type, context):\n    return (data, context)\n",
    )
    hooks = load_user_hooks(path)
    assert hooks.model_fn is not None
    assert hooks.input_fn is not None
    assert hooks.model_fn("dir", context="ctx") == "dir"
    assert hooks.input_fn("body", "text/csv", context="ctx") == ("body", "ctx")
    assert hooks.predict_fn is None
    assert hooks.any_request_hook


def test_hooks_refuse_wrong_arity_and_transform_with_others(tmp_path: Path) -> None:
    bad = _hooks_file(tmp_path, "def predict_fn(data):\n    return data\n")
    with pytest.raises(ModelLoadError, match="predict_fn takes 1 arguments"):
        load_user_hooks(bad)
    both = _hooks_file(
        tmp_path,
        "def transform_fn(m, d, c, a):\n    return d\ndef output_fn(p, a):\n    return p\n",
    )
    with pytest.raises(ModelLoadError, match="transform_fn cannot be combined"):
        load_user_hooks(both)


def test_no_inference_py_means_no_hooks(tmp_path: Path) -> None:
    assert not load_user_hooks(tmp_path / "code" / "inference.py").any_request_hook


def test_mms_properties_follow_settings(tmp_path: Path) -> None:
    single = mms_properties(
        _settings(tmp_path, listen_address="127.0.0.1", port=23456, sagemaker_max_payload_in_mb=10)
    )
    assert "inference_address=http://127.0.0.1:23456\n" in single
    assert "management_address=http://127.0.0.1:23456\n" in single
    assert "max_request_size=10485760\n" in single
    assert "default_service_handler=sagemaker_embeddings.toolkit.handler_service:handle\n" in single
    assert "default_workers_per_model=1\n" in single  # not MMS's one per core
    workers = mms_properties(_settings(tmp_path, model_server_workers=3))
    assert "default_workers_per_model=3\n" in workers


def test_flags_reach_the_workers_as_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MAX_BATCH_TOKENS", raising=False)
    settings = parse_serve_args(["--max-batch-tokens", "1024", "--auto-truncate", "false"])
    env = settings_environment(settings)
    assert env["MAX_BATCH_TOKENS"] == "1024"
    assert env["AUTO_TRUNCATE"] == "false"


def test_memory_check(tmp_path: Path) -> None:
    (tmp_path / "model.safetensors").write_bytes(b"\0" * 1024)
    ensure_room_for(tmp_path, headroom_mb=0)
    with pytest.raises(InsufficientMemory, match="MEMORY_HEADROOM_MB"):
        ensure_room_for(tmp_path, headroom_mb=1 << 30)
    assert issubclass(InsufficientMemory, MemoryError)  # what MMS turns into 507


def test_error_answers() -> None:
    overloaded = error_answer(Overloaded())
    assert overloaded.status == 429
    body = orjson.loads(overloaded.body)
    assert body == {"error": "Model is overloaded", "error_type": "Overloaded"}
    toolkit = error_answer(GenericInferenceToolkitError(418, "short and stout"))
    assert toolkit.status == 418
    assert orjson.loads(toolkit.body)["error"] == "short and stout"
    unknown = error_answer(KeyError("secret internals"))
    assert unknown.status == 500
    assert b"secret" not in unknown.body  # the traceback goes to the log only


def test_missing_java_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    from sagemaker_embeddings.toolkit.launcher import missing_requirements

    assert missing_requirements() == ""  # this machine has the extra and Java 17
    monkeypatch.setenv("JAVA_HOME", "/nonexistent")
    assert missing_requirements() == "java"
