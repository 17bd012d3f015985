"""Shopify payloads → the normalised `Order`. Pure functions, no I/O.

The canonical input is a GraphQL Admin `Order` node as selected by
`connectors.shopify.queries.ORDER_FIELDS`. REST-shaped payloads (the `orders/paid` webhook body,
old REST fixtures) are first converted to that shape by `rest_order_to_node`, so there is only
one mapping to keep right.

Decisions (see also the connector's docstring):

* **Currency**: the invoice is in the currency the customer PAID (`presentmentMoney`,
  `presentmentCurrencyCode`). When that differs from the shop currency and the shop currency is
  EUR, the shop-money total and tax go to `Order.shop_currency_total` / `shop_currency_tax`
  (the invoice prints them as the euro counter-value). A non-EUR shop currency is not
  converted (the invoice builder labels that figure EUR).
* **Amounts excl. VAT**: Shopify's per-line `taxLines` are the truth. With `taxesIncluded`,
  a line's total excl. VAT is gross − discount − tax; the discount excl. VAT is the gross
  discount scaled by the line's net/gross ratio, so `subtotal − discount` stays exact.
* **Discounts**: every discount (order-level codes included) reaches the lines as
  `discountAllocations`; shipping discounts reach shipping lines the same way.
* **Paid**: `displayFinancialStatus` PAID, PARTIALLY_REFUNDED or REFUNDED (a refunded order
  was paid first: it gets its invoice, and its refunds their credit notes), not a test order,
  and a successful SALE or CAPTURE transaction (the payment date and gateway come from it).
* **Refunds** (`map_refund`): read one by one with `queries.REFUND_QUERY`, in the same money
  as the order (presentment). The amount is what the successful REFUND transactions paid
  back; lines come from refund line items and refund shipping lines, excl. VAT with the VAT
  Shopify computed, at the rates of the order line they refund. Order adjustments are the
  gap between the lines and the money: they stay out of the lines (credited pro rata).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from bridge.model import (
    Address,
    Coupon,
    Line,
    LineKind,
    Nature,
    Order,
    Party,
    Payment,
    Refund,
    RefundLine,
    TaxLine,
)
from connectors.operation_dates import find_operation_date, property_names

CENT = Decimal("0.01")
ZERO = Decimal(0)
GID_ORDER = "gid://shopify/Order/"
PAID_STATUSES = frozenset({"PAID", "PARTIALLY_REFUNDED", "REFUNDED"})
PAYMENT_KINDS = frozenset({"SALE", "CAPTURE"})
# Order custom attributes ("note attributes") where a B2B checkout app may put the buyer's ids.
# Tuples, not sets: the first key found wins, and that must not depend on the process.
VAT_KEYS = ("vat_number", "tva_intracom", "numero_tva", "vat_id", "vat", "tva")
SIREN_KEYS = ("siren", "siret")
# The buyer's electronic address for structured invoices (EN 16931 BT-49): "0225:<siren>".
ELECTRONIC_ADDRESS_KEYS = ("electronic_address", "adresse_electronique", "einvoice_address")


class MappingError(ValueError):
    """The payload lacks something an invoice needs; the message names the field."""


# --------------------------------------------------------------------------------------------
# Small helpers


def order_gid(ref: str | int) -> str:
    """'450789469', 450789469 or 'gid://shopify/Order/450789469' → the order's GraphQL id."""
    text = str(ref).strip()
    if text.startswith(GID_ORDER):
        return text
    if text.isascii() and text.isdigit():  # isdigit() alone accepts "²" and "١٢٣"
        return GID_ORDER + text
    raise MappingError(f"not a Shopify order id: {text!r}")


def numeric_id(gid: str) -> str:
    """'gid://shopify/Order/450789469?x=1' → '450789469'."""
    return str(gid).rsplit("/", 1)[-1].split("?", 1)[0]


def dec(value: Any, what: str = "amount") -> Decimal:
    if value is None or value == "":
        return ZERO
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise MappingError(f"{what}: {value!r} is not a number") from None


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def parse_time(value: Any, what: str) -> datetime:
    if not value:
        raise MappingError(f"{what} is missing")
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise MappingError(f"{what}: {value!r} is not an ISO date-time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def money(bag: Mapping[str, Any] | None, presentment: bool = True) -> Decimal:
    """Amount of a GraphQL MoneyBag, in presentment (customer) or shop money."""
    if not bag:
        return ZERO
    order = ("presentmentMoney", "shopMoney") if presentment else ("shopMoney", "presentmentMoney")
    for key in order:
        part = bag.get(key)
        if part and part.get("amount") is not None:
            return dec(part["amount"], key)
    return ZERO


def rate_percent(tax: Mapping[str, Any]) -> Decimal:
    """Percent from `ratePercentage` (20.0) or `rate` (0.2), tidy: 20, 5.5."""
    if tax.get("ratePercentage") is not None:
        value = dec(tax["ratePercentage"], "ratePercentage")
    else:
        value = dec(tax.get("rate"), "rate") * 100
    value = value.quantize(Decimal("0.001"), rounding=ROUND_HALF_UP)
    if value == value.to_integral_value():
        return value.quantize(Decimal(1))
    return value.normalize()


def edges(connection: Any) -> list[dict[str, Any]]:
    """Nodes of a GraphQL connection (also accepts a plain list)."""
    if connection is None:
        return []
    if isinstance(connection, list):
        return connection
    if "edges" in connection:
        return [edge["node"] for edge in connection["edges"] or []]
    return list(connection.get("nodes") or [])


# --------------------------------------------------------------------------------------------
# Webhooks


# --------------------------------------------------------------------------------------------
# Paid or not


def successful_payments(node: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [
        t
        for t in node.get("transactions") or []
        if str(t.get("kind", "")).upper() in PAYMENT_KINDS
        and str(t.get("status", "")).upper() == "SUCCESS"
    ]


def paid_status(node: Mapping[str, Any]) -> tuple[bool, str]:
    """(paid?, why not). The platform rule for "this order gets its facture acquittée"."""
    status = str(node.get("displayFinancialStatus") or "").upper()
    name = node.get("name") or node.get("id") or "?"
    if status not in PAID_STATUSES:
        return False, f"order {name} is {status or 'without financial status'}, not paid"
    if node.get("test"):
        return False, f"order {name} is a test order (test payment gateway): no invoice"
    if "transactions" in node and not successful_payments(node):
        return False, f"order {name} has no successful SALE or CAPTURE transaction yet"
    return True, ""


def payment_of(node: Mapping[str, Any], presentment: bool = True) -> Payment:
    """The payment printed on the receipt: the successful SALE/CAPTURE transactions."""
    done = successful_payments(node)
    if done:
        latest = max(done, key=lambda t: t.get("processedAt") or t.get("createdAt") or "")
        ref = latest.get("authorizationCode") or numeric_id(str(latest.get("id") or ""))
        return Payment(
            method=str(latest.get("gateway") or ""),
            method_label=str(latest.get("formattedGateway") or latest.get("gateway") or ""),
            paid_at=parse_time(
                latest.get("processedAt") or latest.get("createdAt"), "transaction processedAt"
            ),
            transaction_ref=str(ref or ""),
            amount=sum((money(t.get("amountSet"), presentment) for t in done), ZERO),
        )
    gateways = node.get("paymentGatewayNames") or []
    return Payment(
        method=str(gateways[0]) if gateways else "",
        method_label=str(gateways[0]) if gateways else "",
        paid_at=parse_time(node.get("processedAt") or node.get("createdAt"), "processedAt"),
    )


# --------------------------------------------------------------------------------------------
# The mapping


def _taxes(node: Mapping[str, Any], presentment: bool) -> list[TaxLine]:
    out = []
    for tax in node.get("taxLines") or []:
        amount = money(tax.get("priceSet"), presentment)
        rate = rate_percent(tax)
        if amount == 0 and rate == 0:
            continue
        out.append(TaxLine(rate=rate, amount=amount, label=str(tax.get("title") or "")))
    return out


def _allocations(node: Mapping[str, Any], presentment: bool) -> list[tuple[int | None, Decimal]]:
    out = []
    for alloc in node.get("discountAllocations") or []:
        app = alloc.get("discountApplication") or {}
        out.append((app.get("index"), money(alloc.get("allocatedAmountSet"), presentment)))
    return out


def _excl_vat(
    gross: Decimal, discount: Decimal, taxes: list[TaxLine], taxes_included: bool
) -> tuple[Decimal, Decimal]:
    """(subtotal, discount) excl. VAT, such that subtotal − discount is exact to the cent."""
    if not taxes_included:
        return gross, discount
    tax = sum((t.amount for t in taxes), ZERO)
    after = gross - discount
    net = after - tax
    if discount == 0:
        return net, ZERO
    if after > 0:
        discount_excl = cents(discount * net / after)
    else:  # fully discounted: no tax was charged, take the rate off the discount
        rate = sum((t.rate for t in taxes), ZERO) / 100
        discount_excl = cents(discount / (1 + rate))
    return net + discount_excl, discount_excl


def _line(
    node: Mapping[str, Any],
    kind: LineKind,
    presentment: bool,
    taxes_included: bool,
    coupon_share: dict[int | None, Decimal],
    date_properties: tuple[str, ...] = (),
) -> Line:
    taxes = _taxes(node, presentment)
    allocations = _allocations(node, presentment)
    nature, when = Nature.goods, None
    if kind is LineKind.product:
        quantity = Decimal(int(node.get("quantity") or 0))
        discount = sum((amount for _, amount in allocations), ZERO)
        if node.get("originalTotalSet"):
            gross = money(node.get("originalTotalSet"), presentment)
        elif node.get("originalUnitPriceSet"):
            gross = money(node.get("originalUnitPriceSet"), presentment) * quantity
        else:  # lean selections (e.g. fixture 07b) only carry the discounted total
            gross = money(node.get("discountedTotalSet"), presentment) + discount
        name = str(node.get("name") or node.get("title") or "")
        variant = str(node.get("variantTitle") or "")
        if node.get("title") and variant and variant not in name:
            name = f"{node['title']} - {variant}"
        # A line property the shop dates the operation with is printed as that date, not as
        # an attribute of the article.
        when, date_key = find_operation_date(
            ((str(a.get("key") or ""), a.get("value")) for a in node.get("customAttributes") or []),
            date_properties,
        )
        attributes = {
            str(a["key"]): str(a.get("value") or "")
            for a in node.get("customAttributes") or []
            if a.get("key") and not str(a["key"]).startswith("_") and a["key"] != date_key
        }
        # Nothing to ship is a service (a training, a download): `requiresShipping` is
        # Shopify's own answer. Absent (older selections, fixtures): goods, as before.
        if node.get("requiresShipping") is False:
            nature = Nature.services
    else:
        quantity = Decimal(1)
        gross = money(node.get("originalPriceSet"), presentment)
        discount = sum((amount for _, amount in allocations), ZERO)
        if not allocations and node.get("discountedPriceSet"):
            discount = gross - money(node.get("discountedPriceSet"), presentment)
        name = str(node.get("title") or node.get("code") or "Shipping")
        attributes = {}
    if not name:
        raise MappingError(f"a {kind.value} line has no name")
    subtotal, discount_excl = _excl_vat(gross, discount, taxes, taxes_included)
    for index, amount in allocations:  # spread this line's discount (excl. VAT) per discount
        if discount:
            coupon_share[index] = coupon_share.get(index, ZERO) + amount * discount_excl / discount
    return Line(
        kind=kind,
        name=name,
        sku=str(node.get("sku") or ""),
        attributes=attributes,
        quantity=quantity,
        subtotal=subtotal,
        discount=discount_excl,
        taxes=taxes,
        nature=nature,
        operation_date=when,
    )


def _address(raw: Mapping[str, Any] | None) -> Address | None:
    if not raw:
        return None
    country = str(raw.get("countryCodeV2") or raw.get("countryCode") or "").strip()
    # MailingAddress.name is Shopify's "first last"; selections without it still have both.
    names = (str(raw.get("firstName") or "").strip(), str(raw.get("lastName") or "").strip())
    return Address(
        name=str(raw.get("name") or "").strip() or " ".join(part for part in names if part),
        company=str(raw.get("company") or "").strip(),
        line1=str(raw.get("address1") or ""),
        line2=str(raw.get("address2") or ""),
        postcode=str(raw.get("zip") or ""),
        city=str(raw.get("city") or ""),
        state=str(raw.get("province") or "") if country and country != "FR" else "",
        country=country,
    )


def _attributes(node: Mapping[str, Any]) -> dict[str, str]:
    return {
        str(a.get("key") or "").strip().lower().replace(" ", "_"): str(a.get("value") or "").strip()
        for a in node.get("customAttributes") or []
    }


def _party(node: Mapping[str, Any]) -> Party:
    billing_raw = node.get("billingAddress") or node.get("shippingAddress") or {}
    customer = node.get("customer") or {}
    billing = _address(billing_raw) or Address()
    shipping = _address(node.get("shippingAddress"))
    if shipping is not None and (shipping == billing or shipping.is_empty()):
        shipping = None
    attrs = _attributes(node)
    vat = next((attrs[k] for k in VAT_KEYS if attrs.get(k)), "")
    siren = next((attrs[k][:9] for k in SIREN_KEYS if attrs.get(k)), "")
    electronic = next((attrs[k] for k in ELECTRONIC_ADDRESS_KEYS if attrs.get(k)), "")
    return Party(
        first_name=str(billing_raw.get("firstName") or customer.get("firstName") or ""),
        last_name=str(billing_raw.get("lastName") or customer.get("lastName") or ""),
        company=str(billing_raw.get("company") or ""),
        email=str(node.get("email") or customer.get("email") or ""),
        phone=str(node.get("phone") or billing_raw.get("phone") or customer.get("phone") or ""),
        vat_number=vat.replace(" ", "").upper(),
        siren=siren.replace(" ", ""),
        electronic_address=electronic,
        billing=billing,
        shipping=shipping,
    )


def map_order(
    node: Mapping[str, Any],
    *,
    shop: str,
    default_locale: str = "",
    operation_date_property: str = "",
) -> Order:
    """A GraphQL Order node → `Order`. Raises `MappingError` naming what is missing.

    `operation_date_property`: the shop's own line property dating the operation, looked for
    before the usual names (`connectors.operation_dates`)."""
    if not node.get("id") and not node.get("legacyResourceId"):
        raise MappingError("the order has no id")
    order_id = str(node.get("legacyResourceId") or numeric_id(str(node["id"])))
    line_page = node.get("lineItems") or {}
    if isinstance(line_page, dict) and (line_page.get("pageInfo") or {}).get("hasNextPage"):
        raise MappingError(
            f"order {order_id} line items are incomplete (read the next pages first)"
        )
    totals = node.get("totalPriceSet") or {}
    shop_currency = str(
        node.get("currencyCode") or (totals.get("shopMoney") or {}).get("currencyCode") or ""
    ).upper()
    currency = str(
        node.get("presentmentCurrencyCode")
        or (totals.get("presentmentMoney") or {}).get("currencyCode")
        or shop_currency
    ).upper()
    if not currency:
        raise MappingError(f"order {order_id} has no currencyCode")
    taxes_included = bool(node.get("taxesIncluded"))
    share: dict[int | None, Decimal] = {}
    dates = property_names(operation_date_property)
    lines = [
        _line(item, LineKind.product, True, taxes_included, share, dates)
        for item in edges(node.get("lineItems"))
        if int(item.get("quantity") or 0) > 0  # fully removed by an order edit
    ]
    lines += [
        _line(ship, LineKind.shipping, True, taxes_included, share)
        for ship in edges(node.get("shippingLines"))
    ]
    coupons = []
    for app in edges(node.get("discountApplications")):
        label = app.get("code") or app.get("title") or ""
        amount = share.get(app.get("index"), ZERO)
        if label and amount:
            coupons.append(Coupon(code=str(label), amount=cents(amount)))
    total = money(node.get("totalPriceSet"))
    total_tax = money(node.get("totalTaxSet"))
    shop_total = shop_tax = None
    if shop_currency and shop_currency != currency and shop_currency == "EUR":
        shop_total = money(node.get("totalPriceSet"), presentment=False)
        shop_tax = money(node.get("totalTaxSet"), presentment=False)
    locale = str(
        node.get("customerLocale") or (node.get("customer") or {}).get("locale") or default_locale
    )
    # A refund whose money has not gone back (a REFUND transaction pending, or none succeeded)
    # is `pending`: credited now from its lines, it would be frozen so for good; polling
    # reads the order again until the money went back.
    refunds = [
        map_refund(refund, presentment=True).model_copy(update={"pending": money_not_back(refund)})
        for refund in node.get("refunds") or []
    ]
    return Order(
        shop=shop,
        platform="shopify",
        order_id=order_id,
        reference=str(node.get("name") or f"#{order_id}"),
        created_at=parse_time(node.get("createdAt"), "createdAt"),
        currency=currency,
        prices_include_tax=taxes_included,
        customer=_party(node),
        locale=locale.replace("-", "_"),
        lines=lines,
        coupons=coupons,
        total=total,
        total_tax=total_tax,
        payment=payment_of(node),
        refunds=refunds,
        shop_currency_total=shop_total,
        shop_currency_tax=shop_tax,
    )


# --------------------------------------------------------------------------------------------
# Refunds

STORE_CREDIT = "store_credit"  # Refund.method when the money went to the customer's store credit
MANUAL = "manual"  # Refund.method when no transaction moved it: the shop paid back by hand
SHIPPING_ADJUSTMENT = "SHIPPING_REFUND"  # OrderAdjustment.kind before 2024-10 (and REST bodies)
RATE_STEPS = (Decimal(1), Decimal("0.1"), Decimal("0.01"))  # a rate worked back from amounts


def refund_id_of(node: Mapping[str, Any]) -> str:
    """The refund's numeric id ('gid://shopify/Refund/42' → '42')."""
    return str(node.get("legacyResourceId") or numeric_id(str(node.get("id") or "")))


def is_read_in_full(node: Mapping[str, Any]) -> bool:
    """Listings carry only `{id}`; a refund read with REFUND_QUERY has its parts too."""
    return any(key in node for key in ("createdAt", "refundLineItems", "transactions"))


def money_not_back(node: Mapping[str, Any]) -> bool:
    """The refund's money is not all back: a REFUND transaction still on its way (a gift card
    done, the card pending), or transactions and none succeeded. A refund without any
    transaction was recorded by hand ("manual")."""
    states = {
        str(t.get("status", "")).upper()
        for t in edges(node.get("transactions"))
        if str(t.get("kind", "")).upper() == "REFUND"
    }
    on_its_way = bool(states & {"PENDING", "AWAITING_RESPONSE"})
    return on_its_way or (bool(states) and "SUCCESS" not in states)


def refund_payments(node: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The refund's successful REFUND transactions: the money that actually went back."""
    return [
        t
        for t in edges(node.get("transactions"))
        if str(t.get("kind", "")).upper() == "REFUND"
        and str(t.get("status", "")).upper() == "SUCCESS"
    ]


def _split_tax(
    total: Decimal, tax_lines: list[Mapping[str, Any]], presentment: bool, what: str
) -> list[TaxLine]:
    """`total` VAT given back, at the rates the refunded line was charged: one rate takes it
    all, several share it as they shared the line's VAT (the last takes the rounding)."""
    charged = [
        (rate_percent(t), money(t.get("priceSet"), presentment), str(t.get("title") or ""))
        for t in tax_lines
    ]
    charged = [(rate, amount, title) for rate, amount, title in charged if rate or amount]
    if not charged:
        if total:
            raise MappingError(f"{what} gives back {total} of VAT but its line has no tax rate")
        return []
    weight = sum((amount for _, amount, _ in charged), ZERO)
    out, left = [], total
    for rate, amount, title in charged[:-1]:
        share = cents(total * amount / weight) if weight else cents(total / len(charged))
        out.append(TaxLine(rate=rate, amount=share, label=title))
        left -= share
    rate, _, title = charged[-1]
    out.append(TaxLine(rate=rate, amount=left, label=title))
    return out


def _refund_product(item: Mapping[str, Any], presentment: bool, refund: str) -> RefundLine:
    line = item.get("lineItem") or {}
    name = str(line.get("name") or line.get("title") or "")
    if not name:
        raise MappingError(f"refund {refund}: a refunded line item has no name")
    what = f"refund {refund}, line {name!r}"
    tax = money(item.get("totalTaxSet"), presentment)
    return RefundLine(
        kind=LineKind.product,
        name=name,
        sku=str(line.get("sku") or ""),
        quantity=Decimal(int(item.get("quantity") or 0)),
        amount=money(item.get("subtotalSet"), presentment),
        taxes=_split_tax(tax, line.get("taxLines") or [], presentment, what),
        # As on the invoice: nothing to ship is a service (LineItem.requiresShipping).
        nature=Nature.services if line.get("requiresShipping") is False else Nature.goods,
        line_ref=numeric_id(str(line["id"])) if line.get("id") else "",
    )


def _refund_shipping(item: Mapping[str, Any], presentment: bool, refund: str) -> RefundLine:
    ship = item.get("shippingLine") or {}
    name = str(ship.get("title") or "Shipping")
    tax = money(item.get("taxAmountSet"), presentment)
    what = f"refund {refund}, shipping {name!r}"
    return RefundLine(
        kind=LineKind.shipping,
        name=name,
        amount=money(item.get("subtotalAmountSet"), presentment),
        taxes=_split_tax(tax, ship.get("taxLines") or [], presentment, what),
    )


def _worked_back_rate(amount: Decimal, tax: Decimal) -> Decimal:
    """The rate of a shipping adjustment, which states amounts only: the roundest rate that
    gives its VAT to the cent (0.82 on 4.08 is 20 %, not 20.1 %)."""
    exact = tax * 100 / amount
    for step in RATE_STEPS:
        rate = exact.quantize(step, rounding=ROUND_HALF_UP)
        if cents(amount * rate / 100) == tax:
            return rate_percent({"ratePercentage": rate})
    return rate_percent({"ratePercentage": exact})


def _shipping_adjustment(node: Mapping[str, Any], presentment: bool) -> RefundLine:
    """An order adjustment of kind SHIPPING_REFUND (REST bodies, API versions before 2024-10):
    negative amounts, excl. VAT, meaning shipping given back."""
    amount = -money(node.get("amountSet"), presentment)
    tax = -money(node.get("taxAmountSet"), presentment)
    taxes = [TaxLine(rate=_worked_back_rate(amount, tax), amount=tax)] if tax and amount else []
    return RefundLine(kind=LineKind.shipping, name="Shipping", amount=amount, taxes=taxes)


def _is_shipping_adjustment(node: Mapping[str, Any]) -> bool:
    return str(node.get("kind") or "").upper() == SHIPPING_ADJUSTMENT


def refund_method(node: Mapping[str, Any]) -> str:
    """How the money went back: the gateway's own name ("Shopify Payments"), `store_credit`
    for Shopify's store credit gateway, `manual` when no transaction moved it."""
    labels: list[str] = []
    for t in refund_payments(node):
        gateway = str(t.get("gateway") or "")
        label = STORE_CREDIT if STORE_CREDIT in gateway.lower() else gateway
        label = str(t.get("formattedGateway") or label) if label != STORE_CREDIT else label
        if label and label not in labels:
            labels.append(label)
    return ", ".join(labels) if labels else MANUAL


def _refund_lines(node: Mapping[str, Any], presentment: bool, refund: str) -> list[RefundLine]:
    """Products given back, then shipping (its own lines, or a legacy shipping adjustment)."""
    page = node.get("refundLineItems") or {}
    if isinstance(page, dict) and (page.get("pageInfo") or {}).get("hasNextPage"):
        raise MappingError(f"refund {refund} line items are incomplete (read the next pages)")
    lines = [_refund_product(i, presentment, refund) for i in edges(page)]
    for shipping in edges(node.get("refundShippingLines")):
        lines.append(_refund_shipping(shipping, presentment, refund))
    for adjustment in edges(node.get("orderAdjustments")):
        if _is_shipping_adjustment(adjustment):
            lines.append(_shipping_adjustment(adjustment, presentment))
    return lines


def _refund_amount(node: Mapping[str, Any], lines: list[RefundLine], presentment: bool) -> Decimal:
    """The successful REFUND transactions. Without any (a refund recorded by hand), what the
    lines are worth corrected by the order adjustments: Shopify signs them negative when more
    went back than the lines are worth, positive when less."""
    paid_back = refund_payments(node)
    if paid_back:
        return sum((money(t.get("amountSet"), presentment) for t in paid_back), ZERO)
    gap = ZERO
    for adjustment in edges(node.get("orderAdjustments")):
        if not _is_shipping_adjustment(adjustment):
            gap += money(adjustment.get("amountSet"), presentment)
            gap += money(adjustment.get("taxAmountSet"), presentment)
    return sum((ln.amount + ln.tax for ln in lines), ZERO) - gap


def map_refund(node: Mapping[str, Any], *, presentment: bool = True) -> Refund:
    """A GraphQL Refund node (as REFUND_QUERY selects it) → `Refund`, in the order's money
    (`presentment` as the order mapping chose). Raises `MappingError` naming what is missing."""
    refund = refund_id_of(node)
    if not refund:
        raise MappingError("a refund has no id")
    if not is_read_in_full(node):
        raise MappingError(f"refund {refund} was listed but not read (read it with its id)")
    lines = _refund_lines(node, presentment, refund)
    created = node.get("createdAt")
    return Refund(
        refund_id=refund,
        amount=_refund_amount(node, lines, presentment),
        reason=str(node.get("note") or "").strip(),
        created_at=parse_time(created, f"refund {refund} createdAt") if created else None,
        lines=lines,
        method=refund_method(node),
    )


# --------------------------------------------------------------------------------------------
# REST payloads (webhook bodies, old fixtures) → the GraphQL node shape


_SCOPE = re.compile(r"`([a-z_]+)`")


def scopes_in(message: str) -> list[str]:
    """'Required access: `read_orders` access scope.' → ['read_orders']."""
    return _SCOPE.findall(message)
