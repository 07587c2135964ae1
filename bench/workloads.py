"""W1-W5 as issue 6 defines them, and which requests each peer gets for each."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bench.load import Request
from bench.peers.servers import Peer, embed_request, rerank_request
from bench.texts import SEED_TEXT, SHORT_TEXT, rag_mix
from bench.texts import rerank_request as rerank_texts

WorkloadName = Literal["W1", "W2", "W3", "W4", "W5"]


@dataclass(frozen=True)
class Workload:
    name: WorkloadName
    title: str
    clients: int
    task: Literal["embed", "rerank"]
    latency: bool = False  # reported as p50 latency rather than throughput


WORKLOADS: dict[WorkloadName, Workload] = {
    w.name: w
    for w in (
        Workload("W1", "seed text, 1 input/request, 10 clients", 10, "embed"),
        Workload("W2", "32 seed texts/request, 1 client", 1, "embed"),
        Workload("W3", "10-token input, 1 client, sequential", 1, "embed", latency=True),
        Workload("W4", "RAG mix 8-512 tokens (log-uniform), 10 clients", 10, "embed"),
        Workload("W5", "rerank: 1 query + 20 passages/request, 4 clients", 4, "rerank"),
    )
}


def requests_for(workload: WorkloadName, peer: Peer) -> list[Request] | None:
    """The requests the clients cycle through; None where the peer cannot do it."""
    if workload == "W1":
        return [embed_request(peer, [SEED_TEXT], single=True)]
    if workload == "W2":
        return [embed_request(peer, [SEED_TEXT] * 32, single=False)]
    if workload == "W3":
        return [embed_request(peer, [SHORT_TEXT], single=True)]
    if workload == "W4":
        return [embed_request(peer, [text], single=True) for text in rag_mix()]
    texts = rerank_texts()
    request = rerank_request(peer, texts.query, texts.passages)
    return None if request is None else [request]
