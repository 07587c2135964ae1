"""OpenAI's /v1/embeddings shapes."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from sagemaker_embeddings.schemas.tei import Inputs


class OpenAIEmbeddingRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    input: Inputs = Field(examples=["What is Deep Learning?"])
    model: str | None = Field(None, description="Accepted and ignored: one model per server")
    user: str | None = None
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = None


class OpenAIEmbedding(BaseModel):
    object: Literal["embedding"] = "embedding"
    embedding: list[float] | str
    index: int


class OpenAIUsage(BaseModel):
    prompt_tokens: int
    total_tokens: int


class OpenAIEmbeddingResponse(BaseModel):
    object: Literal["list"] = "list"
    data: list[OpenAIEmbedding]
    model: str
    usage: OpenAIUsage


class OpenAICompatErrorResponse(BaseModel):
    """An error on the /v1 routes, as TEI sends it: flat, not OpenAI's nested ``error``
    object. TEI's own document names the last field ``error_type``; its serializer writes
    ``type``, and this describes the wire (protocol/reply.py: render_error)."""

    message: str
    code: int
    type: str
