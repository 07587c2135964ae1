"""Causal-LM rerankers (Qwen3-Reranker) through the real server, against the model card's
own scoring procedure run with transformers on a tiny Qwen3 model."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import torch

from tests.conftest import ServerFactory
from tests.harness.serve import refused_start

ModelDirs = Callable[[str], Path]
QUERY = "Which library offers pre-trained transformer models?"
DOCUMENTS = [
    "The library offers thousands of pre-trained models for text.",
    "The weather was cold and the trains were late.",
    "yes",
    "Transformers " * 300,  # longer than the model's 512 tokens: the middle is cut
]
# The model card's prompt, typed from the card (not imported from the code under test).
CARD_PREFIX = (
    "<|im_start|>system\nJudge whether the Document meets the requirements based on the "
    'Query and the Instruct provided. Note that the answer can only be "yes" or "no".'
    "<|im_end|>\n<|im_start|>user\n"
)
CARD_SUFFIX = "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
CARD_INSTRUCTION = "Given a web search query, retrieve relevant passages that answer the query"


def card_scores(
    path: Path, query: str, documents: list[str], instruction: str = CARD_INSTRUCTION
) -> tuple[list[float], list[float]]:
    """The card's procedure: (P(yes) against P(no), logit(yes) - logit(no)) per document."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path, padding_side="left")
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    yes, no = tokenizer.convert_tokens_to_ids("yes"), tokenizer.convert_tokens_to_ids("no")
    prefix = tokenizer.encode(CARD_PREFIX, add_special_tokens=False)
    suffix = tokenizer.encode(CARD_SUFFIX, add_special_tokens=False)
    max_length = model.config.max_position_embeddings
    texts = [f"<Instruct>: {instruction}\n<Query>: {query}\n<Document>: {d}" for d in documents]
    encoded = tokenizer(
        texts,
        padding=False,
        truncation="longest_first",
        return_attention_mask=False,
        max_length=max_length - len(prefix) - len(suffix),
    )
    encoded["input_ids"] = [prefix + ids + suffix for ids in encoded["input_ids"]]
    batch = tokenizer.pad(encoded, padding=True, return_tensors="pt", max_length=max_length)
    with torch.no_grad():
        last = model(**batch).logits[:, -1, :]
    pair = torch.stack([last[:, no], last[:, yes]], dim=1)
    probabilities = torch.nn.functional.log_softmax(pair, dim=1)[:, 1].exp()
    return probabilities.tolist(), (last[:, yes] - last[:, no]).tolist()


def serve(server_factory: ServerFactory, model_dirs: ModelDirs, name: str, **env: str) -> str:
    return server_factory(
        name + str(sorted(env.items())), {"HF_MODEL_ID": str(model_dirs(name)), **env}
    ).url


def by_index(answer: list[dict[str, float]]) -> list[float]:
    return [item["score"] for item in sorted(answer, key=lambda item: item["index"])]


def assert_scores(ours: list[float], theirs: list[float]) -> None:
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs, strict=True):
        assert abs(a - b) < 1e-4, (ours, theirs)


@pytest.mark.parametrize("name", ["qwen3-reranker", "qwen3-reranker-untied"])
def test_scores_match_the_model_card(
    server_factory: ServerFactory, model_dirs: ModelDirs, name: str
) -> None:
    url = serve(server_factory, model_dirs, name)
    probabilities, logits = card_scores(model_dirs(name), QUERY, DOCUMENTS)
    assert max(probabilities) - min(probabilities) > 1e-3, "the tiny model cannot tell apart"
    answer = httpx.post(f"{url}/rerank", json={"query": QUERY, "texts": DOCUMENTS})
    assert answer.status_code == 200, answer.text
    assert_scores(by_index(answer.json()), probabilities)
    raw = httpx.post(
        f"{url}/rerank", json={"query": QUERY, "texts": DOCUMENTS, "raw_scores": True}
    ).json()
    assert_scores(by_index(raw), logits)
    # SageMaker's /invocations binds to rerank for this model.
    invoked = httpx.post(f"{url}/invocations", json={"query": QUERY, "texts": DOCUMENTS[:2]})
    assert invoked.status_code == 200, invoked.text
    assert_scores(by_index(invoked.json()), probabilities[:2])
    info = httpx.get(f"{url}/info").json()
    assert "reranker" in info["model_type"]


def test_cohere_client_and_the_instruction_setting(
    server_factory: ServerFactory, model_dirs: ModelDirs
) -> None:
    instruction = "Judge whether the passage names a software library"
    url = serve(server_factory, model_dirs, "qwen3-reranker", RERANK_INSTRUCTION=instruction)
    probabilities, _ = card_scores(model_dirs("qwen3-reranker"), QUERY, DOCUMENTS, instruction)
    default, _ = card_scores(model_dirs("qwen3-reranker"), QUERY, DOCUMENTS)
    assert max(abs(a - b) for a, b in zip(probabilities, default, strict=True)) > 1e-5
    import cohere

    client = cohere.ClientV2(api_key="unused", base_url=url)
    answer = client.rerank(model="qwen3-reranker", query=QUERY, documents=DOCUMENTS, top_n=2)
    best = sorted(range(len(DOCUMENTS)), key=lambda i: -probabilities[i])[:2]
    assert [r.index for r in answer.results] == best
    assert_scores([r.relevance_score for r in answer.results], [probabilities[i] for i in best])


def test_instruction_per_request(server_factory: ServerFactory, model_dirs: ModelDirs) -> None:
    """A request's instruction wins over RERANK_INSTRUCTION, on /rerank and /v1/rerank."""
    url = serve(server_factory, model_dirs, "qwen3-reranker", RERANK_INSTRUCTION="Find recipes")
    instruction = "Judge whether the passage is about weather"
    probabilities, _ = card_scores(model_dirs("qwen3-reranker"), QUERY, DOCUMENTS, instruction)
    body = {"query": QUERY, "texts": DOCUMENTS, "instruction": instruction}
    answer = httpx.post(f"{url}/rerank", json=body)
    assert answer.status_code == 200, answer.text
    assert_scores(by_index(answer.json()), probabilities)
    cohere_body = {"query": QUERY, "documents": DOCUMENTS, "instruction": instruction}
    results = httpx.post(f"{url}/v1/rerank", json=cohere_body).json()["results"]
    assert_scores(
        [r["relevance_score"] for r in sorted(results, key=lambda r: r["index"])], probabilities
    )
    # A cross-encoder has no instruction to replace: said, not ignored.
    cross = server_factory("reranker", {"HF_MODEL_ID": str(model_dirs("reranker"))}).url
    refused = httpx.post(f"{cross}/rerank", json=body)
    assert refused.status_code == 422, refused.text
    assert "causal-LM rerankers" in refused.json()["error"]


def test_onnx_is_refused_with_the_reason(tmp_path: Path, model_dirs: ModelDirs) -> None:
    env = {"HF_MODEL_ID": str(model_dirs("qwen3-reranker")), "BACKEND": "onnx"}
    error = refused_start(env, tmp_path)
    assert "causal-LM reranker" in error
    assert "BACKEND=torch" in error
