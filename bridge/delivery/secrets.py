"""The one place delivery code turns a secret (SecretStr, plain str or None) into its text."""

from __future__ import annotations

from typing import Any


def reveal(value: Any) -> str:
    if value is None:
        return ""
    getter = getattr(value, "get_secret_value", None)
    return str(getter() if getter else value)
