"""Where PDFs live for ten years: a local folder, content-addressed by SHA-256.

Files are written atomically (temp file in the same folder, fsync, rename) so a crash never
leaves a half-written PDF under a valid name, and every read re-hashes the bytes. A readable
alias `by-number/<invoice number>.pdf` (a relative symlink) lets a person find a document.

What re-rendering a document needs is kept next to it, content-addressed as well:

    sha256/ab/<sha256>.pdf          the documents
    assets/<sha256>.png             the logo each snapshot names
    template-sets/<set hash>/       the templates folder a document was rendered with
    profiles/ab/<pdf sha256>.json   how that PDF was rendered (template set, renderer versions)
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import Mapping
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


def tree_hash(files: Mapping[str, bytes]) -> str:
    """The SHA-256 of a set of files: of its `sha256sum` listing ("<sha256>  <name>" lines,
    sorted by name), so that names and bytes both count and `sha256sum -c` checks a copy."""
    listing = "".join(f"{sha256_hex(files[name])}  {name}\n" for name in sorted(files))
    return sha256_hex(listing.encode("utf-8"))


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
            write_atomically(target, data)
        if number:
            self._link_alias(number, target)
        return ArchivedFile(sha256=digest, path=target)

    def put_asset(self, data: bytes, suffix: str) -> Path:
        """Store a file an invoice refers to (the logo) under its hash: the path then names
        these exact bytes forever, so re-rendering an old invoice uses the old logo."""
        target = self.root / "assets" / f"{sha256_hex(data)}{suffix.lower()}"
        if not target.is_file() or sha256_hex(target.read_bytes()) != sha256_hex(data):
            write_atomically(target, data)
        return target

    # ------------------------------------------------------------------ template sets

    def template_set_dir(self, digest: str) -> Path:
        return self.root / "template-sets" / digest

    def put_template_set(self, files: Mapping[str, bytes]) -> str:
        """Store a templates folder under its `tree_hash` (idempotent); returns the hash.

        Written beside its final place and renamed into it, so a crash never leaves half a set
        under a valid name; the files are read-only, like the PDFs they reproduce."""
        digest = tree_hash(files)
        if self.template_set_state(digest) is FileState.ok:
            return digest
        target = self.template_set_dir(digest)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=".tmp-"))
        try:
            for name, data in files.items():
                write_atomically(staging / name, data)
            if self.template_set_state(digest) is FileState.altered:
                # kept aside, not deleted: an altered frozen set is evidence for a person
                target.rename(target.with_name(f".altered-{digest}-{time.time_ns()}"))
            try:
                staging.rename(target)
            except OSError:
                if self.template_set_state(digest) is not FileState.ok:
                    raise
                # another process stored the same set first: same bytes, nothing to do
            _fsync_dir(target.parent)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return digest

    def template_set_state(self, digest: str) -> FileState:
        root = self.template_set_dir(digest)
        if not root.is_dir():
            return FileState.missing
        files = {
            path.relative_to(root).as_posix(): path.read_bytes()
            for path in root.rglob("*")
            if path.is_file()
        }
        return FileState.ok if files and tree_hash(files) == digest else FileState.altered

    # ------------------------------------------------------------------ render profiles

    def profile_path(self, pdf_sha256: str) -> Path:
        return self.root / "profiles" / pdf_sha256[:2] / f"{pdf_sha256}.json"

    def put_profile(self, pdf_sha256: str, data: bytes) -> Path:
        """Record how the PDF `pdf_sha256` was rendered. Called with the recipe that has just
        produced those bytes, so a different record in its place (hand-edited) is replaced."""
        target = self.profile_path(pdf_sha256)
        if not target.is_file() or target.read_bytes() != data:
            write_atomically(target, data)
        return target

    def read_profile(self, pdf_sha256: str) -> bytes | None:
        """The PDF's render profile record, or None for a document archived without one."""
        try:
            return self.profile_path(pdf_sha256).read_bytes()
        except FileNotFoundError:
            return None

    # ------------------------------------------------------------------ documents

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
        """Raise `OSError` unless the archive takes bytes now: a small file is written,
        fsynced, read back and removed. Creating an empty file is not enough: it succeeds on
        a full disk (no data block needed), where the next PDF would fail."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=self.root, prefix=".probe-")
        probe = Path(name)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(_PROBE)
                handle.flush()  # the write(2) itself: ENOSPC shows here or at fsync
                os.fsync(handle.fileno())
            if probe.read_bytes() != _PROBE:
                raise OSError(errno.EIO, "the probe file read back different bytes", name)
        finally:
            probe.unlink(missing_ok=True)

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


# What the writability probe writes: a few bytes, so the disk must find a block for them.
_PROBE = b"quittance archive probe\n"


MB = 1024 * 1024


def free_bytes(path: Path) -> int:
    """Bytes an unprivileged writer may still use on `path`'s disk (statvfs f_bavail: what
    root alone may use beyond it is left out, as a service should not count on it). A folder
    not created yet is measured on its nearest existing parent."""
    return shutil.disk_usage(nearest_existing(path)).free


def nearest_existing(path: Path) -> Path:
    """`path` made absolute, or its nearest parent that exists: where a folder not created yet
    will be, the disk it will be on."""
    path = Path(path).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def low_space(free_mb: int, min_free_mb: int) -> str | None:
    """None, or why `free_mb` MB free is too little: the end of the sentence each caller
    starts with the place and its free space (a threshold of 0 MB: never too little)."""
    if min_free_mb <= 0 or free_mb >= min_free_mb:
        return None
    return f"below [storage] archive_min_free_mb = {min_free_mb}: free some space or grow the disk"


def write_atomically(target: Path, data: bytes, *, read_only: bool = True) -> None:
    """Readers see the old file or the new one, never half of one (same-folder rename,
    fsynced). Archived files are read-only; a file meant to be replaced (the ECB rates) is not."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=target.suffix)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if read_only:
            os.chmod(temp_name, 0o444)
        os.replace(temp_name, target)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    _fsync_dir(target.parent)


def _fsync_dir(path: Path) -> None:
    dir_fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
