"""What MMS workers load: ``handle(data, context)``, and the one class it delegates to.

The launcher names ``sagemaker_embeddings.toolkit.handler_service:handle``. MMS calls
a module-level entry point once with ``data=None`` when the model loads and lets its
exceptions through: a ``MemoryError`` becomes 507 for ``POST /models`` and anything
else fails the load. (With a class entry point MMS logs and swallows the load error
and the model looks loaded.) The module holds exactly one class, as MMS requires of
handler modules.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sagemaker_embeddings.errors import ModelLoadError
from sagemaker_embeddings.observability.logging import configure_logging
from sagemaker_embeddings.settings import Settings, parse_serve_args
from sagemaker_embeddings.toolkit.hooks import UserHooks, load_user_hooks
from sagemaker_embeddings.toolkit.memory_check import (
    InsufficientMemory,
    ensure_room_for,
    unregister_later,
)
from sagemaker_embeddings.toolkit.mode import management_url, user_module_path

if TYPE_CHECKING:
    from sagemaker_embeddings.toolkit.bridge import ToolkitModel
    from sagemaker_embeddings.toolkit.pipeline import Answer, Request

# torch and transformers are imported only once the memory check has passed:
# a refused model (507) then costs a second, not the imports of a full load.

logger = logging.getLogger(__name__)


class HandlerService:
    """One loaded model (the Engine, or whatever a user's model_fn returns) and its hooks."""

    def __init__(self) -> None:
        self.model: Any = None
        self.hooks = UserHooks()

    def initialize(self, context: Any) -> None:
        # MMS workers inherit the launcher's environment: Settings reads it here too.
        settings = parse_serve_args(())
        configure_logging(settings.log_level, settings.json_output)
        model_dir = Path(context.system_properties["model_dir"])
        self.hooks = load_user_hooks(user_module_path(model_dir, settings))
        if settings.multi_model:
            try:
                ensure_room_for(model_dir, settings.memory_headroom_mb)
            except InsufficientMemory as exc:
                logger.warning("refusing model %s (507): %s", context.model_name, exc)
                unregister_later(management_url(settings), context.model_name)
                raise
        try:
            if self.hooks.model_fn is not None:
                self.model = self.hooks.model_fn(model_dir, context=context)
            else:
                self.model = default_model_fn(model_dir, settings)
        except MemoryError:
            if settings.multi_model:
                unregister_later(management_url(settings), context.model_name)
            raise
        except RuntimeError as exc:
            # torch reports a failed CPU allocation as RuntimeError, not MemoryError.
            if "can't allocate memory" in str(exc) or "out of memory" in str(exc):
                if settings.multi_model:
                    unregister_later(management_url(settings), context.model_name)
                raise InsufficientMemory(str(exc)) from exc
            raise
        hooks = _hook_names(self.hooks)
        logger.info("toolkit model %s ready (hooks: %s)", context.model_name, hooks)

    def handle(self, data: list[dict[str, Any]], context: Any) -> list[bytes]:
        from sagemaker_embeddings.toolkit.pipeline import answer_batch

        requests = [_request(item, context, i) for i, item in enumerate(data)]
        answers = answer_batch(requests, self.model, self.hooks, context)
        for i, answer in enumerate(answers):
            _respond(context, i, answer)
        return [answer.body for answer in answers]


def default_model_fn(model_dir: Path, settings: Settings) -> ToolkitModel:
    """The native loading path; a model directory without config.json (code only) falls
    back to the usual source: HF_MODEL_ID, then the embedded default model."""
    from sagemaker_embeddings.engine.startup import load_engine
    from sagemaker_embeddings.toolkit.bridge import LoopThread, ToolkitModel

    if (model_dir / "config.json").is_file():
        settings = settings.model_copy(update={"model_id": str(model_dir)})
    try:
        engine = load_engine(settings)
    except ModelLoadError:
        logger.exception("cannot load the model in %s", model_dir)
        raise
    return ToolkitModel(engine, LoopThread())


def _request(item: dict[str, Any], context: Any, index: int) -> Request:
    from sagemaker_embeddings.toolkit.pipeline import Request

    # MMS passes a raw body as the "body" parameter (older clients: "data").
    body = item.get("body")
    if body is None:
        body = item.get("data", b"")
    if isinstance(body, str):
        body = body.encode("utf-8")
    headers = context.get_all_request_header(index) or {}
    lowered = {str(k).lower(): v for k, v in headers.items() if isinstance(v, str)}
    return Request(bytes(body), lowered)


def _respond(context: Any, index: int, answer: Answer) -> None:
    context.set_response_status(code=answer.status, phrase=_phrase(answer.status), idx=index)
    context.set_response_content_type(index, answer.content_type)
    for key, value in answer.headers.items():
        context.set_response_header(index, key, value)


def _phrase(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _hook_names(hooks: UserHooks) -> str:
    names = [
        n
        for n in ("model_fn", "input_fn", "predict_fn", "output_fn", "transform_fn")
        if getattr(hooks, n) is not None
    ]
    return ", ".join(names) or "none"


_service: HandlerService | None = None


def handle(data: list[dict[str, Any]] | None, context: Any) -> list[bytes] | None:
    """MMS entry point: load on the first call (``data is None``), then answer batches."""
    global _service
    if _service is None:
        service = HandlerService()
        service.initialize(context)
        _service = service
    if data is None:
        return None
    return _service.handle(data, context)
