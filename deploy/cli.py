"""Subcommands of ``sagemaker-embeddings`` that live on the client and release side."""

from __future__ import annotations

import argparse
import sys
from typing import TypeAlias

from . import build, publish
from .catalog import DEFAULT_REPOSITORY, FLAVORS, load_catalog
from .image_uri import get_image_uri

Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def _image_uri(args: argparse.Namespace) -> int:
    try:
        uri = get_image_uri(
            region=args.region,
            instance_type=args.instance_type,
            flavor=args.flavor,
            version=args.version,
            repository=args.repository,
        )
    except ValueError as error:
        print(f"image-uri: error: {error}", file=sys.stderr)
        return 2
    print(uri)
    return 0


def _regions(args: argparse.Namespace) -> int:
    for region in load_catalog().regions.values():
        print(f"{region.name:<16} {region.account}  {region.registry}")
    return 0


def _add_build(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "build", help="build the serving image of one flavor (container/)"
    )
    build.add_arguments(parser)
    parser.set_defaults(func=build.run)


def register(subparsers: Subparsers) -> None:
    """Add image-uri, regions, build and publish; each sets ``func(args) -> int``."""
    parser = subparsers.add_parser(
        "image-uri", help="print the image URI for a region and instance type"
    )
    parser.add_argument("--region", help="AWS region (default: the AWS default region)")
    parser.add_argument("--instance-type", help="e.g. ml.g5.xlarge, ml.c6i.xlarge, local")
    parser.add_argument(
        "--flavor", choices=FLAVORS, help="cpu or gpu (default: from the instance type)"
    )
    parser.add_argument("--version", help="image version (default: the repository's default)")
    parser.add_argument(
        "--repository",
        default=DEFAULT_REPOSITORY,
        help=f"{', '.join(load_catalog().repositories)} (default: {DEFAULT_REPOSITORY})",
    )
    parser.set_defaults(func=_image_uri)

    parser = subparsers.add_parser("regions", help="list regions and their registries")
    parser.set_defaults(func=_regions)

    _add_build(subparsers)

    parser = subparsers.add_parser(
        "publish", help="build, tag and push images to ECR, replicating to regions"
    )
    publish.add_arguments(parser)
    parser.set_defaults(func=publish.run)
