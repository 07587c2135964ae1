"""SageMaker's routes: /invocations bound to the detected task, /execution-parameters.

The contract itself (content types, custom attributes, multi-record bodies, the task's
handler) is protocol/invocations.py; this module only reads the HTTP request.
"""

from __future__ import annotations

import os
from typing import Any

from fastapi import APIRouter, Request, Response

from sagemaker_embeddings.http.responses import to_response
from sagemaker_embeddings.http.routes.tei import EngineDep
from sagemaker_embeddings.protocol.invocations import invoke
from sagemaker_embeddings.protocol.reply import CUSTOM_ATTRIBUTES

router = APIRouter(tags=["SageMaker"])


@router.post("/invocations")
@router.post("/", include_in_schema=False)
async def invocations(request: Request, engine: EngineDep) -> Response:
    """The task's payload: {"inputs": ...} for embedders and classifiers,
    {"query": ..., "texts": [...]} for rerankers; JSON, JSON Lines or CSV."""
    reply = await invoke(
        engine,
        await request.body(),
        content_type=request.headers.get("content-type"),
        accept=request.headers.get("accept"),
        custom_attributes=request.headers.get(CUSTOM_ATTRIBUTES),
    )
    return to_response(reply, request)


@router.get("/execution-parameters")
async def execution_parameters(engine: EngineDep) -> dict[str, Any]:
    """What SageMaker batch transform should use with this container."""
    limit_mb = max(1, engine.settings.effective_payload_limit // (1024 * 1024))
    return {
        # One worker owns the model; a few concurrent transforms keep it fed while
        # others are being read, parsed and tokenized.
        "MaxConcurrentTransforms": max(2, min(os.cpu_count() or 2, 8)),
        "BatchStrategy": "MULTI_RECORD",
        "MaxPayloadInMB": limit_mb,
    }
