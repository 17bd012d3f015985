"""Field types every settings schema shares, the platforms' `[[shops]]` schemas too: text that
may be blank, paths, secrets that may say `${ENV}`, and `fail()` whose text the configuration
report shows as is. It imports nothing of the project, so `bridge.config` and every connector
package can build on it without importing each other."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    SecretStr,
)
from pydantic_core import PydanticCustomError

EMAIL_ADDRESS = re.compile(r"^[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[A-Za-z0-9-]{2,}$")
COLOR = re.compile(r"^#[0-9A-Fa-f]{6}$")
URL_USERINFO = re.compile(r"(://[^/:@\s]*):[^@/\s]*@")


def fail(expected: str) -> PydanticCustomError:
    """A validation failure whose message is exactly `expected` (what the user should write)."""
    return PydanticCustomError("config", "{expected}", {"expected": expected})


def fail_field(field: str, value: Any, expected: str) -> PydanticCustomError:
    """A failure raised by a model validator but belonging to one of its fields."""
    return PydanticCustomError(
        "config_field", "{expected}", {"field": field, "value": value, "expected": expected}
    )


# --------------------------------------------------------------------------------------------
# Small reusable types


def blank_to_empty(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    return value


def blank_to_none(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        return None
    return value


def lower(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def upper(value: Any) -> Any:
    return value.strip().upper() if isinstance(value, str) else value


def expand_user(value: Any) -> Any:
    if isinstance(value, str | Path):
        text = str(value).strip()
        return Path(text).expanduser() if text else None
    return value


Text = Annotated[str, BeforeValidator(blank_to_empty)]
"""Optional free text: absent, null or blank all become "" (what the invoice snapshot wants)."""
OptPath = Annotated[Path | None, BeforeValidator(expand_user)]


def check_email(value: str, what: str) -> str:
    if value and not EMAIL_ADDRESS.match(value):
        raise fail(f"{what}, a plain address such as contact@maboutique.fr (no name, no <>)")
    return value


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


LOAD_CONTEXT: ContextVar[tuple[Path, Mapping[str, str]] | None] = ContextVar(
    "quittance_config_load", default=None
)


def from_env_reference(value: Any) -> Any:
    """`"${NAME}"` → the value of environment variable NAME (secrets stay out of the file)."""
    if isinstance(value, str) and value.startswith("${") and value.endswith("}"):
        name = value[2:-1].strip()
        context = LOAD_CONTEXT.get()
        environ = context[1] if context is not None else os.environ
        if name not in environ or not environ[name]:
            raise fail(f"environment variable {name} to be set (the file says ${{{name}}})")
        return environ[name]
    return value


Secret = Annotated[SecretStr, BeforeValidator(from_env_reference)]


def redact_url(url: str) -> str:
    """`postgresql+psycopg://user:secret@host/db` -> `postgresql+psycopg://user:***@host/db`."""
    return URL_USERINFO.sub(r"\1:***@", url)
