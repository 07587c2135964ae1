"""The serving contract without a transport: TEI, OpenAI, Cohere and SageMaker requests in,
plain replies out (body bytes, content type, the engine's counts and timings).

``http/`` (FastAPI) and ``toolkit/`` (MMS) are adapters over this package; nothing here
imports fastapi or starlette (tests/unit/protocol/test_layering.py checks it).
"""
