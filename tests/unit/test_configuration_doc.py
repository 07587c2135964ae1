"""Settings describe themselves: serve --help and docs/configuration.md carry the same text."""

from __future__ import annotations

from pathlib import Path

import pytest

from sagemaker_embeddings.settings import Settings, parse_serve_args, settings_markdown

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_every_field_has_a_description() -> None:
    missing = [name for name, field in Settings.model_fields.items() if not field.description]
    assert missing == []


def test_configuration_doc_is_the_generated_text() -> None:
    # Regenerate with: python -m sagemaker_embeddings.settings --markdown > docs/configuration.md
    assert DOC.read_text() == settings_markdown()


def test_configuration_doc_has_a_row_per_field() -> None:
    rows = [line for line in settings_markdown().splitlines() if line.startswith("| `")]
    assert len(rows) == len(Settings.model_fields)
    assert "| `SAGEMAKER_BIND_TO_PORT`, `PORT` | `--port` | `8080` |" in settings_markdown()


def test_serve_help_explains_every_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_serve_args(["--help"])
    # argparse wraps lines, also after hyphens: compare without any whitespace.
    help_text = "".join(capsys.readouterr().out.split())
    for name, field in Settings.model_fields.items():
        assert "".join((field.description or "").split()) in help_text, name
