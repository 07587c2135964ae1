"""Structural: protocol/ and toolkit/ stay transport-free (no fastapi, starlette or http/)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import sagemaker_embeddings

PACKAGE = Path(sagemaker_embeddings.__file__).parent
FORBIDDEN = ("fastapi", "starlette", "sagemaker_embeddings.http")


def _imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _forbidden(name: str) -> bool:
    return any(name == f or name.startswith(f + ".") for f in FORBIDDEN)


def test_sources_import_no_transport() -> None:
    offenders = {
        f"{path.relative_to(PACKAGE)}: {name}"
        for folder in ("protocol", "toolkit")
        for path in (PACKAGE / folder).rglob("*.py")
        for name in _imported_modules(path)
        if _forbidden(name)
    }
    assert not offenders


def test_importing_them_loads_no_transport() -> None:
    # Catches what the source scan cannot: a transport pulled in through a shared module.
    modules = [
        f"sagemaker_embeddings.{folder}.{path.stem}"
        for folder in ("protocol", "toolkit")
        for path in sorted((PACKAGE / folder).glob("*.py"))
        if path.stem != "__init__"
    ]
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in ('fastapi', 'starlette')"
        " or m.startswith('sagemaker_embeddings.http')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "[]"


def test_scan_sees_a_forbidden_import(tmp_path: Path) -> None:
    # The scan can fail: an adapter import in a file is found.
    sample = tmp_path / "sample.py"
    sample.write_text("from fastapi import Response\nimport sagemaker_embeddings.http.app\n")
    assert {n for n in _imported_modules(sample) if _forbidden(n)} == {
        "fastapi",
        "sagemaker_embeddings.http.app",
    }
