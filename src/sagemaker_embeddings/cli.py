"""Console scripts.

``serve`` is what SageMaker runs (``docker run IMAGE serve``); ``sagemaker-embeddings``
groups the server with the client-side tools (image-uri, regions, build, publish).
The server is imported only when it is asked for, so the light base install can run
the deploy subcommands without torch.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _add_serve_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("serve", help="start the inference server", add_help=False)
    parser.set_defaults(func=None)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``sagemaker-embeddings``."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["serve"]:
        return serve_main(args_list[1:])

    from sagemaker_embeddings.deploy.cli import register

    parser = argparse.ArgumentParser(prog="sagemaker-embeddings", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", required=True)
    _add_serve_parser(subparsers)
    register(subparsers)
    args = parser.parse_args(args_list)
    result: int = args.func(args)
    return result


def serve_main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``serve``: flags and env vars -> Settings -> server."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    # SageMaker starts the container as `docker run IMAGE serve`, so an entrypoint that
    # forwards its arguments hands us a leading "serve": accept and drop it.
    if args_list[:1] == ["serve"]:
        args_list = args_list[1:]
    from sagemaker_embeddings.server import run

    return run(args_list)
