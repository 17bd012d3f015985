"""The scalars of a WooCommerce payload, read strictly: amounts as Decimal (never float), GMT
dates, text, meta values; `MappingError` names the field that is wrong."""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

ZERO = Decimal(0)


class MappingError(ValueError):
    """The payload cannot be turned into an order (the message says which field and why)."""


def dec(value: Any, where: str = "amount") -> Decimal:
    """A WooCommerce amount: "6.00", "0.9", 3, 8.6, "" or None (= 0)."""
    if value is None or value == "":
        return ZERO
    if isinstance(value, bool):
        raise MappingError(f"{where}: expected an amount, got {value!r}")
    if isinstance(value, float):
        value = repr(value)
    try:
        result = Decimal(str(value).strip())
    except InvalidOperation:
        raise MappingError(f"{where}: expected an amount, got {value!r}") from None
    if not result.is_finite():
        raise MappingError(f"{where}: expected an amount, got {value!r}")
    return result


def parse_gmt(value: Any) -> datetime | None:
    """A WooCommerce `*_gmt` date ("2017-03-22T19:28:08", naive = UTC) → aware UTC datetime."""
    if value in (None, "") or not isinstance(value, str):
        return None
    text = value.strip().replace(" ", "T")
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise MappingError(
            f"date: expected an ISO date such as 2026-11-27T10:00:00, got {value!r}"
        ) from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def order_date(raw: Mapping[str, Any], name: str) -> datetime | None:
    """`date_paid` → `date_paid_gmt` (fallback: the local field, read as UTC)."""
    found = parse_gmt(raw.get(f"{name}_gmt"))
    if found is None and f"{name}_gmt" not in raw:
        found = parse_gmt(raw.get(name))
    return found


def text(value: Any) -> str:
    """Plain text from WooCommerce strings (names carry HTML entities such as &ndash;)."""
    if value is None:
        return ""
    return html.unescape(str(value)).strip()


def meta_value(raw: Mapping[str, Any], keys: Iterable[str]) -> str:
    """The first non-empty scalar value among `keys` in the order's `meta_data`."""
    meta = {}
    for item in raw.get("meta_data") or []:
        if isinstance(item, Mapping) and "key" in item:
            value = item.get("value")
            if isinstance(value, str | int | float) and str(value).strip():
                meta.setdefault(str(item["key"]), str(value).strip())
    for key in keys:
        if key in meta:
            return meta[key]
    return ""
