"""The one place that decides what a failed step does next: retry later, or stop (dead).

Channels sort their own protocol errors (`bridge.delivery.errors` for SMTP); this module maps
everything a job handler can raise to a retry class, so the worker never guesses.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy.exc import DBAPIError, OperationalError

from bridge.archive import ArchiveCorruptError
from bridge.delivery.errors import DeliveryError


class RetryClass(StrEnum):
    transient = "transient"  # retry with backoff; dead only after the give-up delay
    permanent = "permanent"  # dead at once, owner alerted


class PermanentStepError(Exception):
    """A step knows retrying cannot help (bad data, missing invoice, tampered archive)."""


class TransientStepError(Exception):
    """A step knows a later attempt will succeed (e.g. a race it lost): retry, no alarm."""


class PdfMismatchError(Exception):
    """Re-rendering an invoice did not give the bytes recorded at issue: never overwrite."""


@dataclass(frozen=True)
class Failure:
    retry_class: RetryClass
    message: str
    unexpected: bool = False  # not a failure we foresaw: a bug to look at, retried anyway


def classify_failure(exc: BaseException) -> Failure:
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, DeliveryError):
        cls = RetryClass.transient if exc.transient else RetryClass.permanent
        return Failure(cls, str(exc), unexpected=exc.unexpected)
    from connectors.base import ConnectorError

    if isinstance(exc, ConnectorError):
        cls = RetryClass.transient if exc.transient else RetryClass.permanent
        return Failure(cls, str(exc))
    if isinstance(exc, PermanentStepError | ArchiveCorruptError):
        return Failure(RetryClass.permanent, text)
    if isinstance(exc, PdfMismatchError):
        return Failure(RetryClass.permanent, text)
    if isinstance(exc, TransientStepError | OperationalError | DBAPIError | OSError | TimeoutError):
        return Failure(RetryClass.transient, text)  # DB restarting, disk full, network
    # A bug in a step: keep retrying with backoff (a fix + retry replays it), but flag it.
    return Failure(RetryClass.transient, text, unexpected=True)
