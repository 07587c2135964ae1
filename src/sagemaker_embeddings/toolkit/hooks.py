"""The user's ``code/inference.py``: any of the toolkit's five hooks, with or without context.

Signatures follow the SageMaker Inference Toolkit, each optionally taking a trailing
``context`` (the MMS context of the request):

    model_fn(model_dir)                              -> model
    input_fn(input_data, content_type)               -> data
    predict_fn(data, model)                          -> prediction
    output_fn(prediction, accept)                    -> body | (body, content_type)
    transform_fn(model, input_data, content_type, accept) -> body | (body, content_type)

Hooks are checked when the model loads, so a wrong signature fails the load with
one message instead of failing every request.
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sagemaker_embeddings.errors import ModelLoadError

# Hook name -> number of arguments before the optional context.
ARITY = {"model_fn": 1, "input_fn": 2, "predict_fn": 2, "output_fn": 2, "transform_fn": 4}


@dataclass(frozen=True)
class Hook:
    function: Callable[..., Any]
    takes_context: bool

    def __call__(self, *args: Any, context: Any) -> Any:
        return self.function(*args, context) if self.takes_context else self.function(*args)


@dataclass(frozen=True)
class UserHooks:
    model_fn: Hook | None = None
    input_fn: Hook | None = None
    predict_fn: Hook | None = None
    output_fn: Hook | None = None
    transform_fn: Hook | None = None

    @property
    def any_request_hook(self) -> bool:
        return any((self.input_fn, self.predict_fn, self.output_fn, self.transform_fn))


def load_user_hooks(path: Path) -> UserHooks:
    """Import ``path`` (if it exists) and collect its hooks; no file means no hooks."""
    if not path.is_file():
        return UserHooks()
    module = _import(path)
    found = {
        name: _hook(name, getattr(module, name))
        for name in ARITY
        if callable(getattr(module, name, None))
    }
    if "transform_fn" in found and found.keys() & {"input_fn", "predict_fn", "output_fn"}:
        raise ModelLoadError(
            f"{path.name}: transform_fn cannot be combined with input_fn, predict_fn or output_fn"
        )
    return UserHooks(**found)


def _import(path: Path) -> Any:
    # The code directory goes on sys.path so that the user's own helper modules import.
    code_dir = str(path.parent)
    if code_dir not in sys.path:
        sys.path.insert(0, code_dir)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    if spec is None or spec.loader is None:
        raise ModelLoadError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise ModelLoadError(f"importing {path} failed: {exc!r}") from exc
    return module


def _hook(name: str, function: Callable[..., Any]) -> Hook:
    expected = ARITY[name]
    parameters = inspect.signature(function).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in parameters):
        return Hook(function, takes_context=True)
    positional = [
        p
        for p in parameters
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]
    if len(positional) == expected:
        return Hook(function, takes_context=False)
    if len(positional) == expected + 1:
        return Hook(function, takes_context=True)
    raise ModelLoadError(
        f"{name} takes {len(positional)} arguments; expected {expected}, or {expected + 1} "
        "with a trailing context"
    )
