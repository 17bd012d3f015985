"""Dashboard accounts: made, re-passworded and disabled from the command line only (a
dashboard that could make owners would let one stolen session make more)."""

from __future__ import annotations

import secrets

from bridge.dashboard.passwords import checked_role, hash_password, normal_username
from bridge.store import Store


def add_user(store: Store, name: str, password: str, role: str, locale: str) -> bool:
    """True: a new account; False: the existing one now has this password and role (and
    its sessions are over). Raises AccountError naming what to change."""
    username = normal_username(name)
    return store.save_dashboard_user(
        username, hash_password(password), checked_role(role), locale if locale == "en" else "fr"
    )


def new_password() -> str:
    """Twenty random characters, for an account made without one."""
    return secrets.token_urlsafe(15)
