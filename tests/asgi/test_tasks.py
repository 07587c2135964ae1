"""Task bindings of /invocations, in process on the real runner (scores must make sense).

Moved from e2e/test_tasks.py, where it cost a `serve` process of its own.
"""

from __future__ import annotations

from tests.harness.asgi import in_process


def test_sentence_similarity_task_binds_invocations() -> None:
    with in_process(None, real_runner=True, task="sentence-similarity") as server:
        payload = {"inputs": {"source_sentence": "a dog", "sentences": ["a puppy", "a tax form"]}}
        scores = server.client.post("/invocations", json=payload).json()
    assert len(scores) == 2
    assert scores[0] > scores[1]
