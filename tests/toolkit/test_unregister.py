"""toolkit/unregister.py against a stand-in for MMS's management API that replays what
MMS 1.1.11 does after a failed load (seen in the CPU image, polling every millisecond):
the model is registered while the worker loads, absent for a few milliseconds while
MMS's own unregister attempt runs, then back with no workers and minWorkers 0."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from sagemaker_embeddings.toolkit.unregister import unregister_when_failed

LOADING = {"modelName": "m", "minWorkers": 1, "workers": [{"status": "UNLOADING"}]}
FAILED = {"modelName": "m", "minWorkers": 0, "maxWorkers": 0, "workers": []}
Serve = Callable[["FakeMMS"], str]
FAST = {"settle_seconds": 0.3, "pause_seconds": 0.01, "deadline_seconds": 10.0}


class FakeMMS:
    """Answers describe with ``states`` in turn (None is a 404; the last one repeats)."""

    def __init__(self, states: list[dict[str, object] | None], delete_codes: list[int]) -> None:
        self.states = states
        self.delete_codes = delete_codes  # the last one repeats
        self.deletes = 0
        self.registered = True

    def describe(self) -> dict[str, object] | None:
        if not self.registered:
            return None
        return self.states.pop(0) if len(self.states) > 1 else self.states[0]

    def delete(self) -> int:
        code = self.delete_codes.pop(0) if len(self.delete_codes) > 1 else self.delete_codes[0]
        self.deletes += 1
        self.registered = self.registered and code != 200
        return code


@pytest.fixture
def serve() -> Iterator[Callable[[FakeMMS], str]]:
    servers: list[ThreadingHTTPServer] = []

    def start(mms: FakeMMS) -> str:
        class Handler(BaseHTTPRequestHandler):
            def _answer(self, code: int, body: object) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                model = mms.describe()
                self._answer(404 if model is None else 200, model or {"code": 404})

            def do_DELETE(self) -> None:
                code = mms.delete()
                self._answer(code, {"status": code})

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()


def test_a_404_while_mms_tries_to_unregister_is_not_the_end(serve: Serve) -> None:
    mms = FakeMMS([LOADING, LOADING, None, None, FAILED], delete_codes=[200])
    assert unregister_when_failed(serve(mms), "m", **FAST) == "deleted"
    assert mms.deletes == 1
    assert not mms.registered


def test_a_failed_delete_is_tried_again(serve: Serve) -> None:
    mms = FakeMMS([FAILED], delete_codes=[500, 404, 200])
    assert unregister_when_failed(serve(mms), "m", **FAST) == "deleted"
    assert mms.deletes == 3


def test_gone_for_good_ends_after_settling(serve: Serve) -> None:
    mms = FakeMMS([None], delete_codes=[200])
    assert unregister_when_failed(serve(mms), "m", **FAST) == "absent"
    assert mms.deletes == 0


def test_a_loaded_model_is_left_alone(serve: Serve) -> None:
    serving = {"modelName": "m", "minWorkers": 1, "workers": [{"status": "READY"}]}
    mms = FakeMMS([serving], delete_codes=[200])
    assert unregister_when_failed(serve(mms), "m", **FAST) == "serving"
    assert mms.deletes == 0


def test_nothing_answering_is_bounded() -> None:
    timing = {**FAST, "deadline_seconds": 0.5}
    assert unregister_when_failed("http://127.0.0.1:9", "m", **timing) == "timeout"
