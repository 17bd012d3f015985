"""structlog set-up: JSON lines when not on a terminal, coloured console when it is.

Secrets never reach a log line: `SecretStr` values render masked, and values under keys that
look like credentials are masked too, whatever their type.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog
from pydantic import SecretStr

MASK = "**********"
_SECRET_WORDS = ("password", "secret", "token", "api_key", "apikey", "authorization")


def redact_secrets(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in list(event.items()):
        if isinstance(value, SecretStr) or (
            value and any(word in key.lower() for word in _SECRET_WORDS)
        ):
            event[key] = MASK
    return event


def configure_logging(level: str = "INFO", fmt: str = "auto") -> None:
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        numeric = logging.INFO
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact_secrets,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=max(numeric, logging.WARNING), stream=sys.stderr)


def bind(**context: Any) -> None:
    """Bind shop / order / invoice / job to every following log line of this task."""
    structlog.contextvars.bind_contextvars(**{k: v for k, v in context.items() if v is not None})


def unbind_all() -> None:
    structlog.contextvars.clear_contextvars()


def error_line(exc: BaseException, limit: int = 200) -> str:
    """An exception for a log line: its type and the first line of its message. A database
    error's later lines repeat the statement and its parameters, which may be a customer's
    order: they stay out of the logs."""
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    return f"{type(exc).__name__}: {first}"[:limit]
