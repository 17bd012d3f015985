"""Errors the store raises on purpose (everything else is a SQLAlchemy error)."""

from __future__ import annotations

from bridge.failures import StepError


class StoreError(StepError):
    """Base class of the store's own errors: refusals a retry would meet again."""

    transient = False
    show_type = True


class InvoiceImmutableError(StoreError):
    """An issued invoice (or the event log) was about to be changed or deleted.

    Raised for refusals by the store's own checks and for refusals by the database triggers
    (see `engine._translate_immutability`), so callers see one type whatever layer said no.
    """


# Marker the database triggers put in their error message: the one thing we can match on in
# both dialects (SQLite has no SQLSTATE for RAISE(ABORT, ...)).
IMMUTABLE_MARKER = "quittance-immutable"
