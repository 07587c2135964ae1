"""Toolkit mode: the SageMaker Inference Toolkit contract on multi-model-server (MMS).

``serve`` picks it (mode.py) for multi-model endpoints and for a model archive that
ships ``code/inference.py``. launcher.py starts MMS; handler_service.py is what MMS
workers load: it reuses load_engine/Engine and the /invocations code of the native
server, so both modes answer the same bytes.
"""
