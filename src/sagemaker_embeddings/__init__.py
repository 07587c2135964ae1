"""SageMaker-native, TEI-compatible serving of embedding, reranker and classifier models.

Importing this package is cheap: nothing here pulls in torch or the server, so the
light base install (the deploy helper) can import it too.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("sagemaker-embeddings")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0"

__all__ = ["__version__"]
