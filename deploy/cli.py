"""Subcommands of ``sagemaker-embeddings`` that live on the client and release side.

Exit codes, for every subcommand: 0 done, 1 failed (AWS, Docker, a registry), 2 usage (an
argument that cannot work: argparse's own errors and our ValueErrors).
"""

from __future__ import annotations

import argparse
import sys
from typing import TypeAlias

from . import build, publish
from .catalog import DEFAULT_REPOSITORY, FLAVORS, load_catalog
from .errors import DeployError
from .image_uri import get_image_uri
from .target_registry import OWN_ACCOUNT, REGISTRY_ENV

Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
RAW = argparse.RawDescriptionHelpFormatter

IMAGE_URI_EXAMPLES = f"""\
Where the image is: --registry, else --account's ECR registry, else ${REGISTRY_ENV},
else your own account (STS GetCallerIdentity), which is where `publish` puts it.

examples:
  sagemaker-embeddings image-uri --region eu-west-1 --instance-type ml.g5.xlarge
  sagemaker-embeddings image-uri --instance-type ml.c7i.xlarge --account 111122223333
  sagemaker-embeddings image-uri --region eu-west-1 --instance-type ml.g5.xlarge --pin
  sagemaker-embeddings image-uri --region us-east-1 --repository tei --version 1.8
"""

REGIONS_EPILOG = """\
own-account: this project's images can be published there and get_image_uri resolves
them; tei-dlc: the account that hosts the Hugging Face TEI DLC there (repositories tei and
tei-cpu), or '-' where it is not published.
"""


def _image_uri(args: argparse.Namespace) -> int:
    try:
        uri = get_image_uri(
            region=args.region,
            instance_type=args.instance_type,
            flavor=args.flavor,
            version=args.version,
            repository=args.repository,
            account=args.account,
            registry=args.registry,
            pin=args.pin,
        )
    except ValueError as error:
        print(f"image-uri: error: {error}", file=sys.stderr)
        return 2
    except DeployError as error:
        print(f"image-uri: error: {error}", file=sys.stderr)
        return 1
    print(uri)
    return 0


def _regions(args: argparse.Namespace) -> int:
    print(f"{'REGION':<16} {'PARTITION':<11} {'OWN-ACCOUNT REGISTRY':<50} TEI-DLC")
    for region in load_catalog().regions.values():
        own = OWN_ACCOUNT.format(account="{account}", region=region.name,
                                 dns_suffix=region.dns_suffix)  # fmt: skip
        print(f"{region.name:<16} {region.partition:<11} {own:<50} {region.tei_dlc_account or '-'}")
    return 0


def register(subparsers: Subparsers) -> None:
    """Add image-uri, regions, build and publish; each sets ``func(args) -> int``."""
    parser = subparsers.add_parser(
        "image-uri",
        help="print the image URI for a region and instance type",
        description="Print the URI of the serving image for a region and instance type.",
        epilog=IMAGE_URI_EXAMPLES,
        formatter_class=RAW,
    )
    parser.add_argument("--region", help="AWS region (default: the AWS default region)")
    parser.add_argument("--instance-type", help="e.g. ml.g5.xlarge, ml.c6i.xlarge, local")
    parser.add_argument(
        "--flavor", choices=FLAVORS, help="cpu, gpu or cpu-arm64 (default: from the instance type)"
    )
    parser.add_argument("--version", help="image version (default: the repository's default)")
    parser.add_argument(
        "--repository",
        default=DEFAULT_REPOSITORY,
        help=f"{', '.join(load_catalog().repositories)} (default: {DEFAULT_REPOSITORY})",
    )
    parser.add_argument(
        "--registry", help="registry host[/path] or template with {account}, {region}, {dns_suffix}"
    )
    parser.add_argument("--account", help="the AWS account whose ECR registry holds the image")
    parser.add_argument(
        "--pin", action="store_true", help="name the immutable release tag (asks the registry)"
    )
    parser.set_defaults(func=_image_uri)

    parser = subparsers.add_parser(
        "regions",
        help="list the regions for own-account images and for the TEI DLC",
        description="List every region with SageMaker and ECR, and where the TEI DLC is.",
        epilog=REGIONS_EPILOG,
        formatter_class=RAW,
    )
    parser.set_defaults(func=_regions)

    parser = subparsers.add_parser(
        "build",
        help="build the serving image of one flavor (container/)",
        description="Build the serving image of one flavor (cpu and gpu for linux/amd64, "
        "cpu-arm64 for linux/arm64); "
        "prints the image reference. Needs a clone of this repository and Docker.",
        epilog="examples:\n  sagemaker-embeddings build --flavor cpu\n"
        "  sagemaker-embeddings build --flavor cpu --bake-model ./my-model\n",
        formatter_class=RAW,
    )
    build.add_arguments(parser)
    parser.set_defaults(func=build.run)

    parser = subparsers.add_parser(
        "publish",
        help="build, tag and push images to your ECR, replicating to regions",
        description="Build the images, push them into a registry (your own account's ECR by "
        "default) under their version tag and an immutable release tag, and check that "
        "each is one linux/amd64 Docker v2 manifest. Needs a clone of this repository, "
        "Docker, and the deploy extra (boto3).",
        epilog=publish.EXAMPLES,
        formatter_class=RAW,
    )
    publish.add_arguments(parser)
    parser.set_defaults(func=publish.run)
