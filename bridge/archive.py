"""Where PDFs live for ten years: a local folder, content-addressed by SHA-256.

Files are written atomically (temp file in the same folder, fsync, rename) so a crash never
leaves a half-written PDF under a valid name, and every read re-hashes the bytes. A readable
alias `by-number/<invoice number>.pdf` (a relative symlink) lets a person find a document.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from bridge.failures import StepError


class ArchiveCorruptError(StepError):
    """A stored file is missing or its bytes no longer match the hash it was filed under."""

    transient = False
    show_type = True


class FileState(StrEnum):
    ok = "ok"
    missing = "missing"
    altered = "altered"


@dataclass(frozen=True)
class ArchivedFile:
    sha256: str
    path: Path


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def alias_name(number: str) -> str:
    # "/" is legal in invoice numbers (BR-FR-01) but not in a file name.
    return number.replace("/", "_") + ".pdf"


class Archive:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path_for(self, sha256: str) -> Path:
        return self.root / "sha256" / sha256[:2] / f"{sha256}.pdf"

    def alias_for(self, number: str) -> Path:
        return self.root / "by-number" / alias_name(number)

    def put(self, data: bytes, *, number: str | None = None) -> ArchivedFile:
        """Store bytes (idempotent: an intact existing copy is kept as is)."""
        digest = sha256_hex(data)
        target = self.path_for(digest)
        if self.state(digest) is not FileState.ok:
            _atomic_write(target, data)
        if number:
            self._link_alias(number, target)
        return ArchivedFile(sha256=digest, path=target)

    def put_asset(self, data: bytes, suffix: str) -> Path:
        """Store a file an invoice refers to (the logo) under its hash: the path then names
        these exact bytes forever, so re-rendering an old invoice uses the old logo."""
        target = self.root / "assets" / f"{sha256_hex(data)}{suffix.lower()}"
        if not target.is_file() or sha256_hex(target.read_bytes()) != sha256_hex(data):
            _atomic_write(target, data)
        return target

    def read(self, sha256: str) -> bytes:
        path = self.path_for(sha256)
        try:
            data = path.read_bytes()
        except FileNotFoundError as exc:
            raise ArchiveCorruptError(f"{path} is missing") from exc
        if sha256_hex(data) != sha256:
            raise ArchiveCorruptError(f"{path} was altered: its SHA-256 is no longer {sha256}")
        return data

    def state(self, sha256: str) -> FileState:
        path = self.path_for(sha256)
        if not path.is_file():
            return FileState.missing
        with path.open("rb") as handle:
            digest = hashlib.file_digest(handle, "sha256").hexdigest()
        return FileState.ok if digest == sha256 else FileState.altered

    def check_writable(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=self.root, prefix=".probe-"):
            pass

    def _link_alias(self, number: str, target: Path) -> None:
        alias = self.alias_for(number)
        alias.parent.mkdir(parents=True, exist_ok=True)
        relative = os.path.relpath(target, alias.parent)
        if alias.is_symlink() and os.readlink(alias) == relative:
            return
        temp = alias.with_name(f".{alias.name}.{os.getpid()}.tmp")
        temp.unlink(missing_ok=True)
        temp.symlink_to(relative)
        temp.replace(alias)


def _atomic_write(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".pdf")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp_name, 0o444)
        os.replace(temp_name, target)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    dir_fd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
