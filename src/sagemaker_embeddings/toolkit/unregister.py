"""``python -m sagemaker_embeddings.toolkit.unregister URL NAME``: drop a worker-less model.

Run detached by memory.unregister_later. It deletes the registration only while the
model has no workers and no minimum, which is the state a failed load leaves; a model
that did load meanwhile is left alone. Bounded: gives up after about 30 seconds.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

ATTEMPTS = 120
PAUSE_SECONDS = 0.25


def _describe(url: str) -> dict[str, object] | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            described = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise
    # MMS 1.1.11 answers a list for some versions of describe; take the first entry.
    first = described[0] if isinstance(described, list) else described
    return first if isinstance(first, dict) else None


def unregister_when_failed(management_url: str, model_name: str) -> bool:
    url = f"{management_url.rstrip('/')}/models/{urllib.parse.quote(model_name)}"
    for _ in range(ATTEMPTS):
        try:
            model = _describe(url)
            if model is None:
                return True
            if not model.get("workers") and model.get("minWorkers") == 0:
                request = urllib.request.Request(url, method="DELETE")
                with urllib.request.urlopen(request, timeout=30):
                    return True
        except (urllib.error.URLError, OSError, ValueError):
            pass
        time.sleep(PAUSE_SECONDS)
    return False


if __name__ == "__main__":
    sys.exit(0 if unregister_when_failed(sys.argv[1], sys.argv[2]) else 1)
