"""Cohere/Jina-style /v1/rerank shapes (what Dify, FastGPT and LangChain send)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Document(BaseModel):
    text: str


class CohereRerankRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    query: str = Field(examples=["What is Deep Learning?"])
    documents: list[str] = Field(examples=[["Deep Learning is ...", "A cheetah runs fast."]])
    top_n: int | None = Field(None, ge=1)
    return_documents: bool = False
    model: str | None = None
    truncate: bool | None = None
    instruction: str | None = None  # causal-LM rerankers only, as in /rerank

    @field_validator("documents", mode="before")
    @classmethod
    def _documents_as_text(cls, value: object) -> object:
        # Cohere v1 and Jina also accept {"text": ...} objects.
        if isinstance(value, list):
            return [d["text"] if isinstance(d, dict) and "text" in d else d for d in value]
        return value


class CohereRerankResult(BaseModel):
    index: int
    relevance_score: float
    document: Document | None = None


class CohereRerankResponse(BaseModel):
    model: str
    results: list[CohereRerankResult]
