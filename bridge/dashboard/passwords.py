"""Account names, roles and argon2id password hashes for the dashboard."""

from __future__ import annotations

import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

OWNER, ACCOUNTANT = "owner", "accountant"
ROLES = (OWNER, ACCOUNTANT)
MIN_PASSWORD = 12
_NAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{1,63}$")

# argon2-cffi's defaults are RFC 9106's second recommended profile (64 MiB, 3 passes).
_hasher = PasswordHasher()
_decoy: str | None = None


def use_hasher(hasher: PasswordHasher) -> None:
    """Hash and check with `hasher` from now on (the test suite's cheaper parameters: it
    checks what is stored and compared, not the cost)."""
    global _hasher, _decoy
    _hasher, _decoy = hasher, None


def _decoy_hash() -> str:
    """Checked against when the name is unknown: a wrong name costs what a wrong password
    does. Made on first use, not at import (every `quittance` command imports this)."""
    global _decoy
    if _decoy is None:
        _decoy = _hasher.hash("not a password of anyone's")
    return _decoy


class AccountError(ValueError):
    """A name, role or password that cannot be used; the message says what to give."""


def normal_username(name: str) -> str:
    name = name.strip().lower()
    if not _NAME.match(name):
        raise AccountError(
            f"user name {name!r}: 2 to 64 characters, letters, digits and . _ @ - "
            "(e.g. 'marie' or 'compta@example.fr')"
        )
    return name


def checked_role(role: str) -> str:
    role = role.strip().lower()
    if role not in ROLES:
        raise AccountError(f"role {role!r}: owner (everything) or accountant (read and export)")
    return role


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"a password of at least {MIN_PASSWORD} characters")
    return _hasher.hash(password)


def password_matches(stored_hash: str | None, password: str) -> bool:
    """Constant work whether or not the account exists (`stored_hash` None)."""
    try:
        return _hasher.verify(stored_hash or _decoy_hash(), password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return _hasher.check_needs_rehash(stored_hash)
