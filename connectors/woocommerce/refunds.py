"""WooCommerce refunds (`GET /orders/<id>/refunds`) → the normalised `Refund`s of an order.

Pure functions, no I/O. What WooCommerce stores, and so what we read (`wc_create_refund`,
REST v3 order refunds; `tests/fixtures/woocommerce/wcdocs_v3_order_refund*.json`):

- A refund is an order of its own. Its `line_items`, `shipping_lines` and `fee_lines` are
  copies of the order's items with NEGATIVE quantity, subtotal, total and `taxes[].total`, each
  carrying a `_refunded_item_id` meta that names the order item it gives back. We turn them
  positive: a `RefundLine` is what went back, excl. VAT, like an order line.
- `refund_total` / `refund_tax` are what a refund POST takes (write-only in the docs); a
  payload that echoes them instead of `total` / `taxes` is read the same way.
- `amount` is positive and may be more than the items explain (an amount typed by hand, or
  no item at all): that part is credited pro rata downstream, never guessed here.
- `refunded_payment`: true when the gateway's API sent the money back (the method is then the
  order's gateway), false when the owner only recorded it (cash, a transfer made by hand).
- The order embeds a summary `refunds[{id, reason (older versions: refund), total: "-x"}]`:
  its ids tell polling whether anything changed; the detail is read only when it lists one.
- The VAT rate of a refunded tax is the order's (`tax_lines`, by rate id): the refund's
  items use the order's rate ids.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from bridge.model import LineKind, Nature, Refund, RefundLine, TaxLine
from connectors.woocommerce.tax_rates import derive_rate
from connectors.woocommerce.values import ZERO, MappingError, dec, order_date, text

# `Refund.method` of a refund recorded by the owner without the gateway moving the money.
MANUAL = "manual"
REFUNDED_ITEM_META = "_refunded_item_id"
# Which refund collection holds which kind of line, and the name a nameless one gets.
_KINDS = (
    ("line_items", LineKind.product, "name", "Article"),
    ("shipping_lines", LineKind.shipping, "method_title", "Livraison"),
    ("fee_lines", LineKind.fee, "name", "Frais"),
)
_NEVER = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class RefundContext:
    """What a refund's own payload does not say and its order does."""

    percents: Mapping[int, Decimal] = field(default_factory=dict)  # rate id → VAT percent
    labels: Mapping[int, str] = field(default_factory=dict)  # rate id → label
    gateway: str = ""  # the order's payment method title: where gateway refunds went back
    natures: Mapping[str, Nature] = field(default_factory=dict)  # order item id → nature


def refund_ids(raw_order: Mapping[str, Any]) -> frozenset[str]:
    """The ids of the refunds the order's embedded summary lists (strings, as `is_known`
    compares them)."""
    return frozenset(
        str(summary["id"])
        for summary in raw_order.get("refunds") or []
        if isinstance(summary, Mapping) and summary.get("id") not in (None, "")
    )


def map_refunds(details: Iterable[Any], ctx: RefundContext) -> list[Refund]:
    """Every refund of an order, oldest first (WooCommerce lists them newest first)."""
    refunds = [map_refund(raw, ctx) for raw in details if isinstance(raw, Mapping)]
    return sorted(refunds, key=_chronological)


def map_refund(raw: Mapping[str, Any], ctx: RefundContext | None = None) -> Refund:
    """One `GET /orders/<id>/refunds` entry → a `Refund` (positive amounts)."""
    ctx = ctx or RefundContext()
    if raw.get("id") in (None, ""):
        raise MappingError("refund without an `id`")
    where = f"refunds[{raw['id']}]"
    # `total` is the embedded summary's name for it (negative there).
    amount = raw.get("amount") if raw.get("amount") not in (None, "") else raw.get("total")
    return Refund(
        refund_id=str(raw["id"]),
        amount=abs(dec(amount, f"{where}.amount")),
        reason=text(raw.get("reason")),
        created_at=order_date(raw, "date_created"),
        lines=[
            _refund_line(item, kind, name_key, fallback, ctx, f"{where}.{key}[{i}]")
            for key, kind, name_key, fallback in _KINDS
            for i, item in enumerate(raw.get(key) or [])
            if isinstance(item, Mapping)
        ],
        method=_method(raw, ctx),
    )


def _chronological(refund: Refund) -> tuple[datetime, int, str]:
    rid = refund.refund_id
    return (refund.created_at or _NEVER, int(rid) if rid.isdigit() else 0, rid)


def _method(raw: Mapping[str, Any], ctx: RefundContext) -> str:
    # Only a literal true: a refund recorded by hand says false, an old payload nothing.
    return ctx.gateway if raw.get("refunded_payment") is True else MANUAL


def _refund_line(
    item: Mapping[str, Any],
    kind: LineKind,
    name_key: str,
    fallback: str,
    ctx: RefundContext,
    where: str,
) -> RefundLine:
    line_ref = _refunded_item_id(item)
    amount = _positive(item, "total", "refund_total", where)
    product = kind is LineKind.product
    name = text(item.get(name_key))
    if not name:
        name = f"{fallback} {item.get('product_id') or ''}".strip() if product else fallback
    return RefundLine(
        kind=kind,
        name=name,
        sku=text(item.get("sku")),
        # Shipping and fees have no quantity: what they give back is an amount.
        quantity=abs(dec(item.get("quantity"), f"{where}.quantity")) if product else ZERO,
        amount=amount,
        taxes=_refund_taxes(item, amount, ctx, where),
        nature=ctx.natures.get(line_ref, Nature.goods) if product else Nature.goods,
        line_ref=line_ref,
    )


def _refunded_item_id(item: Mapping[str, Any]) -> str:
    for meta in item.get("meta_data") or []:
        if isinstance(meta, Mapping) and meta.get("key") == REFUNDED_ITEM_META:
            return text(meta.get("value"))
    return ""


def _positive(item: Mapping[str, Any], key: str, echoed: str, where: str) -> Decimal:
    value = item.get(key)
    if value in (None, ""):
        value = item.get(echoed)
    return abs(dec(value, f"{where}.{key}"))


def _refund_taxes(
    item: Mapping[str, Any], base: Decimal, ctx: RefundContext, where: str
) -> list[TaxLine]:
    taxes: list[TaxLine] = []
    for tax in _tax_entries(item):
        if tax.get("id") in (None, ""):
            continue
        value = tax.get("total") if tax.get("total") not in (None, "") else tax.get("refund_total")
        if value in (None, ""):
            continue  # "" = this rate does not apply to the line, as on the order's items
        rid = int(tax["id"])
        amount = abs(dec(value, f"{where}.taxes[{rid}].total"))
        rate = _rate(rid, amount, base, ctx, where)
        taxes.append(TaxLine(rate=rate, amount=amount, label=ctx.labels.get(rid, "")))
    if not taxes:  # no per-rate split: an untaxed line, or a plugin that fills total_tax only
        total_tax = abs(dec(item.get("total_tax"), f"{where}.total_tax"))
        if total_tax:
            taxes.append(TaxLine(rate=derive_rate(total_tax, base) or ZERO, amount=total_tax))
    return taxes


def _tax_entries(item: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """`taxes[]` as WooCommerce answers, else `refund_tax[]` as a refund POST writes it."""
    entries = item.get("taxes") or item.get("refund_tax") or []
    if isinstance(entries, Mapping):  # `refund_tax` may be keyed by rate id
        entries = [{"id": rid, "total": value} for rid, value in entries.items()]
    return [e for e in entries if isinstance(e, Mapping)]


def _rate(rid: int, amount: Decimal, base: Decimal, ctx: RefundContext, where: str) -> Decimal:
    if rid in ctx.percents:
        return ctx.percents[rid]
    # A rate id the order does not list (its tax line was removed): the refund's own
    # amounts say which rate it was, as for an old order without rate_percent.
    derived = derive_rate(amount, base)
    if derived is None and amount == 0:
        return ZERO  # nothing given back at that rate: no rate to tell
    if derived is None:
        raise MappingError(f"{where}: tax rate id {rid} is not in the order's tax_lines")
    return derived
