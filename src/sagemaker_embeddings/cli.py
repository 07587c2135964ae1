"""Console scripts.

``serve`` is what SageMaker runs (``docker run IMAGE serve``); ``sagemaker-embeddings``
groups the server and ``export`` (a model folder's ONNX file) with the client-side
tools (image-uri, regions, build, publish).
The server is imported only when it is asked for, so the light base install can run
the deploy subcommands without torch.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path

EXAMPLES = """\
examples:
  sagemaker-embeddings serve --model-id BAAI/bge-small-en-v1.5
  sagemaker-embeddings publish --region eu-west-1 --create-repository
  sagemaker-embeddings image-uri --region eu-west-1 --instance-type ml.g5.xlarge
  sagemaker-embeddings <command> --help
"""


def _add_serve_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("serve", help="start the inference server", add_help=False)
    parser.set_defaults(func=None)


def _add_export_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "export",
        help="write MODEL_DIR/onnx/model.onnx for BACKEND=onnx / openvino, checked against torch",
    )
    parser.add_argument("model_dir", type=Path, metavar="MODEL_DIR")
    parser.add_argument(
        "--out", type=Path, help="write a copy of the model folder with its ONNX file here"
    )
    parser.add_argument(
        "--int8",
        action="store_true",
        help="also write onnx/model_int8.onnx for DTYPE=int8, only if it keeps 0.99 of float32's "
        "top-10 neighbours on a labelled retrieval set (the figures go to "
        "onnx/model_int8.quality.json either way)",
    )
    parser.set_defaults(func=_export)


def _export(args: argparse.Namespace) -> int:
    # torch and transformers are imported only now: the other subcommands stay light.
    from sagemaker_embeddings.errors import ModelLoadError
    from sagemaker_embeddings.models.onnx_export import export_onnx

    try:
        path = export_onnx(args.model_dir, args.out)
        print(path)
        if args.int8:
            from sagemaker_embeddings.models.int8_export import export_int8_folder

            print(export_int8_folder(path.parent.parent))
    except ModelLoadError as error:
        print(f"export: error: {error}", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``sagemaker-embeddings``."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["serve"]:
        return serve_main(args_list[1:])

    parser = argparse.ArgumentParser(
        prog="sagemaker-embeddings",
        description="The embedding server (serve, export) and the tools that build, publish "
        "and locate its images (image-uri, regions, build, publish).",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    _add_serve_parser(subparsers)
    _add_export_parser(subparsers)
    # The image leaves the client-side tools out; serve and export work without them.
    if importlib.util.find_spec("sagemaker_embeddings.deploy") is not None:
        from sagemaker_embeddings.deploy.cli import register

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
