from __future__ import annotations

import os
from pathlib import Path

import pytest

from bridge.archive import Archive, ArchiveCorruptError, FileState, sha256_hex


def test_put_is_content_addressed_read_only_and_idempotent(tmp_path: Path) -> None:
    archive = Archive(tmp_path)
    first = archive.put(b"%PDF-1.4 one", number="FA-2026-000001")
    again = archive.put(b"%PDF-1.4 one", number="FA-2026-000001")
    assert first == again
    assert first.sha256 == sha256_hex(b"%PDF-1.4 one")
    assert first.path.name == f"{first.sha256}.pdf"
    assert not os.access(first.path, os.W_OK) or os.geteuid() == 0  # 0o444 (root ignores it)
    assert oct(first.path.stat().st_mode & 0o777) == "0o444"
    assert archive.read(first.sha256) == b"%PDF-1.4 one"
    assert not list(first.path.parent.glob(".tmp-*")), "no temp file left behind"


def test_alias_by_number_points_at_the_stored_file(tmp_path: Path) -> None:
    archive = Archive(tmp_path)
    stored = archive.put(b"data", number="FA/2026/7")
    alias = archive.alias_for("FA/2026/7")
    assert alias.name == "FA_2026_7.pdf"
    assert alias.resolve() == stored.path.resolve()


def test_altered_and_missing_files_are_detected(tmp_path: Path) -> None:
    archive = Archive(tmp_path)
    stored = archive.put(b"original")
    os.chmod(stored.path, 0o644)
    stored.path.write_bytes(b"tampered")
    assert archive.state(stored.sha256) is FileState.altered
    with pytest.raises(ArchiveCorruptError, match="altered"):
        archive.read(stored.sha256)
    # put() repairs an altered copy with the genuine bytes
    archive.put(b"original")
    assert archive.state(stored.sha256) is FileState.ok
    stored.path.unlink()
    assert archive.state(stored.sha256) is FileState.missing
    with pytest.raises(ArchiveCorruptError, match="missing"):
        archive.read(stored.sha256)
