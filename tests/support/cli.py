"""Running `quittance …` in-process and reading what it prints."""

from __future__ import annotations

from pathlib import Path

import pytest

import bridge.cli as cli_module
from tests.support.config import write_config


def widen_consoles(patch: pytest.MonkeyPatch) -> None:
    """Rich wraps at the width it found at import (80 off a terminal) and would split long
    paths and messages across lines; tests that read the output read it unwrapped
    (test_cli.py's test_output_is_not_wrapped_at_80_columns checks the real width)."""
    for console in (cli_module.console, cli_module.err_console):
        patch.setattr(console, "_width", 400)


def local_config(tmp_path: Path) -> Path:
    """A config with its SQLite database and archive inside `tmp_path`."""
    return write_config(
        tmp_path / "quittance.toml",
        database_url=f"sqlite:///{tmp_path / 'q.db'}",
        archive_dir=tmp_path / "archive",
    )
