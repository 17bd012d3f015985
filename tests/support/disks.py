"""A disk that really fills up (ENOSPC) or turns read-only (EROFS): a tiny tmpfs mounted for
the test. Running as root, chmod stops nothing; this does. It needs the right to mount:
elsewhere the tests that use it are skipped with the reason."""

from __future__ import annotations

import errno
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.archive import free_bytes


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MB tmpfs mounted for the test: a disk that really fills up, or turns read-only."""
    yield from mounted_tmpfs(tmp_path / "disk", "1m")


def mounted_tmpfs(mount_point: Path, size: str) -> Iterator[Path]:
    mount_point.mkdir()
    try:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount_point)],
            capture_output=True,
            text=True,
            check=False,
        )
    except FileNotFoundError:
        pytest.skip("no mount command here: the full and read-only disk tests need one")
    if done.returncode != 0:
        pytest.skip(
            f"cannot mount a tmpfs here ({done.stderr.strip()}): needs root or CAP_SYS_ADMIN"
        )
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill(disk: Path, leave: int = 0) -> None:
    """Fill `disk` with data blocks until ENOSPC (or until `leave` bytes remain)."""
    with (disk / "filler").open("wb") as handle:
        try:
            while free_bytes(disk) > leave:
                handle.write(b"\0" * 4096)
                handle.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC


def remount_read_only(disk: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True, capture_output=True)
