"""Subcommands of ``sagemaker-embeddings`` that live on the client and release side."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add image-uri, regions, build and publish; each sets ``func(args) -> int``."""
