"""Configuration problems: every one found, each naming its key, the value found (never a
secret's) and what to write instead, so a shop owner fixes the whole file in one go."""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from pydantic import (
    BaseModel,
    SecretStr,
    ValidationError,
)
from pydantic_settings import (
    SettingsError,
)

from bridge.settings_types import (
    redact_url,
)

ENV_PREFIX = "QUITTANCE_"
ENV_DELIMITER = "__"
MASK = "'**********'"
# --------------------------------------------------------------------------------------------
# Errors


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One thing wrong with the configuration.

    `key` is the dotted path ("seller.siren", "alerts.urls[0]"), `value` the value found as
    shown to the user (quoted; secrets as '**********'; "<missing>" when absent), `expected`
    what is expected and how to fix it. `origin` names the environment variable the value came
    from, when it came from one.
    """

    key: str
    value: str
    expected: str
    origin: str | None = None

    def __str__(self) -> str:
        where = f" (from {self.origin})" if self.origin else ""
        return f"{self.key} = {self.value}{where} — expected {self.expected}"


class ConfigError(Exception):
    """The configuration cannot be used. `str()` lists every problem, one per line."""

    def __init__(self, problems: list[ConfigProblem], source: Path | str | None = None) -> None:
        self.problems = list(problems)
        self.source = str(source) if source is not None else None
        super().__init__(self._message())

    def _message(self) -> str:
        count = len(self.problems)
        where = f" in {self.source}" if self.source else ""
        head = f"invalid configuration{where} ({count} problem{'s' if count != 1 else ''}):"
        return "\n".join([head, *(f"  {p}" for p in self.problems)])

    def __str__(self) -> str:
        return self._message()

    @classmethod
    def from_validation_error(
        cls,
        exc: ValidationError,
        *,
        root: type[BaseModel],
        source: Path | str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> ConfigError:
        """Translate pydantic's errors (all of them) into config problems with dotted keys."""
        env_names = {k.upper() for k in (environ or {})}
        problems = [_problem_from_error(err, env_names, root) for err in exc.errors()]
        return cls(problems, source)


def toml_problem(file: Path, exc: tomllib.TOMLDecodeError) -> ConfigProblem:
    text = str(exc)
    found = re.search(r"\(at line (\d+), column (\d+)\)", text)
    reason = re.sub(r"\s*\(at line \d+, column \d+\)", "", text) or "syntax error"
    if found:
        line, column = found.groups()
        return ConfigProblem(
            f"{file.name} line {line}",
            f"<TOML syntax error at line {line}, column {column} of {file}>",
            f'valid TOML ({reason}): text values need quotes, e.g. city = "Lyon"',
        )
    return ConfigProblem(file.name, f"<TOML syntax error in {file}>", f"valid TOML ({reason})")


def env_problem(exc: SettingsError, env: Mapping[str, str]) -> ConfigProblem:
    found = re.search(r'field "([^"]+)"', str(exc))
    key = found.group(1) if found else "environment"
    names = sorted(k for k in env if k.upper().startswith(f"{ENV_PREFIX}{key.upper()}"))
    return ConfigProblem(
        key,
        "<not shown>",
        "valid JSON for a whole table, or one variable per key: "
        f"{ENV_PREFIX}<SECTION>{ENV_DELIMITER}<KEY>=value, "
        f"e.g. {ENV_PREFIX}SELLER{ENV_DELIMITER}ADDRESS{ENV_DELIMITER}CITY=Lyon",
        origin=", ".join(names) or None,
    )


# --------------------------------------------------------------------------------------------
# Translating pydantic errors


def _sub_models(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in get_args(annotation) for m in _sub_models(arg)]


def _has_secret(annotation: Any) -> bool:
    if annotation is SecretStr:
        return True
    return any(_has_secret(arg) for arg in get_args(annotation))


def _walk(
    root: type[BaseModel], loc: tuple[str | int, ...]
) -> tuple[type[BaseModel] | None, Any, bool, tuple[str | int, ...]]:
    """(model owning the last named key, its FieldInfo or None, whether the value is secret,
    the key path as the user wrote it).

    A discriminated union (`[[shops]]`) puts the chosen tag in pydantic's path
    (`shops, 0, shopify, client_secret`): that step picks the model and is not a key."""
    model: type[BaseModel] | None = root
    union: list[type[BaseModel]] = []
    tag_key = ""
    field, secret, known = None, False, True
    written: list[str | int] = []
    for part in loc:
        tagged = [m for m in union if part in _tags(m, tag_key)] if isinstance(part, str) else []
        if tagged:
            model, union = tagged[0], []
            continue
        written.append(part)
        if isinstance(part, int) or secret or not known:
            continue
        if model is None:
            known = False
            continue
        field = model.model_fields.get(part)
        if field is None:
            known = False
            continue
        if _has_secret(field.annotation):
            secret = True
            continue
        subs = _sub_models(field.annotation)
        if subs:
            tag_key = _discriminator(field.annotation) or ""
            model, union = subs[0], subs if tag_key else []
    return model, field if known or secret else None, secret, tuple(written)


def _discriminator(annotation: Any) -> str | None:
    """The key that chooses a union's member (`Field(discriminator="platform")`), if any."""
    for arg in get_args(annotation):
        key = getattr(arg, "discriminator", None)
        if isinstance(key, str):
            return key
        found = _discriminator(arg)
        if found:
            return found
    return None


def _tags(model: type[BaseModel], key: str) -> set[str]:
    """The values `key` is pinned to in `model` (`platform: Literal["shopify"]`)."""
    field = model.model_fields.get(key)
    if field is None or get_origin(field.annotation) is not Literal:
        return set()
    return {value for value in get_args(field.annotation) if isinstance(value, str)}


def _dotted(loc: tuple[str | int, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _show(value: Any, secret: bool) -> str:
    if value is None:
        return "<missing>"
    if secret:
        return MASK
    if isinstance(value, dict):
        return "<a table>"
    if isinstance(value, SecretStr):
        return MASK
    if isinstance(value, str):
        value = redact_url(value)
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


_SECRETISH = re.compile(r"pass|pwd|secret|token|key|url|auth|cred", re.IGNORECASE)


def _problem_from_error(err: Any, env_names: set[str], root: type[BaseModel]) -> ConfigProblem:
    loc: tuple[str | int, ...] = tuple(err.get("loc", ()))
    kind = err.get("type", "")
    ctx = err.get("ctx") or {}
    value: Any = err.get("input")
    if kind == "config_field":
        loc = (*loc, ctx["field"])
        value = ctx.get("value")
    tags: list[str] = []
    if kind in ("union_tag_invalid", "union_tag_not_found"):  # the table's kind is not known
        _, union_field, _, _ = _walk(root, loc)
        annotation = union_field.annotation if union_field is not None else None
        key = _discriminator(annotation) or str(ctx.get("discriminator", "")).strip("'")
        tags = sorted({tag for member in _sub_models(annotation) for tag in _tags(member, key)})
        loc, value = (*loc, key), (value or {}).get(key) if isinstance(value, dict) else None
    owner, field, secret, loc = _walk(root, loc)
    expected: str
    if tags:
        expected = f"one of {', '.join(tags)}: which platform this table describes"
    elif kind in ("config", "config_field"):
        expected = str(ctx.get("expected", err.get("msg", "")))
    elif kind == "extra_forbidden":
        name = str(loc[-1]) if loc else ""
        known = list(owner.model_fields) if owner is not None else []
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        secret = bool(_SECRETISH.search(name)) or bool(
            close and owner is not None and _has_secret(owner.model_fields[close[0]].annotation)
        )
        hint = f"typo for '{close[0]}'? " if close else ""
        section = _dotted(loc[:-1]) if len(loc) > 1 else "the top level"
        expected = (
            f"a known key ({hint}keys allowed in {section}: {', '.join(known)})"
            if known
            else "no key here: remove it"
        )
    elif kind == "missing":
        what = field.description if field is not None and field.description else "a value"
        expected = f"{what} — this key is required"
        value = None
    else:
        msg = str(err.get("msg", "a valid value"))
        msg = re.sub(r"^(Input should be|Value error,)\s*", "", msg)
        what = field.description if field is not None and field.description else ""
        expected = f"{msg}: {what}" if what and what not in msg else msg
    if isinstance(value, dict) and kind != "missing" and not loc:
        value = None
    shown = _show(value, secret) if kind != "missing" else "<missing>"
    env_name = ENV_PREFIX + ENV_DELIMITER.join(str(p) for p in loc if isinstance(p, str)).upper()
    origin = env_name if env_name in env_names else None
    return ConfigProblem(_dotted(loc), shown, expected, origin)
