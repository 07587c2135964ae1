"""Errors that reach clients, each carrying its HTTP status and TEI's ``error_type``.

    ServingError
    ├── EmptyInput          400  Empty
    ├── ValidationFailed    422  Validation
    ├── TokenizationFailed  422  Tokenizer
    ├── Unauthorized        401  Unauthorized
    ├── PayloadTooLarge     413  PayloadTooLarge
    ├── UnsupportedMedia    415  UnsupportedMediaType
    ├── NotAcceptable       406  NotAcceptable
    ├── WrongModelType      424  Backend   (route does not fit the loaded model)
    ├── InferenceFailed     424  Backend
    ├── Overloaded          429  Overloaded
    └── Unhealthy           503  Unhealthy

The stage that detects a problem raises one of these; http/error_handlers.py turns
it into a response. Anything else becomes a generic 500 whose traceback goes to the
log only.
"""

from __future__ import annotations


class ServingError(Exception):
    status_code: int = 500
    error_type: str = "Internal"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class EmptyInput(ServingError):
    status_code = 400
    error_type = "Empty"


class ValidationFailed(ServingError):
    status_code = 422
    error_type = "Validation"


class MalformedBody(ServingError):
    """The body could not be decoded at all (bad JSON, bad UTF-8, bad CSV)."""

    status_code = 400
    error_type = "Validation"


class TokenizationFailed(ServingError):
    status_code = 422
    error_type = "Tokenizer"


class Unauthorized(ServingError):
    status_code = 401
    error_type = "Unauthorized"


class PayloadTooLarge(ServingError):
    status_code = 413
    error_type = "PayloadTooLarge"


class UnsupportedMedia(ServingError):
    status_code = 415
    error_type = "UnsupportedMediaType"


class NotAcceptable(ServingError):
    status_code = 406
    error_type = "NotAcceptable"


class WrongModelType(ServingError):
    status_code = 424
    error_type = "Backend"


class InferenceFailed(ServingError):
    status_code = 424
    error_type = "Backend"


class Overloaded(ServingError):
    status_code = 429
    error_type = "Overloaded"

    def __init__(self, message: str = "Model is overloaded") -> None:
        super().__init__(message)


class Unhealthy(ServingError):
    status_code = 503
    error_type = "Unhealthy"

    def __init__(self, message: str = "unhealthy") -> None:
        super().__init__(message)


class ModelLoadError(Exception):
    """The model cannot be served; start-up stops with this message and exit code 1."""
