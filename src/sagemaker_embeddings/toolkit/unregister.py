"""``python -m sagemaker_embeddings.toolkit.unregister URL NAME``: drop a model refused with 507.

Run detached by memory_check.unregister_later. MMS 1.1.11 answers the failed ``POST /models``
and then unregisters the model itself, on the thread of the worker that replied 507;
that attempt interrupts its own wait for the worker process ("WorkerThread interrupted
during waitFor" in its log), fails, and puts the model back with no workers and
minWorkers 0, where it stays: SageMaker's retry would get 409. For a few milliseconds
in between the model is absent, so one 404 proves nothing: taking it for the end can
leave the registration in place (the likely cause of a failed container test run).

So: whenever the model is registered with no workers and no minimum (what a failed
load leaves), DELETE it; a DELETE that succeeds is the end (MMS's own attempt then
finds nothing to put back). Absent, or loaded with a minimum (a model that did load,
or a loaded model whose worker restart failed), counts only once it has lasted
SETTLE_SECONDS. Bounded by DEADLINE_SECONDS.
"""

from __future__ import annotations

import http.client
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Literal

DEADLINE_SECONDS = 60.0
SETTLE_SECONDS = 3.0
PAUSE_SECONDS = 0.25

State = Literal["failed", "absent", "serving", "unknown"]
Outcome = Literal["deleted", "absent", "serving", "timeout"]
# Errors of one call to MMS: retried on the next round.
_CALL_ERRORS = (urllib.error.URLError, OSError, ValueError, http.client.HTTPException)


def model_state(url: str) -> State:
    """What MMS's describe answer says about the model at ``url``."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            described = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return "absent" if exc.code == 404 else "unknown"
    except _CALL_ERRORS:
        return "unknown"
    # MMS answers a list for some versions of describe; take the first entry.
    model = described[0] if isinstance(described, list) and described else described
    if not isinstance(model, dict):
        return "unknown"
    if not model.get("workers") and model.get("minWorkers") == 0:
        return "failed"
    return "serving"


def _delete(url: str) -> bool:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="DELETE"), timeout=30):
            return True
    except _CALL_ERRORS:  # 404 in MMS's own attempt's window, 500, a timeout: look again
        return False


def unregister_when_failed(
    management_url: str,
    model_name: str,
    *,
    deadline_seconds: float = DEADLINE_SECONDS,
    settle_seconds: float = SETTLE_SECONDS,
    pause_seconds: float = PAUSE_SECONDS,
) -> Outcome:
    url = f"{management_url.rstrip('/')}/models/{urllib.parse.quote(model_name)}"
    deadline = time.monotonic() + deadline_seconds
    steady: tuple[State, float] | None = None  # an absent/serving state and since when
    while time.monotonic() < deadline:
        state = model_state(url)
        now = time.monotonic()
        if state == "failed" and _delete(url):
            return "deleted"
        if state in ("absent", "serving"):
            if steady is None or steady[0] != state:
                steady = (state, now)
            if now - steady[1] >= settle_seconds:
                return "absent" if state == "absent" else "serving"
        else:
            steady = None
        time.sleep(pause_seconds)
    return "timeout"


if __name__ == "__main__":
    outcome = unregister_when_failed(sys.argv[1], sys.argv[2])
    sys.exit(0 if outcome in ("deleted", "absent") else 1)
