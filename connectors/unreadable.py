"""Why a paid order could not be read: one sentence naming the field, for the owner.

A mapping failure must reach the owner as "customer.billing.country: 'India' is not …", not as
pydantic's multi-line dump with its documentation links; the order is then quarantined with
that reason (the raw payload is kept), never left to kill a job or stall the shop's polling.
Every connector returns such an order as `fetched_unreadable` builds it.
"""

from __future__ import annotations

from collections.abc import Mapping

import structlog
from pydantic import ValidationError

from connectors.base import FetchedOrder

log = structlog.get_logger()

MAX_INPUT_SHOWN = 40


def fetched_unreadable(
    shop: str, raw: Mapping[str, object], order_id: str, exc: Exception
) -> FetchedOrder:
    """A paid order of `shop` that could not be read, for quarantine: `raw` is kept with it."""
    # The exception's type is logged: a KeyError's message alone is a bare field name.
    log.warning("order not readable", shop=shop, order=order_id,
                error_type=type(exc).__name__, err=str(exc))  # fmt: skip
    return FetchedOrder(None, True, unreadable_reason(exc), raw, order_id)


def unreadable_reason(exc: BaseException) -> str:
    """The owner's sentence for an exception raised while mapping an order."""
    validation = _validation_error(exc)
    if validation is None:
        text = str(exc).strip() or type(exc).__name__
        return f"cannot read the order: {text}"
    # A connector may build a part (an `Address`) on its own: its title says which model.
    model = "" if validation.title == "Order" else validation.title
    errors = validation.errors(include_url=False)
    fields = "; ".join(_describe(model, error) for error in errors)
    return f"cannot read the order: {fields}"


def _validation_error(exc: BaseException) -> ValidationError | None:
    seen: BaseException | None = exc
    while seen is not None:  # a connector's MappingError wraps pydantic's error as its cause
        if isinstance(seen, ValidationError):
            return seen
        seen = seen.__cause__
    return None


def _describe(model: str, error: object) -> str:
    details = error if isinstance(error, dict) else {}
    where = (
        ".".join(
            [model, *(str(part) for part in details.get("loc", ()))]
            if model
            else [str(part) for part in details.get("loc", ())]
        )
        or "order"
    )
    message = str(details.get("msg", "invalid"))
    message = message.removeprefix("Value error, ")
    shown = repr(details.get("input"))
    if len(shown) > MAX_INPUT_SHOWN:
        shown = shown[: MAX_INPUT_SHOWN - 1] + "…"
    return f"{where}: {message} (got {shown})"
