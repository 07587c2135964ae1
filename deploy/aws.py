"""boto3, imported only where a call needs it, and AWS errors turned into one-line AwsErrors.

The base install has no boto3 (it is the ``deploy`` extra); everything here says so in one
line rather than with an ImportError.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from .errors import AwsError

# Asking STS who the caller is must fail fast when it cannot work (no credentials, no
# network): one attempt, short timeouts. ECR calls keep botocore's own retries.
QUICK_CALL = {"connect_timeout": 1, "read_timeout": 1.5, "retries": {"total_max_attempts": 1}}
INSTALL_HINT = "pip install 'sagemaker-embeddings[deploy]'"


def boto3_session(session: object | None = None) -> Any:
    """The boto3 Session behind ``session`` (a SageMaker Session or a boto3 Session), else a
    new default one."""
    try:
        import boto3
    except ImportError:
        raise AwsError(f"AWS calls need boto3: {INSTALL_HINT}") from None
    holder = getattr(session, "boto_session", session)
    if holder is not None and hasattr(holder, "client"):
        return holder
    return boto3.session.Session()


def client(service: str, region: str, session: object | None = None, quick: bool = False) -> Any:
    """A boto3 client of ``service`` in ``region`` from ``session``'s credentials."""
    boto = boto3_session(session)  # first: it says so when boto3 is missing
    config = None
    if quick:
        from botocore.config import Config

        config = Config(**QUICK_CALL)
    with aws_errors(f"{service} client in {region}"):
        return boto.client(service, region_name=region, config=config)


def one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


@contextlib.contextmanager
def aws_errors(action: str) -> Iterator[None]:
    """Turn any botocore error raised inside into ``AwsError("<action>: <AWS's reason>")``."""
    try:
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:  # nothing inside can raise them then
        yield
        return
    try:
        yield
    except (BotoCoreError, ClientError) as error:
        raise AwsError(f"{action}: {one_line(error)}") from error
