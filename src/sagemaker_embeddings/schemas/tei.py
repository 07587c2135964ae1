"""Request and response bodies of TEI's routes (they also make /openapi.json)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

TokenIds = list[int]
# TEI's `Input`: one text or token-id list, or a batch in which each entry is either.
Inputs = str | TokenIds | list[str | TokenIds]


class _Request(BaseModel):
    # Unknown fields are ignored, as TEI does; SageMaker clients add their own.
    model_config = ConfigDict(extra="ignore")


class _Truncation(_Request):
    truncate: bool | None = Field(
        None, description="Cut inputs to the model's limit (null: the server's AUTO_TRUNCATE)"
    )
    # The validator folds case; the schema lists TEI's spellings (`Left`, `Right`) too.
    truncation_direction: Literal["right", "left"] = Field(
        "right", json_schema_extra={"enum": ["Left", "Right", "left", "right"]}
    )

    @field_validator("truncation_direction", mode="before")
    @classmethod
    def _direction_case(cls, value: object) -> object:
        # TEI accepts both `right` and `Right`.
        return value.lower() if isinstance(value, str) else value


class EmbedRequest(_Truncation):
    inputs: Inputs = Field(examples=["What is Deep Learning?"])
    prompt_name: str | None = None
    normalize: bool = True
    dimensions: int | None = Field(None, description="Matryoshka: keep the first N dimensions")


class EmbedAllRequest(_Truncation):
    inputs: Inputs
    prompt_name: str | None = None


class EmbedSparseRequest(EmbedAllRequest):
    pass


class SparseValue(BaseModel):
    index: int
    value: float


class PredictRequest(_Truncation):
    inputs: str | list[str] | list[list[str]] = Field(
        description='"text", ["text", "pair"] (one pair), or [["text"], ["text", "pair"]]',
        examples=["I like you."],
    )
    raw_scores: bool = False

    @field_validator("inputs")
    @classmethod
    def _pairs_have_one_or_two(cls, value: object) -> object:
        if isinstance(value, list):
            if len(value) > 2 and all(isinstance(v, str) for v in value):
                raise ValueError("a single input is a text or a [text, pair] of two strings")
            for item in value:
                if isinstance(item, list) and not 1 <= len(item) <= 2:
                    raise ValueError("each input must be [text] or [text, pair]")
        return value


class Prediction(BaseModel):
    score: float
    label: str


class RerankRequest(_Truncation):
    query: str = Field(examples=["What is Deep Learning?"])
    texts: list[str] = Field(examples=[["Deep Learning is ...", "A cheetah runs fast."]])
    raw_scores: bool = False
    return_text: bool = False
    instruction: str | None = Field(
        None,
        description="Causal-LM rerankers (Qwen3-Reranker) only: the task instruction of "
        "their prompt for this request; unset: RERANK_INSTRUCTION, else the model card's. "
        "Not in TEI.",
    )

    @model_validator(mode="before")
    @classmethod
    def _documents_alias(cls, data: object) -> object:
        # Dify, FastGPT and Cohere-style clients send `documents` instead of `texts`.
        if isinstance(data, dict) and "texts" not in data and "documents" in data:
            return {**data, "texts": data["documents"]}
        return data


class Rank(BaseModel):
    index: int
    score: float
    text: str | None = None


class SimilarityInputs(BaseModel):
    source_sentence: str
    sentences: list[str]


class SimilarityParameters(_Truncation):
    prompt_name: str | None = None


class SimilarityRequest(_Request):
    inputs: SimilarityInputs
    parameters: SimilarityParameters | None = None


class TokenizeRequest(_Request):
    inputs: str | list[str]
    add_special_tokens: bool = True
    prompt_name: str | None = None


class SimpleToken(BaseModel):
    id: int
    text: str
    special: bool
    start: int | None = None
    stop: int | None = None


class DecodeRequest(_Request):
    ids: TokenIds | list[TokenIds]
    skip_special_tokens: bool = True


class ErrorResponse(BaseModel):
    error: str
    error_type: str


class Info(BaseModel):
    model_id: str
    model_sha: str | None
    model_dtype: str
    served_model_name: str
    model_type: dict[str, object]
    max_concurrent_requests: int
    max_input_length: int
    max_batch_tokens: int
    max_batch_requests: int | None
    max_client_batch_size: int
    auto_truncate: bool
    tokenization_workers: int
    version: str
    sha: str | None
    docker_label: str | None
    # Ours, not TEI's: which runner executes the model ("torch", "onnx" or "openvino").
    backend: str
