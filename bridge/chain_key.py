"""The chain key: the secret that signs every link of the invoice chain.

A plain SHA-256 chain proves only naive tampering: whoever can write the database can change
an invoice and recompute every hash after it. Each link is therefore an HMAC keyed with a
secret that never enters the database (`[storage] chain_key_file`, by default `chain.key`
beside the archive folder): without the file a rewritten chain no longer verifies.

The file holds one key per line (64 hex digits; `#` starts a comment). The LAST line signs
new links; every line still verifies the links it signed, so a rotation appends a line and
never removes one. Each link records the id of its key (a hash of the key, not the key).
Losing the file does not lose an invoice, but the chain can no longer be proven: it is
backed up with the archive, for as long as the invoices are kept (ten years).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import structlog

from bridge.archive import write_atomically
from bridge.failures import TransientStepError

log = structlog.get_logger()

KEY_BYTES = 32
_HEADER = (
    "# Quittance chain key: signs every link of the invoice chain (see the README).\n"
    "# Back this file up with the archive and keep every line for as long as the invoices\n"
    "# (ten years): the last line signs new links, each line verifies the links it signed.\n"
)


class ChainKeyError(TransientStepError):
    """The key file cannot be read or holds something that is not a key. Transient: nothing
    is issued unsigned; the documents wait (and the owner is alerted) until it is restored."""

    show_type = False


def key_id(secret: bytes) -> str:
    """What a link records of its key: enough to find it again, nothing to forge with."""
    return hashlib.sha256(b"quittance chain key:" + secret).hexdigest()[:16]


def sign(secret: bytes, message: str) -> str:
    return hmac.new(secret, message.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class ChainKeys:
    """Every key of the file by id, and the one that signs new links."""

    keys: Mapping[str, bytes]
    active_id: str
    path: Path

    @property
    def active(self) -> bytes:
        return self.keys[self.active_id]


def parse_key_file(text: str, path: Path) -> list[bytes]:
    keys: list[bytes] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            secret = bytes.fromhex(line)
        except ValueError:
            secret = b""
        if len(secret) != KEY_BYTES:
            raise ChainKeyError(
                f"{path} line {number} is not a chain key (64 hex digits): restore the file "
                "from your backup or fix [storage] chain_key_file"
            )
        keys.append(secret)
    return keys


def read_chain_keys(path: Path) -> ChainKeys | None:
    """The keys in `path`, or None when there is no file (nothing was signed here yet)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ChainKeyError(
            f"cannot read the chain key {path} ({exc.strerror}): check [storage] chain_key_file"
        ) from exc
    keys = parse_key_file(text, path)
    if not keys:
        raise ChainKeyError(f"{path} holds no chain key: restore it from your backup")
    by_id = {key_id(secret): secret for secret in keys}
    return ChainKeys(keys=by_id, active_id=key_id(keys[-1]), path=path)


def create_key_file(path: Path, now: datetime | None = None) -> bool:
    """Write a new key file (mode 0600) unless one exists; True if this call made it.

    Written whole under a temporary name, then linked into place (fails if the name exists):
    workers starting together on a new install agree on the first one's key, and none ever
    reads a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    stamp = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    content = f"{_HEADER}# created {stamp}\n{secrets.token_hex(KEY_BYTES)}\n"
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.link(temporary, path)
    except FileExistsError:
        return False
    finally:
        temporary.unlink(missing_ok=True)
    return True


def rotate_key_file(path: Path, now: datetime | None = None) -> str:
    """Append a new key (it signs from now on; the old ones keep verifying); returns its id."""
    current = read_chain_keys(path)
    secret = secrets.token_bytes(KEY_BYTES)
    stamp = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    before = path.read_text(encoding="utf-8") if current is not None else _HEADER
    write_atomically(path, f"{before}# added {stamp}\n{secret.hex()}\n".encode(), read_only=False)
    os.chmod(path, 0o600)
    return key_id(secret)


class ChainKeyFile:
    """The key file of one service, read again whenever it changes (a rotation reaches every
    worker at its next document). Made only on a new install: a reader never makes one
    (`verify` on a machine without the file must say so), nor does a signer once a key
    exists elsewhere (a host missing the file, a lost file: a new key would sign links
    nobody else can verify; the documents wait for the file instead)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.created = False  # this process made the file (the store records it once)
        self._keys: ChainKeys | None = None
        self._stamp: int | None = None

    def signing(self, known_elsewhere: Callable[[], Sequence[str]] = tuple) -> ChainKeys:
        """The keys, the file made first if there is none and `known_elsewhere()` (the ids of
        the keys the database knows of) is empty."""
        keys = self.known()
        if keys is None:
            self._create(known_elsewhere())
            keys = self.known()
            assert keys is not None  # it exists now
        return keys

    def known(self) -> ChainKeys | None:
        try:
            stamp = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            stamp = None
        if stamp is None or stamp != self._stamp:
            self._keys = read_chain_keys(self.path) if stamp is not None else None
            self._stamp = stamp
        return self._keys

    def _create(self, known_elsewhere: Sequence[str]) -> None:
        if known_elsewhere:
            raise ChainKeyError(
                f"no chain key at {self.path}, but this database knows chain key(s) "
                f"{', '.join(known_elsewhere)}: restore the file from your backup (or copy it "
                "from another host of this service) to [storage] chain_key_file; if it is lost "
                "for good, `quittance rotate-chain-key` makes a new one (what the lost one "
                "signed can then no longer be proven)"
            )
        if create_key_file(self.path):
            self.created = True
            log.warning("new chain key created: back it up with the archive", path=str(self.path))
