"""Running `quittance …` in-process and reading what it prints. A pytest plugin too
(tests/conftest.py): the `wide_consoles` fixture."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

import bridge.cli as cli_module
from tests.support.config import write_config


def widen_consoles(patch: pytest.MonkeyPatch) -> None:
    """Rich wraps at the width it found at import (80 off a terminal) and would split long
    paths and messages across lines; tests that read the output read it unwrapped
    (test_cli.py's test_output_is_not_wrapped_at_80_columns checks the real width)."""
    for console in (cli_module.console, cli_module.err_console):
        patch.setattr(console, "_width", 400)


@pytest.fixture
def wide_consoles(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The consoles unwrapped for the test; structlog reset after it (the CLI configured it
    on the runner's stderr, closed once the command returns)."""
    widen_consoles(monkeypatch)
    yield
    structlog.reset_defaults()


def local_config(tmp_path: Path) -> Path:
    """A config with its SQLite database and archive inside `tmp_path`."""
    return write_config(
        tmp_path / "quittance.toml",
        database_url=f"sqlite:///{tmp_path / 'q.db'}",
        archive_dir=tmp_path / "archive",
    )
