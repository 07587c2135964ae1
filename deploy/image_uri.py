"""get_image_uri: the URI of our image (or of the TEI DLC) for a region and instance type.

It mirrors the SageMaker Python SDK's ``get_huggingface_llm_image_uri`` /
``image_uris.retrieve``: the region comes from the argument, else the session, else the AWS
default region; the flavor from the argument, else from the instance type. Our images live
in the registry that :mod:`.target_registry` resolves (by default the caller's own account,
where ``publish`` put them); the TEI DLC's in AWS's per-region accounts.
"""

from __future__ import annotations

import os
from typing import Protocol, cast

from . import build
from .catalog import (
    DEFAULT_REPOSITORY,
    FLAVORS,
    Flavor,
    Repository,
    load_catalog,
)
from .errors import DeployError
from .instance_families import check_runs_on, flavor_for_instance_type
from .remote import open_registry
from .target_registry import resolve_registry


class _HasRegion(Protocol):
    @property
    def region_name(self) -> str | None: ...


class _HasBotoSession(Protocol):
    @property
    def boto_session(self) -> _HasRegion: ...


SessionLike = _HasRegion | _HasBotoSession


def _region_from_session(session: SessionLike) -> str | None:
    holder = getattr(session, "boto_session", session)  # SageMaker Session or boto3 Session
    return cast(_HasRegion, holder).region_name


def _default_region() -> str | None:
    try:
        import boto3
    except ImportError:  # the light base install: read what botocore would read
        return os.environ.get("AWS_DEFAULT_REGION") or None
    region: str | None = boto3.session.Session().region_name
    return region


def resolve_region(region: str | None = None, session: SessionLike | None = None) -> str:
    """The region argument, else the session's region, else the AWS default region."""
    resolved = region or (_region_from_session(session) if session is not None else None)
    resolved = resolved or _default_region()
    if not resolved:
        raise ValueError(
            "No region given: pass a region, use a session with one, or set "
            "AWS_DEFAULT_REGION (or a region in the AWS config file)."
        )
    return resolved


def _others_with(flavor: Flavor, version: str, exclude: str) -> list[str]:
    return [
        name
        for name, repo in load_catalog().repositories.items()
        if name != exclude and flavor in repo.versions.get(version, {})
    ]


def _missing_flavor(repo: Repository, version: str, flavor: Flavor, why: str) -> ValueError:
    available = ", ".join(repo.flavors(version))
    message = (
        f"Repository {repo.name!r} version {version} has no {flavor} flavor{why}. "
        f"Valid flavors: {available}."
    )
    others = _others_with(flavor, version, repo.name)
    if others:
        message += f" For {flavor}, use repository {' or '.join(map(repr, others))}."
    return ValueError(message)


def choose_flavor(
    repo: Repository, version: str, flavor: str | None, instance_type: str | None
) -> Flavor:
    """The flavor to use for ``version`` of ``repo`` (a full version)."""
    available = repo.flavors(version)
    wanted = flavor_for_instance_type(instance_type) if instance_type else None
    if flavor is not None:
        if flavor not in FLAVORS:
            raise ValueError(f"Unknown flavor {flavor!r}. Valid flavors: {', '.join(FLAVORS)}.")
        chosen: Flavor = flavor
        if chosen not in available:
            raise _missing_flavor(repo, version, chosen, "")
        if instance_type:
            check_runs_on(instance_type, chosen)
        return chosen
    if wanted is not None:
        if wanted not in available:
            raise _missing_flavor(repo, version, wanted, f" (needed by {instance_type!r})")
        return wanted
    return available[0] if len(available) == 1 else "cpu"


def get_image_uri(
    region: str | None = None,
    instance_type: str | None = None,
    flavor: str | None = None,
    version: str | None = None,
    repository: str | None = None,
    session: SessionLike | None = None,
    *,
    account: str | None = None,
    registry: str | None = None,
    pin: bool = False,
) -> str:
    """The image URI ``{registry}/{repository}:{tag}``.

    ``repository`` is ``sagemaker-embeddings`` (this project, the default), or ``tei`` /
    ``tei-cpu`` for the Hugging Face TEI DLC (the same answers as the SageMaker SDK's
    ``get_huggingface_llm_image_uri("huggingface-tei" / "huggingface-tei-cpu", ...)``).
    ``version`` None means the repository's default; aliases such as ``1.8`` work.

    Our images are where ``publish`` put them: ``registry`` (a host[/path] or a template
    with ``{account}``, ``{region}``, ``{dns_suffix}``), else ``account``'s ECR registry,
    else ``$SAGEMAKER_EMBEDDINGS_REGISTRY``, else the caller's own account (STS, through
    ``session``). ``pin=True`` asks the registry for the immutable release tag
    (``<tag>-<git sha12>``) that ``publish`` gave the same image.
    """
    catalog = load_catalog()
    repo = catalog.repository(repository or DEFAULT_REPOSITORY)
    full_version = repo.resolve_version(version)
    chosen = choose_flavor(repo, full_version, flavor, instance_type)
    tag = repo.versions[full_version][chosen]
    region_name = resolve_region(region, session)
    if repo.registry == "tei-dlc":
        if account is not None or registry is not None or pin:
            raise ValueError(
                f"account=, registry= and pin= are for this project's images; {repo.name!r} "
                "is the TEI DLC, which lives in AWS's accounts"
            )
        target = catalog.tei_dlc_region(region_name)
        return f"{target.ecr_host(str(target.tei_dlc_account))}/{repo.name}:{tag}"
    place = resolve_registry(
        catalog.region(region_name), registry=registry, account=account, session=session
    )
    if pin:
        tag = release_tag_of(place, repo.name, tag, session)
    return f"{place}/{repo.name}:{tag}"


def release_tag_of(place: str, repository: str, tag: str, session: object | None) -> str:
    """The release tag that holds the same image as ``tag`` in ``place`` (host[/path])."""
    host, _, path = place.partition("/")
    name = f"{path}/{repository}" if path else repository
    reader = open_registry(host, session)
    image = reader.lookup(name, tag)
    if image is None:
        raise DeployError(f"{place}/{repository}:{tag} does not exist: publish it first")
    releases = [t for t in reader.tags_of(name, image) if build.is_release_tag(t, tag)]
    if not releases:
        raise DeployError(
            f"{place}/{repository}:{tag} has no release tag ({tag}-<git sha12>): publish it "
            "again with this version of sagemaker-embeddings"
        )
    return min(releases, key=lambda t: (t.endswith("-dirty"), t))  # a clean tree's first
