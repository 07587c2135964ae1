"""Text -> TokenizedInput. The only place that turns client text into token ids."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from tokenizers import Encoding, Tokenizer

from sagemaker_embeddings.errors import ModelLoadError, TokenizationFailed, ValidationFailed
from sagemaker_embeddings.models.causal_rerank import PromptEncoder
from sagemaker_embeddings.models.colbert import ColbertEncoder, ColbertQuery
from sagemaker_embeddings.models.task import ModelSpec

Direction = Literal["right", "left"]
TextInput = str | tuple[str, str]  # one text, or a (query, text) pair for cross-encoders

# Inputs longer than this many characters per allowed token are cut (when truncating)
# or refused (when not) before tokenization, so a 1 MB string costs no more than a
# long one. No tokenizer packs 250 characters into one token.
CHARS_PER_TOKEN_LIMIT = 250


class DecodedIds(str):
    """Text decoded from a client's token ids, special tokens kept: it is encoded without
    adding special tokens, so the ids reach the model as given (TEI does the same)."""

    __slots__ = ()


@dataclass(frozen=True)
class TokenizedInput:
    """A validated input: its ids fit the model. Created only by InputTokenizer."""

    ids: list[int]
    type_ids: list[int]
    chars: int
    # ColBERT (models/colbert.py): an expanded query attends to its first ``attended``
    # tokens only; a document answers the vectors at ``returned`` only (no punctuation).
    attended: int | None = None
    returned: tuple[int, ...] | None = None


def load_tokenizer(
    model_dir: Path, trust_remote_code: bool, with_transformers: bool = True
) -> Tokenizer:
    """The fast tokenizer as transformers configures it (special tokens, post-processor);
    without transformers (the ONNX path: it imports torch), tokenizer.json as written."""
    if not with_transformers:
        try:
            return Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        except Exception as exc:  # start-up boundary: a missing or malformed file
            raise ModelLoadError(f"cannot load {model_dir / 'tokenizer.json'}: {exc}") from exc
    from transformers import AutoTokenizer

    try:
        loaded = AutoTokenizer.from_pretrained(model_dir, trust_remote_code=trust_remote_code)
    except Exception as exc:  # start-up boundary: report whatever transformers raised
        raise ModelLoadError(f"cannot load the tokenizer: {exc}") from exc
    backend = getattr(loaded, "backend_tokenizer", None)
    if not isinstance(backend, Tokenizer):
        raise ModelLoadError("a fast tokenizer (tokenizer.json) is required")
    return backend


class InputTokenizer:
    """Encodes texts with the model's limits, prompts and truncation rules."""

    def __init__(self, tokenizer: Tokenizer, spec: ModelSpec) -> None:
        self.spec = spec
        self.max_input_length = spec.max_input_length
        self.vocab_size = tokenizer.get_vocab_size(with_added_tokens=True)
        # One configured copy per behaviour: Tokenizer objects hold truncation state,
        # and requests choose theirs concurrently.
        self._plain = self._copy(tokenizer)
        self._plain.no_truncation()
        self._truncating: dict[Direction, Tokenizer] = {}
        for direction in ("right", "left"):
            copy = self._copy(tokenizer)
            copy.enable_truncation(
                self.max_input_length, strategy="longest_first", direction=direction
            )
            self._truncating[direction] = copy
        self._pair_prompt = (
            PromptEncoder(tokenizer, self.max_input_length, spec.rerank_instruction)
            if spec.causal_lm_rerank
            else None
        )
        self._colbert = (
            ColbertEncoder(tokenizer, spec.colbert, self.max_input_length)
            if spec.colbert is not None
            else None
        )

    @staticmethod
    def _copy(tokenizer: Tokenizer) -> Tokenizer:
        copy = Tokenizer.from_str(tokenizer.to_str())
        copy.no_padding()
        return copy

    def prompt_for(self, prompt_name: str | None) -> str | None:
        if prompt_name is None:
            return self.spec.default_prompt
        if prompt_name not in self.spec.prompts:
            known = ", ".join(sorted(self.spec.prompts)) or "none"
            raise ValidationFailed(f"prompt_name {prompt_name!r} is unknown; known: {known}")
        return self.spec.prompts[prompt_name]

    def encode(
        self,
        inputs: Sequence[TextInput],
        *,
        truncate: bool,
        direction: Direction = "right",
        prompt_name: str | None = None,
        add_special_tokens: bool = True,
        instruction: str | None = None,
    ) -> list[TokenizedInput]:
        if self._colbert is not None:
            return self._colbert_inputs(self._colbert, inputs, truncate, direction, prompt_name)
        encodings = self.encodings(
            inputs,
            truncate=truncate,
            direction=direction,
            prompt_name=prompt_name,
            add_special_tokens=add_special_tokens,
            instruction=instruction,
        )
        return [
            TokenizedInput(ids=e.ids, type_ids=e.type_ids, chars=text_chars(text))
            for e, text in zip(encodings, inputs, strict=True)
        ]

    def _colbert_inputs(
        self,
        encoder: ColbertEncoder,
        inputs: Sequence[TextInput],
        truncate: bool,
        direction: Direction,
        prompt_name: str | None,
    ) -> list[TokenizedInput]:
        # A ColBERT model always cuts to its query or document length, as PyLate does
        # (it was trained at those lengths); the character limit still applies. "query"
        # and "document" name the side even where the model defines no such prompt.
        names_side = prompt_name in ("query", "document") and prompt_name not in self.spec.prompts
        prompt = None if names_side else self.prompt_for(prompt_name)
        texts: list[str] = []
        for text in inputs:
            if isinstance(text, tuple):
                raise ValidationFailed("a ColBERT model encodes single texts, not pairs")
            prepared = self._cut((prompt or "") + text, truncate, direction)
            texts.append(ColbertQuery(prepared) if isinstance(text, ColbertQuery) else prepared)
        return [
            TokenizedInput(t.ids, t.type_ids, text_chars(text), t.attended, t.returned)
            for t, text in zip(encoder.encode(texts, direction), inputs, strict=True)
        ]

    def encodings(
        self,
        inputs: Sequence[TextInput],
        *,
        truncate: bool,
        direction: Direction = "right",
        prompt_name: str | None = None,
        add_special_tokens: bool = True,
        limit_tokens: bool = True,
        instruction: str | None = None,
    ) -> list[Encoding]:
        """``limit_tokens=False`` (for /tokenize) allows inputs longer than the model's
        limit; the character limit still applies."""
        prompt = self.prompt_for(prompt_name)
        prepared = [self._prepare(text, prompt, truncate, direction) for text in inputs]
        pairs = [text for text in prepared if isinstance(text, tuple)]
        if self._pair_prompt is not None and len(pairs) == len(prepared):
            # A causal-LM reranker reads each pair inside its model card's prompt.
            encoded = self._pair_prompt.encode(pairs, truncate, instruction)
            return self._checked(encoded, truncate, limit_tokens)
        tokenizer = self._truncating[direction] if truncate else self._plain
        # Decoded ids already hold their special tokens (a prompt makes them text again).
        as_given = [isinstance(text, DecodedIds) and prompt is None for text in inputs]
        encodings: list[Encoding | None] = [None] * len(inputs)
        for keep in (False, True):
            rows = [i for i, given in enumerate(as_given) if given is keep]
            if not rows:
                continue
            try:
                encoded = tokenizer.encode_batch(
                    [prepared[i] for i in rows], add_special_tokens=add_special_tokens and not keep
                )
            except Exception as exc:  # the Rust tokenizer raises plain Exception
                raise TokenizationFailed(str(exc)) from exc
            for row, encoding in zip(rows, encoded, strict=True):
                encodings[row] = encoding
        return self._checked([e for e in encodings if e is not None], truncate, limit_tokens)

    def _checked(self, done: list[Encoding], truncate: bool, limit_tokens: bool) -> list[Encoding]:
        for encoding in done:
            if limit_tokens and not truncate and len(encoding.ids) > self.max_input_length:
                raise ValidationFailed(
                    f"`inputs` must have less than {self.max_input_length} tokens. "
                    f"Given: {len(encoding.ids)}"
                )
            if not encoding.ids:
                raise ValidationFailed("an input produced no tokens")
        return done

    def _prepare(
        self, text: TextInput, prompt: str | None, truncate: bool, direction: Direction
    ) -> TextInput:
        if isinstance(text, tuple):
            if prompt is not None and self.spec.task not in ("rerank", "classify"):
                raise ValidationFailed("prompts cannot be used with text pairs")
            return (
                self._cut(text[0], truncate, direction),
                self._cut(text[1], truncate, direction),
            )
        if prompt is not None:
            text = prompt + text
        return self._cut(text, truncate, direction)

    def _cut(self, text: str, truncate: bool, direction: Direction) -> str:
        limit = CHARS_PER_TOKEN_LIMIT * self.max_input_length
        if len(text) <= limit:
            return text
        if not truncate:
            raise ValidationFailed(
                f"`inputs` must have less than {limit} characters. Given: {len(text)}"
            )
        return text[:limit] if direction == "right" else text[-limit:]

    def ids_to_text(self, ids: Sequence[int], prompted: bool) -> str:
        """Token-id inputs are decoded and re-encoded, as TEI does: as given (special
        tokens kept, none added), or, when a prompt goes in front, as plain text."""
        self.check_ids(ids)
        if prompted:
            return self._plain.decode(list(ids), skip_special_tokens=True)
        return DecodedIds(self._plain.decode(list(ids), skip_special_tokens=False))

    def check_ids(self, ids: Sequence[int]) -> None:
        for token in ids:
            if not 0 <= token < self.vocab_size:
                raise ValidationFailed(
                    f"token id {token} is outside the vocabulary (0..{self.vocab_size - 1})"
                )

    def decode(self, batch: Sequence[Sequence[int]], skip_special_tokens: bool) -> list[str]:
        for ids in batch:
            self.check_ids(ids)
        return list(
            self._plain.decode_batch(
                [list(i) for i in batch], skip_special_tokens=skip_special_tokens
            )
        )


def is_empty(text: TextInput) -> bool:
    """TEI's rule: an empty text, or a pair whose two texts are both empty."""
    return not text if isinstance(text, str) else not text[0] and not text[1]


def text_chars(text: TextInput) -> int:
    return len(text) if isinstance(text, str) else len(text[0]) + len(text[1])
