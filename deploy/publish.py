"""``sagemaker-embeddings publish``: build, tag, log in to ECR, push, check, replicate to regions.

A run is a plan (pure data, printed by ``--dry-run``) and its execution in three steps:
``login`` (ECR token → docker login, optionally creating the repository), ``build`` (build
the flavor through deploy/build.py, or take ``--image``, and tag it for every target) and
``push`` (push every tag, read each back, report the digests). ``--only`` runs a subset, so
CodeBuild can spread the steps over its phases.

Targets come from the same resolution as ``get_image_uri`` (deploy/target_registry.py), so
what is pushed is what ``get_image_uri`` answers. Each image goes out under two tags: its
version tag (``0.1.0-cpu-...``, what ``get_image_uri`` names) and a release tag
``<version tag>-<git sha12>`` that is never moved. A tag that already holds the same image
is skipped; one holding another image is refused, unless ``--force`` moves a version tag.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from . import aws, build
from .catalog import DEFAULT_FLAVORS, DEFAULT_REPOSITORY, FLAVORS, Flavor, load_catalog
from .errors import AwsError, DeployError, PublishError
from .image_uri import resolve_region
from .pushed_check import check_pushed
from .registry import Docker, LocalImage, ecr_login, ensure_ecr_repository, is_ecr_host
from .remote import Registry, RemoteImage, open_registry
from .target_registry import check_account, resolve_registry

Step = Literal["login", "build", "push"]
STEPS: tuple[Step, ...] = get_args(Step)
Say = Callable[[str], None]


@dataclass(frozen=True)
class Target:
    """Where one region's copy goes: ``registry`` is ``host[/path]``."""

    region: str
    partition: str
    registry: str
    login: bool

    @property
    def host(self) -> str:
        return self.registry.split("/", 1)[0]

    def repository_path(self, repository: str) -> str:
        """The repository name inside the registry (what ECR calls the repository)."""
        return "/".join([*self.registry.split("/")[1:], repository])


@dataclass(frozen=True)
class ImagePlan:
    flavor: Flavor
    tag: str
    release_tag: str | None  # <tag>-<git sha12>; None when the revision is unknown
    source: str | None  # a local image to publish; None: build it

    @property
    def platform(self) -> str:
        return build.flavor_of(self.flavor).platform

    @property
    def tags(self) -> tuple[str, ...]:
        return (self.tag,) if self.release_tag is None else (self.tag, self.release_tag)


@dataclass(frozen=True)
class Plan:
    steps: tuple[Step, ...]
    repository: str
    targets: tuple[Target, ...]
    images: tuple[ImagePlan, ...]
    create_repository: bool
    wheelhouse: Path | None
    force: bool = False
    base_mirror: str | None = None

    def reference(self, target: Target, image: ImagePlan, tag: str | None = None) -> str:
        return f"{target.registry}/{self.repository}:{tag or image.tag}"

    def local_reference(self, image: ImagePlan) -> str:
        """The name a build gives the image on this machine."""
        return f"{self.repository}:{image.tag}"


@dataclass(frozen=True)
class Pushed:
    flavor: Flavor
    region: str
    uri: str
    release_uri: str | None
    digest: str
    skipped: bool = False  # the registry already held this image under these tags

    @property
    def pinned(self) -> str:
        """The URI pinned to the pushed content: ``registry/repository@sha256:...``."""
        return f"{self.uri.rsplit(':', 1)[0]}@{self.digest}"


def _session() -> object | None:
    """One boto3 session for the run (so STS is asked once), when boto3 is installed."""
    try:
        session: object = aws.boto3_session()
        return session
    except AwsError:
        return None


def _targets(args: argparse.Namespace, session: object | None) -> tuple[Target, ...]:
    catalog = load_catalog()
    names = [resolve_region(args.region), *(args.replicate_to or [])]
    # Every argument is checked before STS is asked anything.
    regions = [catalog.region(name) for name in dict.fromkeys(names)]
    if args.account:
        check_account(args.account)
    targets: list[Target] = []
    for region in regions:
        registry = resolve_registry(
            region, registry=args.registry or None, account=args.account or None, session=session
        )
        host = registry.split("/", 1)[0]
        login = args.login == "always" or (args.login == "auto" and is_ecr_host(host))
        targets.append(Target(region.name, region.partition, registry, login))
    _refuse_partitions(targets)  # STS was asked once: the session caches the account
    return tuple(targets)


def _refuse_partitions(targets: list[Target]) -> None:
    partitions = sorted({t.partition for t in targets if is_ecr_host(t.host)})
    if len(partitions) > 1:
        raise ValueError(
            f"the target regions span the partitions {', '.join(partitions)}: an AWS account "
            "belongs to one partition, so publish to each partition in its own run"
        )


def _release_tag(tag: str, source: str | None, source_dir: Path) -> str | None:
    """The release tag: from the image's revision label for ``--image``, else the tree's."""
    revision = build.source_revision(source_dir)
    if source is not None:
        # Not there yet (a dry run before the build): the tree's revision is the best guess.
        with contextlib.suppress(PublishError):
            revision = Docker().inspect(source).revision or revision
    return build.release_tag(tag, revision)


def make_plan(args: argparse.Namespace, session: object | None = None) -> Plan:
    """Turn the command line into a plan; nothing runs yet (STS may be asked who we are)."""
    flavors: list[Flavor] = list(dict.fromkeys(args.flavor or DEFAULT_FLAVORS))
    if (args.image or args.tag) and len(flavors) != 1:
        raise ValueError("--image and --tag describe one image: give exactly one --flavor")
    steps = tuple(s for s in STEPS if s in (args.only or STEPS))
    source_dir = build.find_source_dir()
    images = []
    for flavor in flavors:
        tag = args.tag or build.image_tag(flavor, source_dir)
        images.append(ImagePlan(flavor, tag, _release_tag(tag, args.image, source_dir), args.image))
    return Plan(
        steps=steps,
        repository=args.repository,
        targets=_targets(args, session),
        images=tuple(images),
        create_repository=args.create_repository,
        wheelhouse=args.wheelhouse,
        force=args.force,
        base_mirror=args.base_mirror or None,
    )


def describe(plan: Plan) -> list[str]:
    """One line per action, in order: what ``--dry-run`` prints."""
    lines: list[str] = []
    if "login" in plan.steps:
        for t in plan.targets:
            if plan.create_repository and is_ecr_host(t.host):
                lines.append(
                    f"ensure ECR repository {t.repository_path(plan.repository)} in {t.host}"
                )
            if t.login:
                lines.append(f"login  {t.host} (ECR GetAuthorizationToken in {t.region})")
    if "build" in plan.steps:
        for image in plan.images:
            source = image.source or plan.local_reference(image)
            if image.source is None:
                lines.append(
                    f"build  {image.flavor} flavor from container/ as {source} ({image.platform})"
                )
            for t in plan.targets:
                lines += [
                    f"tag    {source} -> {plan.reference(t, image, tag)}" for tag in image.tags
                ]
    if "push" in plan.steps:
        for image in plan.images:
            for t in plan.targets:
                lines += [f"push   {plan.reference(t, image, tag)}" for tag in image.tags]
                lines.append(f"check  {plan.reference(t, image)} ({image.platform}, Docker v2)")
    return lines


def execute(
    plan: Plan,
    docker: Docker,
    pushed: list[Pushed],
    say: Say = print,
    session: object | None = None,
) -> None:
    """Run the plan's steps, appending to ``pushed`` as each push lands (so a failure
    part-way still tells what reached a registry)."""
    if "login" in plan.steps:
        for t in plan.targets:
            if plan.create_repository and is_ecr_host(t.host):
                path = t.repository_path(plan.repository)
                created = ensure_ecr_repository(t.host, path, session)
                say(f"{'created' if created else 'found'} ECR repository {path} in {t.host}")
            if t.login:
                ecr_login(t.host, docker, session, t.region)
                say(f"logged in to {t.host}")
    if "build" in plan.steps:  # every image is built before anything is pushed
        for image in plan.images:
            local = image.source or _build(plan, image, say)
            for t in plan.targets:
                for tag in image.tags:
                    docker.tag(local, plan.reference(t, image, tag))
                    say(f"tagged {local} as {plan.reference(t, image, tag)}")
    if "push" in plan.steps:
        _push_all(plan, docker, pushed, say, session)


def _build(plan: Plan, image: ImagePlan, say: Say) -> str:
    say(f"building the {image.flavor} flavor as {plan.local_reference(image)}")
    try:
        reference: str = build.build_image(
            image.flavor,
            tag=plan.local_reference(image),
            wheelhouse=plan.wheelhouse,
            base_mirror=plan.base_mirror,
        )
    except build.BuildError as error:
        raise PublishError(str(error)) from error
    return reference


@dataclass(frozen=True)
class _Upload:
    """One image to one target: what is local, and what each of its tags holds there now."""

    image: ImagePlan
    target: Target
    local: LocalImage
    registry: Registry
    to_push: tuple[str, ...]  # the tags that do not hold this image yet


def _push_all(
    plan: Plan, docker: Docker, pushed: list[Pushed], say: Say, session: object | None
) -> None:
    # Every tag of every target is checked before the first push: a refusal leaves the
    # registries as they were.
    uploads = [
        _prepare(plan, image, target, docker, session)
        for image in plan.images
        for target in plan.targets
    ]
    for upload in uploads:
        pushed.append(_upload(plan, upload, docker, say))


def _prepare(
    plan: Plan, image: ImagePlan, target: Target, docker: Docker, session: object | None
) -> _Upload:
    local = docker.inspect(plan.reference(target, image))
    if local.platform != image.platform:
        raise PublishError(
            f"{plan.reference(target, image)} is {local.platform}; the {image.flavor} flavor "
            f"is for {image.platform}: rebuild it with `sagemaker-embeddings build`"
        )
    registry = open_registry(target.host, session)
    name = target.repository_path(plan.repository)
    to_push = []
    for tag in image.tags:
        held = registry.lookup(name, tag)
        if held is None or held.config_digest != local.id:
            _refuse_overwrite(plan, plan.reference(target, image, tag), held, tag == image.tag)
            to_push.append(tag)
    return _Upload(image, target, local, registry, tuple(to_push))


def _refuse_overwrite(plan: Plan, uri: str, held: RemoteImage | None, movable: bool) -> None:
    if held is None or (movable and plan.force):
        return
    how = "pass --force to move it" if movable else "release tags never move: commit, then publish"
    raise PublishError(
        f"{uri} already holds another image (config {held.config_digest}, manifest "
        f"{held.digest}): {how}"
    )


def _upload(plan: Plan, upload: _Upload, docker: Docker, say: Say) -> Pushed:
    image, target = upload.image, upload.target
    uri = plan.reference(target, image)
    digest = ""
    for tag in upload.to_push:
        reference = plan.reference(target, image, tag)
        digest = docker.push(reference, say)
        say(f"pushed {reference} ({digest})")
    name = target.repository_path(plan.repository)
    held = upload.registry.lookup(name, image.tag)
    if held is None:
        raise PublishError(f"{uri} is not in the registry after the push")
    check_pushed(uri, held, upload.local, upload.registry.platform(name, held), image.platform)
    if not upload.to_push:
        say(f"{uri} already holds this image: skipped")
    release = image.release_tag and plan.reference(target, image, image.release_tag)
    result = Pushed(image.flavor, target.region, uri, release, digest or held.digest,
                    skipped=not upload.to_push)  # fmt: skip
    say(f"checked {result.pinned}: one {image.platform} Docker v2 manifest")
    return result


def _names(value: str) -> list[str]:
    """A comma-separated list; empty items (e.g. an unset CodeBuild variable) drop out."""
    return [item.strip() for item in value.split(",") if item.strip()]


def _flavors(value: str) -> list[Flavor]:
    names = _names(value)
    unknown = [n for n in names if n not in FLAVORS]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown flavor {', '.join(unknown)} (choose from {', '.join(FLAVORS)})"
        )
    return [f for f in FLAVORS if f in names]


EXAMPLES = """\
examples:
  # both flavors into your own account's ECR (account from STS), then two more regions
  sagemaker-embeddings publish --region eu-west-1 --replicate-to us-east-1,ap-southeast-5 \\
      --create-repository
  # what would happen, without doing it
  sagemaker-embeddings publish --region eu-west-1 --dry-run
  # another account, under a path
  sagemaker-embeddings publish --flavor cpu \\
      --registry '111122223333.dkr.ecr.{region}.{dns_suffix}/ml'
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--flavor",
        action="extend",
        type=_flavors,
        metavar="{cpu,gpu,cpu-arm64}[,...]",
        help="flavors to publish (repeatable, comma-separated; default: cpu,gpu; cpu-arm64 "
        "for Graviton builds under QEMU emulation on x86 machines)",
    )
    parser.add_argument("--region", help="primary region (default: the AWS default region)")
    parser.add_argument(
        "--replicate-to",
        action="extend",
        type=_names,
        metavar="REGION[,REGION...]",
        help="also push to these regions (repeatable, comma-separated)",
    )
    parser.add_argument(
        "--registry",
        help="registry host[/path], or a template with {account}, {region} and {dns_suffix} "
        "(default: $SAGEMAKER_EMBEDDINGS_REGISTRY, else your own account's ECR registry)",
    )
    parser.add_argument(
        "--account", help="push to this account's ECR registry (default: your own, from STS)"
    )
    parser.add_argument("--repository", default=DEFAULT_REPOSITORY, help="repository name")
    parser.add_argument("--tag", help="tag to publish (default: the build's truthful tag)")
    parser.add_argument("--image", help="publish this local image instead of building one")
    parser.add_argument("--wheelhouse", type=Path, help="wheels for the build (offline builds)")
    build.add_base_mirror(parser)
    parser.add_argument(
        "--login",
        choices=("auto", "always", "never"),
        default="auto",
        help="docker login with an ECR token: auto = for ECR registries",
    )
    parser.add_argument(
        "--create-repository",
        action="store_true",
        help="create the ECR repository where it is missing (with scan-on-push)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="move a version tag that holds another image (release tags never move)",
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=STEPS,
        help="run only this step (repeatable; default: all steps)",
    )
    parser.add_argument("--report", type=Path, help="write the pushed URIs and digests as JSON")
    parser.add_argument("--dry-run", action="store_true", help="print the plan and stop")


def _write_report(path: Path, pushed: list[Pushed], complete: bool) -> None:
    entries = [
        {"flavor": p.flavor, "region": p.region, "uri": p.uri, "release_uri": p.release_uri,
         "digest": p.digest, "pinned": p.pinned, "skipped": p.skipped}
        for p in pushed
    ]  # fmt: skip
    path.write_text(json.dumps({"complete": complete, "pushed": entries}, indent=2) + "\n")


def run(args: argparse.Namespace) -> int:
    """Exit 0 when done, 1 when a step failed, 2 for arguments that cannot work."""
    pushed: list[Pushed] = []
    session = _session()
    try:
        plan = make_plan(args, session)
        if args.dry_run:
            print("\n".join(describe(plan)))
            return 0
        execute(plan, Docker(), pushed, session=session)
    except ValueError as error:
        print(f"publish: error: {error}", file=sys.stderr)
        status = 2
    except (DeployError, build.BuildError) as error:  # BuildError: e.g. not run from a clone
        print(f"publish: error: {error}", file=sys.stderr)
        status = 1
    else:
        status = 0
    if args.report is not None:
        _write_report(args.report, pushed, complete=status == 0)
    return status
