"""The failure vocabulary: every error a step raises says whether a later attempt can help.

    StepError                 base: `transient` (retry later) or not (dead, owner alerted)
    ├── TransientStepError    a step knows a later attempt will succeed (a race it lost)
    │   ├── OutsideFactUnavailable  VIES or the ECB cannot answer yet (bridge.issue_facts)
    │   ├── HandoverRefused the check before a send said no: nothing was sent
    │   │   ├── LeaseLost       another worker holds the job now: record nothing
    │   │   └── TooLateToSend   the send would outlast the step timeout: retry later
    │   └── StepTimedOut    a step ran past its timeout: retried with backoff
    ├── PermanentStepError    a step knows retrying cannot help (bad data, missing invoice)
    ├── ConnectorError        the shop's API (connectors.base: Transient…/Permanent…)
    ├── DeliveryError         a channel (bridge.delivery.errors sorts SMTP replies into it)
    ├── ArchiveCorruptError   an archived file is missing or altered (permanent)
    ├── PdfIncompleteError    a rendered PDF lacks a mandatory mention: not archived, not sent
    └── PdfMismatchError      a re-render does not match the recorded hash (permanent)
        └── RenderProfileError    the document's recorded render profile cannot be used here

Where an error comes from a protocol, the module that speaks it translates once, at the edge
(`connectors.http` for HTTP statuses, `bridge.delivery.errors` for SMTP replies); this module
only reads the answer, and treats what no step foresaw (database restarts, disk, bugs) here.
It imports nothing of the project, so connectors and channels can all raise its errors.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout


class RetryClass(StrEnum):
    transient = "transient"  # retry with backoff; dead only after the give-up delay
    permanent = "permanent"  # dead at once, owner alerted


class StepError(Exception):
    """An error a step foresaw. `unexpected` flags a transient one a human should look at."""

    transient: bool = True
    unexpected: bool = False
    # The message alone is what the owner reads; errors whose name adds meaning keep it.
    show_type: bool = False


class TransientStepError(StepError):
    """A step knows a later attempt will succeed (e.g. a race it lost): retry, no alarm."""

    transient = True
    show_type = True


class WaitingForInvoice(TransientStepError):
    """A refund's credit note waits for the invoice it credits: retried with backoff, and at
    once when the invoice is issued (the issuing transaction re-arms it). Retrying rather than
    parking: a credit job that looked a moment before the invoice committed still comes back."""

    show_type = False


class HandoverRefused(TransientStepError):
    """The check just before a document is handed over said no (`bridge.handover`): nothing
    was sent. Channels let it through unchanged: it is not the server's answer."""


class LeaseLost(HandoverRefused):
    """The job's lease is another worker's now (this one stalled past it, or ran past
    `[jobs] step_timeout_seconds`): stop before handing anything over, record nothing; the
    new holder's run is the one that counts."""


class TooLateToSend(HandoverRefused):
    """A send could not end before the step's timeout: not started, the job retries later
    (started, the timeout would retry the job under it and the retry would send again)."""

    show_type = False


class StepTimedOut(TransientStepError):
    """A step ran past `[jobs] step_timeout_seconds` (a connection that trickles, a hung
    call): given up and retried with backoff, dead after the give-up delay like any other."""

    show_type = False


class OutsideFactUnavailable(TransientStepError):
    """VIES or the ECB rates cannot answer now; after `max_wait` a person must look.

    Here, not in `bridge.issue_facts`, so that the sources it gathers (bridge.vies,
    bridge.ecb) raise it without importing back the module that imports them."""

    def __init__(self, message: str, *, max_wait: timedelta) -> None:
        super().__init__(message)
        self.max_wait = max_wait


class PermanentStepError(StepError):
    """A step knows retrying cannot help (bad data, missing invoice, tampered archive)."""

    transient = False
    show_type = True


class PdfMismatchError(PermanentStepError):
    """Re-rendering an invoice did not give the bytes recorded at issue: never overwrite."""


class PdfIncompleteError(PermanentStepError):
    """The rendered PDF lacks a mandatory mention (a template override dropped it): nothing is
    archived or sent. Permanent: retrying renders the same document until the template is
    fixed, and the owner must hear of it at once (15 € per missing mention per invoice)."""


class FacturXInvalidError(PermanentStepError):
    """A document's Factur-X XML fails its official XML schema, or cannot be embedded: nothing
    is archived or sent. Permanent: the snapshot is issued and immutable, so it builds the
    same XML on every try; only a fixed Quittance helps (then `quittance retry`), and the
    owner hears of it at once with the schema's own error. The number stays taken by the
    issued document, held until then."""


class RenderProfileError(PdfMismatchError):
    """A document's recorded render profile cannot be reproduced (its frozen templates are
    missing or altered, or its profile record is unreadable): it is never re-rendered with
    other templates in its place."""


# The longest wait a service's Retry-After is taken at (the queue's backoff caps it again).
MAX_SERVICE_WAIT = 86_400.0


@dataclass(frozen=True)
class Failure:
    retry_class: RetryClass
    message: str
    unexpected: bool = False  # not a failure we foresaw: a bug to look at, retried anyway
    # the least wait before the next attempt a service asked for (HTTP Retry-After)
    retry_after: timedelta | None = None


def database_away(exc: BaseException) -> bool:
    """The database restarting, unreachable, or its pool exhausted: worth trying again soon
    (a query it refuses is a bug, not this)."""
    return isinstance(exc, OperationalError | InterfaceError | PoolTimeout)


def classify_failure(exc: BaseException) -> Failure:
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, StepError):
        cls = RetryClass.transient if exc.transient else RetryClass.permanent
        wait = getattr(exc, "retry_after", None)
        return Failure(
            cls, text if exc.show_type else str(exc), unexpected=exc.unexpected,
            retry_after=timedelta(seconds=min(wait, MAX_SERVICE_WAIT)) if wait else None,
        )  # fmt: skip
    if isinstance(exc, OperationalError | DBAPIError | OSError | TimeoutError):
        return Failure(RetryClass.transient, text)  # DB restarting, disk full, network
    # A bug in a step: keep retrying with backoff (a fix + retry replays it), but flag it.
    return Failure(RetryClass.transient, text, unexpected=True)
