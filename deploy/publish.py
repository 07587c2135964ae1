"""``sagemaker-embeddings publish``: build, tag, log in to ECR, push, replicate to regions.

A run is a plan (pure data, printed by ``--dry-run``) and its execution in three steps:
``login`` (ECR token → docker login, optionally creating the repository), ``build`` (build
the flavor through deploy/build.py, or take ``--image``, and tag it for every target) and
``push`` (push every tag, report the digests). ``--only`` runs a subset, so CodeBuild can
spread the steps over its phases.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from . import build
from .catalog import DEFAULT_REPOSITORY, FLAVORS, Flavor, load_catalog
from .image_uri import resolve_region
from .registry import (
    Docker,
    PublishError,
    ecr_login,
    ensure_ecr_repository,
    is_ecr_host,
)

Step = Literal["login", "build", "push"]
STEPS: tuple[Step, ...] = get_args(Step)
DEFAULT_REGISTRY = "{account}.dkr.ecr.{region}.{dns_suffix}"


@dataclass(frozen=True)
class Target:
    """Where one region's copy goes: ``registry`` is ``host[/path]``."""

    region: str
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
    source: str | None  # a local image to publish; None: build it


@dataclass(frozen=True)
class Plan:
    steps: tuple[Step, ...]
    repository: str
    targets: tuple[Target, ...]
    images: tuple[ImagePlan, ...]
    create_repository: bool
    wheelhouse: Path | None

    def reference(self, target: Target, image: ImagePlan) -> str:
        return f"{target.registry}/{self.repository}:{image.tag}"

    def local_reference(self, image: ImagePlan) -> str:
        """The name a build gives the image on this machine."""
        return f"{self.repository}:{image.tag}"


@dataclass(frozen=True)
class Pushed:
    flavor: Flavor
    region: str
    uri: str
    digest: str

    @property
    def pinned(self) -> str:
        """The URI pinned to the pushed content: ``registry/repository@sha256:...``."""
        return f"{self.uri.rsplit(':', 1)[0]}@{self.digest}"


def _image_tag(flavor: Flavor, tag: str | None) -> str:
    if tag is not None:
        return tag
    return build.image_tag(flavor)


def _targets(args: argparse.Namespace) -> tuple[Target, ...]:
    catalog = load_catalog()
    names = [resolve_region(args.region), *(args.replicate_to or [])]
    targets: list[Target] = []
    for name in dict.fromkeys(names):
        region = catalog.region(name)
        try:
            registry = args.registry.format(
                account=region.account, region=region.name, dns_suffix=region.dns_suffix
            )
        except (KeyError, IndexError, ValueError) as error:
            raise PublishError(
                f"--registry {args.registry!r}: bad placeholder {error}; "
                "use {account}, {region} and {dns_suffix}"
            ) from None
        host = registry.split("/", 1)[0]
        login = args.login == "always" or (args.login == "auto" and is_ecr_host(host))
        targets.append(Target(name, registry, login))
    return tuple(targets)


def make_plan(args: argparse.Namespace) -> Plan:
    """Turn the command line into a plan; nothing runs yet."""
    flavors: list[Flavor] = list(dict.fromkeys(args.flavor or FLAVORS))
    if (args.image or args.tag) and len(flavors) != 1:
        raise PublishError("--image and --tag describe one image: give exactly one --flavor")
    steps = tuple(s for s in STEPS if s in (args.only or STEPS))
    images = tuple(ImagePlan(f, _image_tag(f, args.tag), args.image) for f in flavors)
    return Plan(
        steps=steps,
        repository=args.repository,
        targets=_targets(args),
        images=images,
        create_repository=args.create_repository,
        wheelhouse=args.wheelhouse,
    )


def describe(plan: Plan) -> list[str]:
    """One line per action, in order: what ``--dry-run`` prints."""
    lines: list[str] = []
    if "login" in plan.steps:
        for t in plan.targets:
            if plan.create_repository and is_ecr_host(t.host):
                lines.append(
                    f"ensure ECR repository {t.repository_path(plan.repository)} in {t.region}"
                )
            if t.login:
                lines.append(f"login  {t.host} (ECR GetAuthorizationToken in {t.region})")
    if "build" in plan.steps:
        for image in plan.images:
            source = image.source or plan.local_reference(image)
            if image.source is None:
                lines.append(f"build  {image.flavor} flavor from container/ as {source}")
            lines += [f"tag    {source} -> {plan.reference(t, image)}" for t in plan.targets]
    if "push" in plan.steps:
        for image in plan.images:
            lines += [f"push   {plan.reference(t, image)}" for t in plan.targets]
    return lines


def execute(
    plan: Plan, docker: Docker, pushed: list[Pushed], say: Callable[[str], None] = print
) -> None:
    """Run the plan's steps, appending to ``pushed`` as each push lands (so a failure
    part-way still tells what reached a registry)."""
    if "login" in plan.steps:
        for t in plan.targets:
            if plan.create_repository and is_ecr_host(t.host):
                path = t.repository_path(plan.repository)
                created = ensure_ecr_repository(t.region, path)
                say(f"{'created' if created else 'found'} ECR repository {path} in {t.region}")
            if t.login:
                ecr_login(t.region, t.host, docker)
                say(f"logged in to {t.host}")
    if "build" in plan.steps:  # every image is built before anything is pushed
        for image in plan.images:
            local = image.source or _build(plan, image, say)
            for t in plan.targets:
                docker.tag(local, plan.reference(t, image))
                say(f"tagged {local} as {plan.reference(t, image)}")
    if "push" in plan.steps:
        for image in plan.images:
            for t in plan.targets:
                pushed.append(_push(plan.reference(t, image), image, t, docker, say))


def _build(plan: Plan, image: ImagePlan, say: Callable[[str], None]) -> str:
    say(f"building the {image.flavor} flavor as {plan.local_reference(image)}")
    try:
        reference: str = build.build_image(
            image.flavor, tag=plan.local_reference(image), wheelhouse=plan.wheelhouse
        )
    except build.BuildError as error:
        raise PublishError(str(error)) from error
    return reference


def _push(
    ref: str, image: ImagePlan, target: Target, docker: Docker, say: Callable[[str], None]
) -> Pushed:
    if not docker.exists(ref):
        raise PublishError(f"no local image {ref}: run the build step first")
    result = Pushed(image.flavor, target.region, ref, docker.push(ref))
    say(f"pushed {result.pinned}")
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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--flavor",
        action="extend",
        type=_flavors,
        metavar="{cpu,gpu}[,...]",
        help="flavors to publish (repeatable, comma-separated; default: cpu,gpu)",
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
        default=DEFAULT_REGISTRY,
        help="registry host[/path] template with {account}, {region} and "
        "{dns_suffix} (default: the region's ECR registry from "
        "regions.json)",
    )
    parser.add_argument("--repository", default=DEFAULT_REPOSITORY, help="repository name")
    parser.add_argument("--tag", help="tag to publish (default: the build's truthful tag)")
    parser.add_argument("--image", help="publish this local image instead of building one")
    parser.add_argument("--wheelhouse", type=Path, help="wheels for the build (offline builds)")
    parser.add_argument(
        "--login",
        choices=("auto", "always", "never"),
        default="auto",
        help="docker login with an ECR token: auto = for ECR registries",
    )
    parser.add_argument(
        "--create-repository",
        action="store_true",
        help="create the ECR repository where it is missing",
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
        {"flavor": p.flavor, "region": p.region, "uri": p.uri, "digest": p.digest,
         "pinned": p.pinned}
        for p in pushed
    ]  # fmt: skip
    path.write_text(json.dumps({"complete": complete, "pushed": entries}, indent=2) + "\n")


def run(args: argparse.Namespace) -> int:
    pushed: list[Pushed] = []
    try:
        plan = make_plan(args)
        if args.dry_run:
            print("\n".join(describe(plan)))
            return 0
        execute(plan, Docker(), pushed)
    except (PublishError, ValueError) as error:
        print(f"publish: error: {error}", file=sys.stderr)
        status = 1
    else:
        status = 0
    if args.report is not None:
        _write_report(args.report, pushed, complete=status == 0)
    return status
