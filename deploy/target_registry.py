"""Which registry holds this project's images: one answer for get_image_uri, ``image-uri``,
``publish`` and buildspec.yml, so that what ``publish`` pushes is what ``get_image_uri`` names.

The first of these wins:

1. ``registry``: a host[/path], or a template with ``{account}``, ``{region}`` and
   ``{dns_suffix}`` (``{account}`` then comes from the next steps);
2. ``account``: that account's ECR registry in the region;
3. the environment variable ``SAGEMAKER_EMBEDDINGS_REGISTRY`` (a registry as in 1, or an
   account number);
4. the caller's own account, from STS ``GetCallerIdentity`` through the given session.
"""

from __future__ import annotations

import contextlib
import os
import re
import weakref

from . import aws
from .catalog import Region
from .errors import AwsError, RegistryUnknown

REGISTRY_ENV = "SAGEMAKER_EMBEDDINGS_REGISTRY"
OWN_ACCOUNT = "{account}.dkr.ecr.{region}.{dns_suffix}"
PLACEHOLDERS = ("account", "region", "dns_suffix")
_ACCOUNT = re.compile(r"^\d{12}$")
_HOW_TO_SAY = (
    "pass account='123456789012' or registry='HOST[/PATH]' (CLI: --account, --registry), "
    f"or set {REGISTRY_ENV}"
)

# Per session (a SageMaker Session or boto3 Session): its account never changes.
_accounts: weakref.WeakKeyDictionary[object, str] = weakref.WeakKeyDictionary()


def check_account(account: str) -> str:
    if not _ACCOUNT.match(account):
        raise ValueError(f"account {account!r} is not a 12-digit AWS account ID")
    return account


def caller_account(region: Region, session: object | None = None) -> str:
    """The account of the credentials ``session`` (else the default chain) resolves to."""
    holder = getattr(session, "boto_session", session)
    known = _cached(holder)
    if known is not None:
        return known
    try:
        sts = aws.client("sts", region.name, session, quick=True)
        with aws.aws_errors(f"STS GetCallerIdentity in {region.name}"):
            account = str(sts.get_caller_identity()["Account"])
    except AwsError as error:
        raise RegistryUnknown(f"Cannot tell your AWS account ({error}); {_HOW_TO_SAY}.") from None
    if holder is not None:
        with contextlib.suppress(TypeError):  # not weakly referable: not cached
            _accounts[holder] = account
    return account


def _cached(holder: object | None) -> str | None:
    if holder is None:  # the default chain: the environment may change between calls
        return None
    try:
        return _accounts.get(holder)
    except TypeError:
        return None


def fill(template: str, region: Region, account: str | None) -> str:
    """``template`` with its placeholders filled; ValueError for unknown ones."""
    try:
        return template.format(
            account=account if account is not None else "{account}",
            region=region.name,
            dns_suffix=region.dns_suffix,
        )
    except (KeyError, IndexError, ValueError) as error:
        raise ValueError(
            f"registry {template!r}: bad placeholder {error}; use {{account}}, {{region}} "
            "and {dns_suffix}"
        ) from None


def resolve_registry(
    region: Region,
    *,
    registry: str | None = None,
    account: str | None = None,
    session: object | None = None,
) -> str:
    """The registry (``host[/path]``) of this project's images in ``region``."""
    if account is not None:
        check_account(account)
    template = registry or (None if account else os.environ.get(REGISTRY_ENV, "").strip())
    if not template:
        template = OWN_ACCOUNT
    elif _ACCOUNT.match(template):  # the variable (or argument) names just an account
        account, template = template, OWN_ACCOUNT
    if "{account}" in template and account is None:
        account = caller_account(region, session)
    filled = fill(template, region, account)
    if not filled or filled.startswith("/") or " " in filled:
        raise ValueError(f"registry {template!r} is not a host[/path]")
    return filled.rstrip("/")
