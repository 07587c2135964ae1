"""ColBERT late interaction, in PyLate's layout: one vector per token, MaxSim scores.

A PyLate model is an encoder followed by ``pylate.models.Dense`` projections, with
``"similarity_fn_name": "MaxSim"`` and its ColBERT settings in
config_sentence_transformers.json. PyLate encodes a text this way, and so do we:

- the tokenizer cuts it to ``query_length - 1`` or ``document_length - 1`` tokens,
  specials included, and the query or document marker ("[Q] ", "[D] ", tokens added to
  the vocabulary) goes in right after the first token;
- a query is expanded to ``query_length`` tokens with the mask token (the EOS token
  where there is none); the model does not attend to the expansion unless
  ``attend_to_expansion_tokens``, but their vectors are kept;
- each token state goes through the Dense projections and is L2-normalized;
- a document drops the vectors of its punctuation (``skiplist_words``) and padding;
  a query keeps every vector.

A query scores a document by MaxSim: the sum over query vectors of the best dot
product with any document vector. tests/e2e/test_colbert.py checks vectors and scores
against PyLate itself. Stanford's own ColBERT checkpoints (``HF_ColBERT``) are not read.
"""

from __future__ import annotations

import json
import string
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from tokenizers import Encoding, Tokenizer

from sagemaker_embeddings.errors import ModelLoadError, TokenizationFailed

if TYPE_CHECKING:  # detection and tokenization run without torch (ONNX path)
    import torch

ST_CONFIG_FILE = "config_sentence_transformers.json"
PYLATE_DENSE = "pylate.models.Dense"
# PyLate's defaults, for settings its config leaves out.
DEFAULT_QUERY_LENGTH = 32
DEFAULT_DOCUMENT_LENGTH = 180


class ColbertQuery(str):
    """A text to encode as a ColBERT query (the engine marks them; documents are
    plain strings)."""

    __slots__ = ()


def is_colbert(st_config: dict[str, Any], modules: Sequence[dict[str, Any]]) -> bool:
    return st_config.get("similarity_fn_name") == "MaxSim" or any(
        str(m.get("type", "")).startswith(PYLATE_DENSE) for m in modules
    )


@dataclass(frozen=True)
class ColbertLayout:
    """The ColBERT settings from the model's files; token ids are resolved later, with
    the tokenizer (``ColbertEncoder``)."""

    query_prefix: str
    document_prefix: str
    query_length: int
    document_length: int
    do_query_expansion: bool
    attend_to_expansion_tokens: bool
    skiplist_words: tuple[str, ...]
    expansion_token: str  # pads queries: the mask token, else EOS
    unk_token: str | None

    @property
    def longest(self) -> int:
        return max(self.query_length, self.document_length)


def read_layout(
    model_dir: Path, st_config: dict[str, Any], tokenizer_config: dict[str, Any]
) -> ColbertLayout:
    for dense_config in sorted(model_dir.glob("*_Dense/config.json")):
        if json.loads(dense_config.read_text(encoding="utf-8")).get("use_residual"):
            raise ModelLoadError(
                f"{dense_config.parent.name}: residual Dense layers are not supported"
            )
    expansion = _token(tokenizer_config, "mask_token") or _token(tokenizer_config, "eos_token")
    if expansion is None:
        raise ModelLoadError("a ColBERT model needs a mask or EOS token to expand its queries")
    expand = bool(st_config.get("do_query_expansion", True))
    return ColbertLayout(
        query_prefix=str(_or(st_config.get("query_prefix"), "[Q] ")),
        document_prefix=str(_or(st_config.get("document_prefix"), "[D] ")),
        query_length=int(_or(st_config.get("query_length"), DEFAULT_QUERY_LENGTH)),
        document_length=int(_or(st_config.get("document_length"), DEFAULT_DOCUMENT_LENGTH)),
        do_query_expansion=expand,
        attend_to_expansion_tokens=expand
        and bool(st_config.get("attend_to_expansion_tokens", False)),
        skiplist_words=tuple(
            str(w) for w in _or(st_config.get("skiplist_words"), list(string.punctuation))
        ),
        expansion_token=expansion,
        unk_token=_token(tokenizer_config, "unk_token"),
    )


def _or(value: Any, default: Any) -> Any:
    return default if value is None else value


def _token(tokenizer_config: dict[str, Any], name: str) -> str | None:
    # Older tokenizer configs write special tokens as AddedToken dicts.
    value = tokenizer_config.get(name)
    if isinstance(value, dict):
        value = value.get("content")
    return str(value) if value else None


@dataclass(frozen=True)
class ColbertTokens:
    ids: list[int]
    type_ids: list[int]
    attended: int | None  # leading tokens the model attends to; None: all
    returned: tuple[int, ...] | None  # positions whose vectors are answered; None: all


class ColbertEncoder:
    """Texts -> token ids the way PyLate's ``ColBERT.tokenize`` builds them."""

    def __init__(self, tokenizer: Tokenizer, layout: ColbertLayout, max_input_length: int) -> None:
        self.layout = layout
        self.query_prefix = self._id(tokenizer, layout.query_prefix)
        self.document_prefix = self._id(tokenizer, layout.document_prefix)
        expansion = tokenizer.token_to_id(layout.expansion_token)
        if expansion is None:
            raise ModelLoadError(f"the tokenizer has no {layout.expansion_token!r} token")
        self.expansion_id = expansion
        # transformers' convert_tokens_to_ids gives the unknown token's id for a word
        # missing from the vocabulary, so PyLate then skips unknown tokens too.
        unk = tokenizer.token_to_id(layout.unk_token) if layout.unk_token else None
        skip = (tokenizer.token_to_id(w) for w in layout.skiplist_words)
        self.skiplist = frozenset(i if i is not None else unk for i in skip) - {None}
        self._query = self._cutting(tokenizer, layout.query_length, self.query_prefix, "right")
        self._documents = {
            direction: self._cutting(
                tokenizer,
                min(layout.document_length, max_input_length),
                self.document_prefix,
                direction,
            )
            for direction in ("right", "left")
        }

    @staticmethod
    def _id(tokenizer: Tokenizer, prefix: str) -> int | None:
        if prefix == "":
            return None  # PyLate: an empty prefix means no marker
        token = tokenizer.token_to_id(prefix)
        if token is None:
            raise ModelLoadError(f"the tokenizer has no ColBERT marker token {prefix!r}")
        return token

    @staticmethod
    def _cutting(
        tokenizer: Tokenizer, length: int, prefix: int | None, direction: str
    ) -> Tokenizer:
        copy = Tokenizer.from_str(tokenizer.to_str())
        copy.no_padding()
        # The marker takes one of the model's positions.
        copy.enable_truncation(length - (prefix is not None), direction=direction)
        return copy

    def encode(self, texts: Sequence[str], direction: str = "right") -> list[ColbertTokens]:
        queries = [i for i, t in enumerate(texts) if isinstance(t, ColbertQuery)]
        documents = [i for i, t in enumerate(texts) if not isinstance(t, ColbertQuery)]
        encoded: list[ColbertTokens | None] = [None] * len(texts)
        for rows, tokenizer, is_query in (
            (queries, self._query, True),
            (documents, self._documents[direction], False),
        ):
            if not rows:
                continue
            try:
                encodings = tokenizer.encode_batch([str(texts[i]) for i in rows])
            except Exception as exc:  # the Rust tokenizer raises plain Exception
                raise TokenizationFailed(str(exc)) from exc
            for row, encoding in zip(rows, encodings, strict=True):
                encoded[row] = (
                    self._query_tokens(encoding) if is_query else self._document_tokens(encoding)
                )
        return [e for e in encoded if e is not None]

    def _query_tokens(self, encoding: Encoding) -> ColbertTokens:
        ids, types = _with_marker(encoding, self.query_prefix)
        layout = self.layout
        if not layout.do_query_expansion:
            return ColbertTokens(ids, types, None, None)
        real = len(ids)
        missing = max(0, layout.query_length - real)
        attended = None if layout.attend_to_expansion_tokens else real
        return ColbertTokens(
            ids + [self.expansion_id] * missing, types + [0] * missing, attended, None
        )

    def _document_tokens(self, encoding: Encoding) -> ColbertTokens:
        ids, types = _with_marker(encoding, self.document_prefix)
        kept = tuple(i for i, token in enumerate(ids) if token not in self.skiplist)
        return ColbertTokens(ids, types, None, kept if len(kept) < len(ids) else None)


def _with_marker(encoding: Encoding, marker: int | None) -> tuple[list[int], list[int]]:
    ids, types = list(encoding.ids), list(encoding.type_ids)
    if marker is None or not ids:
        return ids, types
    return [ids[0], marker, *ids[1:]], [types[0], 0, *types[1:]]


def token_vectors(states: torch.Tensor, projection: torch.nn.Module) -> torch.Tensor:
    """One text's token states -> its normalized ColBERT vectors (float32)."""
    import torch

    return torch.nn.functional.normalize(projection(states).float(), p=2, dim=-1)


def maxsim(query: np.ndarray, document: np.ndarray) -> float:
    """The sum over query vectors of their best dot product with a document vector."""
    if len(document) == 0:
        return 0.0
    return float((query @ document.T).max(axis=1).sum())
