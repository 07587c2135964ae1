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

The stage that detects a problem raises one of these; protocol/reply.py renders its
body (http/error_handlers.py and the toolkit pipeline send it), and ``metric_label``
names it in te_request_failure. Anything else becomes a generic 500 whose traceback goes to the
log only.
"""

from __future__ import annotations


class ServingError(Exception):
    status_code: int = 500
    error_type: str = "Internal"
    metric_label: str = "internal"  # TEI's `err` label of te_request_failure
    default_message: str | None = None  # classes with one typical message set it

    def __init__(self, message: str | None = None) -> None:
        message = message if message is not None else self.default_message
        if message is None:
            raise TypeError(f"{type(self).__name__} needs a message")
        super().__init__(message)
        self.message = message


class EmptyInput(ServingError):
    status_code = 400
    error_type = "Empty"
    metric_label = "validation"


class ValidationFailed(ServingError):
    status_code = 422
    error_type = "Validation"
    metric_label = "validation"


class MalformedBody(ServingError):
    """The body could not be decoded at all (bad JSON, bad UTF-8, bad CSV)."""

    status_code = 400
    error_type = "Validation"
    metric_label = "validation"


class TokenizationFailed(ServingError):
    status_code = 422
    error_type = "Tokenizer"
    metric_label = "tokenization"


class Unauthorized(ServingError):
    status_code = 401
    error_type = "Unauthorized"
    metric_label = "unauthorized"


class PayloadTooLarge(ServingError):
    status_code = 413
    error_type = "PayloadTooLarge"
    metric_label = "payloadtoolarge"


class UnsupportedMedia(ServingError):
    status_code = 415
    error_type = "UnsupportedMediaType"
    metric_label = "unsupportedmediatype"


class NotAcceptable(ServingError):
    status_code = 406
    error_type = "NotAcceptable"
    metric_label = "notacceptable"


class WrongModelType(ServingError):
    status_code = 424
    error_type = "Backend"
    metric_label = "model_type"


class InferenceFailed(ServingError):
    status_code = 424
    error_type = "Backend"
    metric_label = "inference"


class Overloaded(ServingError):
    status_code = 429
    error_type = "Overloaded"
    metric_label = "overloaded"
    default_message = "Model is overloaded"


class Unhealthy(ServingError):
    status_code = 503
    error_type = "Unhealthy"
    metric_label = "unhealthy"
    default_message = "unhealthy"


class ModelLoadError(Exception):
    """The model cannot be served; start-up stops with this message and exit code 1."""
