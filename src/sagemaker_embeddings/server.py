"""Run the server: Settings -> engine (model loaded and warm) -> uvicorn.

The socket opens only after the model is loaded and warmed up, so /ping never
answers for a server that cannot serve; a model that fails to load ends start-up
with one log line and exit code 1.
"""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import uvicorn
from pydantic import ValidationError

from sagemaker_embeddings.errors import ModelLoadError
from sagemaker_embeddings.observability.logging import configure_logging
from sagemaker_embeddings.settings import Settings, parse_serve_args
from sagemaker_embeddings.toolkit.mode import toolkit_requested

logger = logging.getLogger("sagemaker_embeddings")


def run(argv: Sequence[str]) -> int:
    try:
        settings = parse_serve_args(argv)
    except ValidationError as exc:
        print(f"serve: invalid settings:\n{exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.json_output)
    if toolkit_requested(settings):
        # Multi-model endpoints and custom inference.py run on MMS (toolkit/launcher.py).
        from sagemaker_embeddings.toolkit.launcher import run_toolkit

        return run_toolkit(settings)
    return serve(settings)


def serve(settings: Settings) -> int:
    # Imported here so that `serve --help` and bad settings answer without torch.
    from sagemaker_embeddings.engine.startup import load_engine
    from sagemaker_embeddings.http.app import create_app

    try:
        engine = load_engine(settings)
    except ModelLoadError as exc:
        logger.error("cannot start: %s", exc)
        return 1
    config = uvicorn.Config(
        create_app(settings, engine),
        host=settings.listen_address,
        port=settings.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=round(settings.graceful_shutdown_seconds),
        # Batch transform and async inference hold requests for minutes.
        timeout_keep_alive=75,
    )
    DrainingServer(config).run()
    return 0


class DrainingServer(uvicorn.Server):
    """uvicorn, except that a drained SIGTERM ends in exit code 0.

    On SIGTERM (SageMaker's stop) uvicorn closes the socket, lets in-flight requests
    finish for GRACEFUL_SHUTDOWN_SECONDS and runs the lifespan shutdown; then it raises
    the signal again, so the process would die by it (exit 143) after a clean drain.
    """

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        with super().capture_signals():
            yield
            captured = getattr(self, "_captured_signals", None)
            if isinstance(captured, list):
                captured[:] = [sig for sig in captured if sig != signal.SIGTERM]
