"""The last check before a document leaves us: a channel about to hand it over (SMTP DATA, a
helpdesk upload, an SMS) calls `check_before_handover()` first.

The worker installs the check for the length of a step: it renews the job's lease there and
then, so a worker whose lease was taken over (it stalled, the database was away) learns it
before sending a second copy, and the send that follows fits in the lease it just renewed
(`[jobs] lease_seconds` is checked against the send's longest run). Outside a job (the demo,
`quittance doctor`) there is no check. Kept free of project imports so every channel and
connector can call it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_check: ContextVar[Callable[[], None] | None] = ContextVar("handover_check", default=None)


def check_before_handover() -> None:
    """Raise (the check's error) when the document must not be handed over now."""
    check = _check.get()
    if check is not None:
        check()


@contextmanager
def handover_check(check: Callable[[], None]) -> Iterator[None]:
    token = _check.set(check)
    try:
        yield
    finally:
        _check.reset(token)
