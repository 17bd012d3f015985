"""WooCommerce REST v3 order JSON → the normalised `Order`, and the "is it paid?" rule.

Pure functions, no I/O: the connector fetches, this module translates. Written against every
payload in `tests/fixtures/woocommerce/` (WooCommerce 3.0 docs, 5.9 and 8.0 webhook bodies).

What WooCommerce gives, and what we take:

- Amounts arrive as strings ("6.00", "0.9") or numbers (`price: 3`); both are read through
  `dec()`, never through float arithmetic.
- Line `subtotal`/`total` are EXCLUDING tax whatever `prices_include_tax` says (WooCommerce
  stores line amounts excl. tax and formats them to the shop's decimals), so
  `Line.subtotal = subtotal` and `Line.discount = subtotal - total` (coupons).
- Per-line taxes come from the line's `taxes[]` (`{id, total, subtotal}`), whose `id` is the
  `rate_id` of an entry of the order's `tax_lines`. The rate percent is `tax_lines[].rate_percent`
  (WooCommerce ≥ 3.7). Older payloads have no percent: the connector then asks
  `GET /taxes/<id>` once per rate (cached), and when that is not possible either we derive it
  from the order itself — Σ tax / Σ base over every line taxed at that rate id, snapped to a
  known VAT rate when within rounding error (see `derive_rate`). The per-line tax AMOUNTS are
  always the platform's: we never recompute them.
- Dates: only the `*_gmt` fields are trusted (naive strings in UTC). A payload without them
  (very old WooCommerce) falls back to the local field read as UTC.
- Refunds are read in detail from `GET /orders/<id>/refunds` (the connector fetches them,
  `connectors.woocommerce.refunds` maps them); the order's own `refunds[]` is a summary.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from bridge.model import Address, Coupon, Line, LineKind, Nature, Order, Party, Payment, TaxLine
from connectors.operation_dates import find_operation_date, property_names
from connectors.woocommerce.natures import ProductFacts, ServiceRules, line_nature
from connectors.woocommerce.refunds import RefundContext, map_refunds, refund_ids
from connectors.woocommerce.tax_rates import (
    line_taxes,
    rate_table,
)
from connectors.woocommerce.values import (
    ZERO,
    MappingError,
    dec,
    meta_value,
    order_date,
    text,
)

PLATFORM = "woocommerce"
CENT = Decimal("0.01")
HALF_CENT = Decimal("0.005")

# Cash on delivery: the money is only in hand once the parcel is delivered (status completed).
COD_METHODS = frozenset({"cod"})
# Whatever the shop's paid statuses: an order can only be fully refunded after it was paid.
REFUNDED = "refunded"
# Meta key / REST field of the "PDF Invoices & Packing Slips" plugin (a second numbering series).
WCPDF_META_KEYS = ("_wcpdf_invoice_number", "wpo_wcpdf_invoice_number")
WCPDF_FIELDS = ("wpo_wcpdf_invoice_number", "wcpdf_invoice_number")


# --------------------------------------------------------------------------------------------
# Scalars


# --------------------------------------------------------------------------------------------
# Paid rule


@dataclass(frozen=True)
class PaidVerdict:
    paid: bool
    reason: str = ""
    paid_at: datetime | None = None


def paid_verdict(raw: Mapping[str, Any], paid_statuses: Sequence[str]) -> PaidVerdict:
    """Paid = status in `paid_statuses` AND `date_paid_gmt` set; cash on delivery only once
    `completed` (where WooCommerce may leave `date_paid` empty: then `date_completed_gmt` is the
    day the cash was received). Bank transfer/cheque sit `on-hold` until the owner marks them.
    A `refunded` order was paid when it says so: it gets its invoice, then its credit notes."""
    status = str(raw.get("status") or "").removeprefix("wc-")
    method = str(raw.get("payment_method") or "")
    paid_at = order_date(raw, "date_paid")
    if status == REFUNDED:
        return _refunded_verdict(raw, method, paid_at)
    if status not in paid_statuses:
        hint = ""
        if status == "on-hold" and method in ("bacs", "cheque"):
            hint = " (bank transfer/cheque waiting: mark it Processing once the money arrived)"
        return PaidVerdict(False, f"status {status or '?'} is not a paid status{hint}")
    if method in COD_METHODS:
        if status != "completed":
            return PaidVerdict(
                False, f"cash on delivery in status {status}: paid only once completed"
            )
        paid_at = paid_at or order_date(raw, "date_completed")
    if paid_at is None:
        return PaidVerdict(False, f"status {status} but date_paid_gmt is empty: not paid yet")
    return PaidVerdict(True, "", paid_at)


def _refunded_verdict(raw: Mapping[str, Any], method: str, paid_at: datetime | None) -> PaidVerdict:
    """Fully refunded: paid once if the money came in. WooCommerce sets `date_paid` as an
    order reaches processing, cash on delivery included, so for cash on delivery only a
    completed date says the cash was received."""
    if method in COD_METHODS:
        completed = order_date(raw, "date_completed")
        paid_at = (paid_at or completed) if completed else None
    if paid_at is None:
        return PaidVerdict(False, "status refunded but it was never paid (no date_paid_gmt)")
    return PaidVerdict(True, "", paid_at)


def wcpdf_invoice_number(raw: Mapping[str, Any]) -> str:
    """The number the PDF Invoices & Packing Slips plugin gave this order ("" = none)."""
    for name in WCPDF_FIELDS:
        value = raw.get(name)
        if isinstance(value, str | int) and str(value).strip():
            return str(value).strip()
    return meta_value(raw, WCPDF_META_KEYS)


# --------------------------------------------------------------------------------------------
# Tax rates


# --------------------------------------------------------------------------------------------
# Lines


def _attributes(item: Mapping[str, Any], skip: str = "") -> dict[str, str]:
    """Variation attributes and visible item meta (hidden keys start with "_"); `skip` is the
    meta read as the date of the operation, printed as such rather than as an attribute."""
    attrs: dict[str, str] = {}
    for meta in item.get("meta_data") or []:
        if not isinstance(meta, Mapping):
            continue
        key = str(meta.get("key") or "")
        if not key or key.startswith("_"):
            continue
        if skip and skip in (key, meta.get("display_key")):
            continue
        value = meta.get("display_value", meta.get("value"))
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            continue
        label = meta.get("display_key") or key
        if label == key and key.startswith("pa_"):
            label = key[3:].replace("-", " ").replace("_", " ").capitalize()
        attrs[text(label)] = re.sub(r"<[^>]+>", "", text(value))
    return attrs


def _meta_pairs(item: Mapping[str, Any]) -> list[tuple[str, object]]:
    """(name, value) of each item meta, under its key and its display key: a plugin's raw
    value ("2026-12-12") is tried before the text it shows ("12 décembre 2026")."""
    pairs: list[tuple[str, object]] = []
    for meta in item.get("meta_data") or []:
        if isinstance(meta, Mapping):
            for name in dict.fromkeys((meta.get("key"), meta.get("display_key"))):
                if isinstance(name, str) and name:
                    pairs += [(name, meta.get("value")), (name, meta.get("display_value"))]
    return pairs


def _product_line(
    item: Mapping[str, Any],
    i: int,
    percents: Mapping[int, Decimal],
    labels: Mapping[int, str],
    opts: MappingOptions,
) -> Line:
    where = f"line_items[{i}]"
    quantity = dec(item.get("quantity"), f"{where}.quantity")
    subtotal = dec(item.get("subtotal"), f"{where}.subtotal")
    total = dec(item.get("total"), f"{where}.total")
    when, date_meta = find_operation_date(
        _meta_pairs(item), property_names(opts.operation_date_property)
    )
    return Line(
        kind=LineKind.product,
        name=text(item.get("name")) or f"Article {item.get('product_id', '')}".strip(),
        sku=text(item.get("sku")),
        attributes=_attributes(item, skip=date_meta),
        quantity=quantity,
        subtotal=subtotal,
        discount=subtotal - total,
        taxes=line_taxes(item, percents, labels, where),
        nature=line_nature(item, opts.products, opts.service_rules),
        operation_date=when,
    )


def _shipping_line(
    item: Mapping[str, Any], i: int, percents: Mapping[int, Decimal], labels: Mapping[int, str]
) -> Line:
    where = f"shipping_lines[{i}]"
    return Line(
        kind=LineKind.shipping,
        name=text(item.get("method_title")) or "Livraison",
        subtotal=dec(item.get("total"), f"{where}.total"),
        taxes=line_taxes(item, percents, labels, where),
    )


def _fee_lines(
    item: Mapping[str, Any], i: int, percents: Mapping[int, Decimal], labels: Mapping[int, str]
) -> list[Line]:
    """A fee, or a discount when its total is negative (discount plugins add a negative fee).

    WooCommerce (≥ 3.2) spreads a negative fee's VAT over the order's tax classes in
    proportion to what each class sells, whatever the fee's own tax class, so that it works
    as a true discount: one fee then carries several rates, each on its share of the total,
    and a share on the untaxed items carries none. Such a fee becomes one negative line per
    rate (and one untaxed line for the untaxed share), each base recovered from its VAT, so
    that each line's VAT is its rate of its base and the VAT breakdown per rate is right.
    """
    where = f"fee_lines[{i}]"
    total = dec(item.get("total"), f"{where}.total")
    name = text(item.get("name")) or ("Remise" if total < 0 else "Frais")
    taxes = line_taxes(item, percents, labels, where)
    whole = Line(kind=LineKind.fee, name=name, subtotal=total, taxes=taxes)
    if total >= 0 or _vat_matches(total, taxes):
        return [whole]
    return _negative_fee_by_rate(name, total, taxes)


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _vat_matches(base: Decimal, taxes: Sequence[TaxLine]) -> bool:
    """The taxes are their rates of the whole base, within the cent a platform's rounding
    leaves (the tolerance the invoicing checks apply to a line)."""
    rate = sum((t.rate for t in taxes), ZERO)
    tax = sum((t.amount for t in taxes), ZERO)
    return abs(_cents(tax) - _cents(base * rate / 100)) <= CENT


def _negative_fee_by_rate(name: str, total: Decimal, taxes: Sequence[TaxLine]) -> list[Line]:
    """One line per rate, highest first, then the untaxed share if there is one."""
    vat: dict[Decimal, Decimal] = {}
    label: dict[Decimal, str] = {}
    for tax in taxes:
        if tax.rate > 0:
            vat[tax.rate] = vat.get(tax.rate, ZERO) + tax.amount
            label.setdefault(tax.rate, tax.label)
    if not vat:  # only 0 % taxes that do not add up: the invoicing checks will say so
        return [Line(kind=LineKind.fee, name=name, subtotal=total, taxes=list(taxes))]
    # Each rate's share of the fee is its VAT / rate. A VAT given to the cent knows its base
    # only to within half a cent / rate (0,025 € at 20 %, 0,09 € at 5,5 %): a remainder within
    # that is rounding; beyond it, the fee also discounted untaxed items.
    bases = {rate: _cents(amount * 100 / rate) for rate, amount in vat.items()}
    rest = total - sum(bases.values(), ZERO)
    noise = sum((HALF_CENT * 100 / rate for rate in bases), ZERO) + CENT
    if abs(rest) <= noise:
        bases[min(bases)] += rest  # the lowest rate: where a cent of base moves VAT the least
        rest = ZERO
    lines = [
        Line(
            kind=LineKind.fee,
            name=name,
            subtotal=bases[rate],
            taxes=[TaxLine(rate=rate, amount=vat[rate], label=label[rate])],
        )
        for rate in sorted(bases, reverse=True)
    ]
    if rest:
        lines.append(Line(kind=LineKind.fee, name=name, subtotal=rest))
    return lines


# --------------------------------------------------------------------------------------------
# Parties


def _address(block: Any) -> Address:
    if not isinstance(block, Mapping):
        return Address(country="")
    names = (text(block.get("first_name")), text(block.get("last_name")))
    return Address(
        name=" ".join(part for part in names if part),
        company=text(block.get("company")),
        line1=text(block.get("address_1")),
        line2=text(block.get("address_2")),
        postcode=text(block.get("postcode")),
        city=text(block.get("city")),
        state=text(block.get("state")),
        country=text(block.get("country")),
    )


def _billing_field(raw: Mapping[str, Any], keys: Iterable[str]) -> str:
    billing = raw.get("billing") if isinstance(raw.get("billing"), Mapping) else {}
    for key in keys:
        bare = key.lstrip("_").removeprefix("billing_")
        value = billing.get(bare) if billing else None
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""


@dataclass(frozen=True)
class MappingOptions:
    """The per-shop knobs of the mapping (from `WooCommerceShop`)."""

    shop: str
    vat_meta_keys: Sequence[str] = ("_billing_vat_number", "_vat_number", "vat_number")
    siren_meta_keys: Sequence[str] = ("_billing_siren", "billing_siren", "siren")
    # The buyer's electronic address for structured invoices (EN 16931 BT-49), "0225:<siren>"
    # or a bare identifier, where a B2B checkout field plugin stores it.
    electronic_address_meta_keys: Sequence[str] = (
        "_billing_electronic_address",
        "billing_electronic_address",
        "electronic_address",
    )
    locale_meta_keys: Sequence[str] = ("wpml_language", "_locale", "locale", "pll_language")
    default_locale: str = ""
    paid_statuses: Sequence[str] = ("processing", "completed")
    known_rates: dict[int, Decimal] = field(default_factory=dict)
    # Goods or services (see natures.py): the catalogue entries the connector could read, by
    # post id, and the shop's rules. Neither given: every line is goods.
    products: Mapping[int, ProductFacts] = field(default_factory=dict)
    service_rules: ServiceRules = field(default_factory=ServiceRules)
    operation_date_property: str = ""  # the shop's own line meta holding the date


def _customer(raw: Mapping[str, Any], opts: MappingOptions) -> Party:
    billing = raw.get("billing") if isinstance(raw.get("billing"), Mapping) else {}
    bill_addr = _address(billing)
    ship_addr = _address(raw.get("shipping"))
    shipping = None if ship_addr.is_empty() or ship_addr == bill_addr else ship_addr
    vat = meta_value(raw, opts.vat_meta_keys) or _billing_field(raw, opts.vat_meta_keys)
    siren = meta_value(raw, opts.siren_meta_keys) or _billing_field(raw, opts.siren_meta_keys)
    address_keys = opts.electronic_address_meta_keys
    electronic = meta_value(raw, address_keys) or _billing_field(raw, address_keys)
    return Party(
        first_name=text(billing.get("first_name")),
        last_name=text(billing.get("last_name")),
        company=text(billing.get("company")),
        email=text(billing.get("email")),
        phone=text(billing.get("phone")),
        vat_number=re.sub(r"[\s.\-]", "", vat).upper(),
        siren=re.sub(r"\D", "", siren),
        electronic_address=electronic.strip(),
        billing=bill_addr,
        shipping=shipping,
    )


def _locale(raw: Mapping[str, Any], opts: MappingOptions) -> str:
    value = meta_value(raw, opts.locale_meta_keys)
    return value.replace("-", "_") if value else opts.default_locale


# --------------------------------------------------------------------------------------------
# The order


def map_order(
    raw: Mapping[str, Any],
    opts: MappingOptions,
    refunds: Sequence[Mapping[str, Any]] | None = None,
) -> Order:
    """Translate one WooCommerce order. Raises `MappingError` naming the bad field.

    `refunds` is its `GET /orders/<id>/refunds` answer, required when the order's summary
    lists any: a credit note needs what each refund gave back, which the summary omits.

    `payment.paid_at` of an order that is not paid yet is its creation date (the model needs
    one); such an order is never issued — `paid_verdict` says so and the pipeline obeys."""
    if not isinstance(raw, Mapping) or raw.get("id") in (None, ""):
        raise MappingError("not a WooCommerce order: no `id`")
    try:
        percents, labels = rate_table(raw, opts.known_rates)
        lines: list[Line] = []
        for i, item in enumerate(raw.get("line_items") or []):
            lines.append(_product_line(item, i, percents, labels, opts))
        for i, item in enumerate(raw.get("shipping_lines") or []):
            lines.append(_shipping_line(item, i, percents, labels))
        for i, item in enumerate(raw.get("fee_lines") or []):
            lines.extend(_fee_lines(item, i, percents, labels))
        coupons = [
            Coupon(code=text(c.get("code")), amount=dec(c.get("discount"), "coupon.discount"))
            for c in raw.get("coupon_lines") or []
            if isinstance(c, Mapping)
        ]
        gateway = text(raw.get("payment_method_title")) or text(raw.get("payment_method"))
        context = RefundContext(percents, labels, gateway, _natures(raw, opts))
        mapped_refunds = map_refunds(_refund_details(raw, refunds), context)
        created = order_date(raw, "date_created")
        if created is None:
            raise MappingError("date_created_gmt is missing")
        verdict = paid_verdict(raw, opts.paid_statuses)
        total = dec(raw.get("total"), "total")
        number = text(raw.get("number")) or str(raw["id"])
        return Order(
            shop=opts.shop,
            platform=PLATFORM,
            order_id=str(raw["id"]),
            reference=f"#{number}",
            created_at=created,
            currency=text(raw.get("currency")) or "EUR",
            prices_include_tax=bool(raw.get("prices_include_tax")),
            customer=_customer(raw, opts),
            locale=_locale(raw, opts),
            lines=lines,
            coupons=coupons,
            total=total,
            total_tax=dec(raw.get("total_tax"), "total_tax"),
            payment=Payment(
                method=text(raw.get("payment_method")),
                method_label=text(raw.get("payment_method_title")),
                paid_at=verdict.paid_at or created,
                transaction_ref=text(raw.get("transaction_id")),
                amount=total,
            ),
            refunds=mapped_refunds,
        )
    except MappingError:
        raise
    except (ValueError, TypeError, KeyError) as exc:  # pydantic ValidationError is a ValueError
        raise MappingError(f"order {raw.get('id')}: {exc}") from exc


def _refund_details(
    raw: Mapping[str, Any], refunds: Sequence[Mapping[str, Any]] | None
) -> Sequence[Mapping[str, Any]]:
    if refunds is not None:
        return refunds
    listed = refund_ids(raw)
    if listed:  # amount-only refunds made up from the summary would credit the wrong VAT
        raise MappingError(
            f"order {raw.get('id')} lists refunds {sorted(listed)} but their detail "
            f"(GET orders/{raw.get('id')}/refunds) was not read"
        )
    return []


def _natures(raw: Mapping[str, Any], opts: MappingOptions) -> dict[str, Nature]:
    """Order item id → goods or services: a refunded item is what the order sold."""
    return {
        str(item.get("id")): line_nature(item, opts.products, opts.service_rules)
        for item in raw.get("line_items") or []
        if isinstance(item, Mapping) and item.get("id") not in (None, "")
    }


@dataclass(frozen=True)
class Note:
    id: int
    note: str
    customer_note: bool
    created_at: datetime | None


def map_note(raw: Mapping[str, Any]) -> Note:
    """An order note (`GET/POST /orders/<id>/notes`)."""
    return Note(
        id=int(raw.get("id") or 0),
        note=text(raw.get("note")),
        customer_note=bool(raw.get("customer_note")),
        created_at=order_date(raw, "date_created"),
    )


@dataclass(frozen=True)
class Webhook:
    id: int
    name: str
    status: str  # active | paused | disabled
    topic: str
    delivery_url: str


def map_webhook(raw: Mapping[str, Any]) -> Webhook:
    """A webhook as `GET/POST /webhooks` return it."""
    return Webhook(
        id=int(raw.get("id") or 0),
        name=text(raw.get("name")),
        status=str(raw.get("status") or ""),
        topic=str(raw.get("topic") or ""),
        delivery_url=str(raw.get("delivery_url") or ""),
    )
