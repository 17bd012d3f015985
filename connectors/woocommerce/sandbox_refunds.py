"""Refunds in WooCommerce's REST shape, for the sandbox: what `wc_create_refund` stores when the
owner refunds from the order screen, as `GET /orders/<id>/refunds` shows it.

A refund's items are copies of the order's items (name, product, SKU, meta) with negative
quantity, subtotal, total and taxes, and a `_refunded_item_id` meta naming the order item;
the refund's `amount` is positive; the order's summary entry `{id, reason, total}` is
negative. Lines are refunded as the order screen pre-fills them: the line's unit price after
discount, its VAT in proportion, each rounded to the cent.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from connectors.woocommerce.sandbox_orders import TAX_RATES, wc_dates

CENT = Decimal("0.01")
ZERO = Decimal(0)
REFUNDED_ITEM_META = "_refunded_item_id"


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _fmt(value: Decimal) -> str:
    return str(_cents(value))


def _dec(value: Any) -> Decimal:
    return Decimal(str(value)) if value not in (None, "") else ZERO


@dataclass(frozen=True)
class RefundRequest:
    """What the owner asks for on the order screen (`WooSandbox.add_refund`'s arguments)."""

    lines: Sequence[tuple[int, int]] = ()  # (index in the order's line_items, quantity)
    shipping: bool | Decimal = False  # True = all shipping; an amount = that much incl. VAT
    amount: Decimal | None = None  # given back on top of the lines, incl. VAT ("amount only")
    reason: str = ""
    method_refunded: bool = True  # through the gateway's API (else only recorded)


@dataclass
class RefundParts:
    """The refund's items as WooCommerce stores them, and what they add up to."""

    line_items: list[dict[str, Any]] = field(default_factory=list)
    shipping_lines: list[dict[str, Any]] = field(default_factory=list)
    taxes: dict[int, tuple[Decimal, Decimal]] = field(default_factory=dict)  # rid → (cart, ship)
    total: Decimal = ZERO  # incl. VAT


def refunded_so_far(order: Mapping[str, Any]) -> Decimal:
    """What the order's summary says was given back already (positive)."""
    return sum((-_dec(r.get("total")) for r in order.get("refunds") or []), ZERO)


def build_refund(
    order: Mapping[str, Any],
    request: RefundRequest,
    *,
    refund_id: int,
    ids: Callable[[], int],
    at: datetime,
    base_url: str,
) -> dict[str, Any]:
    """The refund record (`GET /orders/<id>/refunds/<refund_id>`). Raises ValueError as
    WooCommerce refuses: a refund of nothing, or more than what is left to refund."""
    parts = RefundParts()
    for index, quantity in request.lines:
        _add_product(parts, order, index, quantity, ids)
    if request.shipping is not False:
        _add_shipping(parts, order, request.shipping, ids)
    extra = Decimal(request.amount) if request.amount is not None else ZERO
    amount = parts.total + extra
    if amount <= 0:
        raise ValueError("Refund amount must be greater than zero.")
    if amount > _dec(order.get("total")) - refunded_so_far(order):
        raise ValueError("Invalid refund amount.")  # WooCommerce's own message
    order_id = int(order["id"])
    return {
        "id": refund_id,
        **wc_dates("date_created", at),
        "amount": _fmt(amount),
        "reason": request.reason,
        "refunded_by": 1,
        "refunded_payment": request.method_refunded,
        "meta_data": [],
        "line_items": parts.line_items,
        "tax_lines": _tax_lines(order, parts, ids),
        "shipping_lines": parts.shipping_lines,
        "fee_lines": [],
        "_links": _links(base_url, order_id, refund_id),
    }


def summary(refund: Mapping[str, Any]) -> dict[str, Any]:
    """The order's embedded `refunds[]` entry for this refund."""
    return {"id": refund["id"], "reason": refund["reason"], "total": f"-{refund['amount']}"}


def _add_product(
    parts: RefundParts,
    order: Mapping[str, Any],
    index: int,
    quantity: int,
    ids: Callable[[], int],
) -> None:
    items = order.get("line_items") or []
    if not 0 <= index < len(items):
        raise ValueError(f"order {order['id']} has no line_items[{index}]")
    item = items[index]
    bought = _dec(item.get("quantity"))
    if not 0 < quantity <= bought:
        raise ValueError(f"line_items[{index}]: cannot refund {quantity} of {bought}")
    share = Decimal(quantity) / bought
    total = _cents(_dec(item.get("total")) * share)
    taxes = {
        int(t["id"]): _cents(_dec(t.get("total")) * share)
        for t in item.get("taxes") or []
        if t.get("total") not in (None, "")
    }
    refunded = _copy_item(item, total, taxes, ids, subtotal_taxes=True)
    refunded["quantity"] = -quantity
    refunded["price"] = float(-total)  # WooCommerce: total / max(1, quantity)
    parts.line_items.append(refunded)
    _count(parts, total, taxes, shipping=False)


def _add_shipping(
    parts: RefundParts, order: Mapping[str, Any], how: bool | Decimal, ids: Callable[[], int]
) -> None:
    lines = order.get("shipping_lines") or []
    if not lines:
        raise ValueError(f"order {order['id']} has no shipping to refund")
    if how is True:
        for line in lines:
            taxes = {
                int(t["id"]): _dec(t.get("total"))
                for t in line.get("taxes") or []
                if t.get("total") not in (None, "")
            }
            _add_shipping_item(parts, line, _dec(line.get("total")), taxes, ids)
        return
    line = lines[0]
    total, taxes = _split_gross(Decimal(how), line, order)
    _add_shipping_item(parts, line, total, taxes, ids)


def _add_shipping_item(
    parts: RefundParts,
    line: Mapping[str, Any],
    total: Decimal,
    taxes: Mapping[int, Decimal],
    ids: Callable[[], int],
) -> None:
    parts.shipping_lines.append(_copy_item(line, total, taxes, ids, subtotal_taxes=False))
    _count(parts, total, taxes, shipping=True)


def _split_gross(
    gross: Decimal, line: Mapping[str, Any], order: Mapping[str, Any]
) -> tuple[Decimal, dict[int, Decimal]]:
    """An amount incl. VAT on a line → (excl. VAT, VAT per rate id) at the line's rates; the
    VAT is the remainder, so the two add up to `gross` exactly."""
    rates = {
        int(t["id"]): _percent(order, int(t["id"]))
        for t in line.get("taxes") or []
        if t.get("total") not in (None, "")
    }
    total_rate = sum(rates.values(), ZERO)
    excl = _cents(gross / (1 + total_rate / 100))
    vat = gross - excl
    taxes: dict[int, Decimal] = {}
    for n, (rid, rate) in enumerate(sorted(rates.items())):
        last = n == len(rates) - 1
        taxes[rid] = vat - sum(taxes.values(), ZERO) if last else _cents(vat * rate / total_rate)
    return excl, taxes


def _percent(order: Mapping[str, Any], rid: int) -> Decimal:
    for tax_line in order.get("tax_lines") or []:
        if tax_line.get("rate_id") == rid and tax_line.get("rate_percent") not in (None, ""):
            return Decimal(str(tax_line["rate_percent"]))
    if rid in TAX_RATES:
        return Decimal(TAX_RATES[rid]["rate"])
    raise ValueError(f"tax rate {rid} is not one the sandbox knows")


def _copy_item(
    item: Mapping[str, Any],
    total: Decimal,
    taxes: Mapping[int, Decimal],
    ids: Callable[[], int],
    *,
    subtotal_taxes: bool,
) -> dict[str, Any]:
    """The order item copied into the refund with negative amounts (`wc_create_refund`).
    Shipping and fee items keep no tax subtotal, as on the order."""
    refunded = copy.deepcopy(dict(item))
    refunded["id"] = ids()
    refunded["meta_data"] = [
        *copy.deepcopy(list(item.get("meta_data") or [])),
        {"id": ids(), "key": REFUNDED_ITEM_META, "value": str(item["id"])},
    ]
    tax = sum(taxes.values(), ZERO)
    refunded["total"], refunded["total_tax"] = _fmt(-total), _fmt(-tax)
    if "subtotal" in item:
        refunded["subtotal"], refunded["subtotal_tax"] = _fmt(-total), _fmt(-tax)
    refunded["taxes"] = [
        {"id": rid, "total": _fmt(-t), "subtotal": _fmt(-t) if subtotal_taxes else ""}
        for rid, t in taxes.items()
    ]
    return refunded


def _count(
    parts: RefundParts, total: Decimal, taxes: Mapping[int, Decimal], *, shipping: bool
) -> None:
    parts.total += total + sum(taxes.values(), ZERO)
    for rid, amount in taxes.items():
        cart, ship = parts.taxes.get(rid, (ZERO, ZERO))
        parts.taxes[rid] = (cart, ship + amount) if shipping else (cart + amount, ship)


def _tax_lines(
    order: Mapping[str, Any], parts: RefundParts, ids: Callable[[], int]
) -> list[dict[str, Any]]:
    """The refund's own tax lines (read-only in the REST answer), negative like its items."""
    by_rate = {tl.get("rate_id"): tl for tl in order.get("tax_lines") or []}
    lines = []
    for rid, (cart, ship) in sorted(parts.taxes.items()):
        source = by_rate.get(rid, {})
        lines.append(
            {
                "id": ids(),
                "rate_code": source.get("rate_code", ""),
                "rate_id": rid,
                "label": source.get("label", ""),
                "compound": False,
                "tax_total": _fmt(-cart),
                "shipping_tax_total": _fmt(-ship),
                "rate_percent": source.get("rate_percent"),
                "meta_data": [],
            }
        )
    return lines


def _links(base_url: str, order_id: int, refund_id: int) -> dict[str, Any]:
    api = f"{base_url}/wp-json/wc/v3/orders/{order_id}"
    return {
        "self": [{"href": f"{api}/refunds/{refund_id}"}],
        "collection": [{"href": f"{api}/refunds"}],
        "up": [{"href": api}],
    }
