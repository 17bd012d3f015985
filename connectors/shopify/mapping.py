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
* **Paid**: `displayFinancialStatus` PAID or PARTIALLY_REFUNDED, not a test order, and a
  successful SALE or CAPTURE transaction (the payment date and gateway come from it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from bridge.model import Address, Coupon, Line, LineKind, Nature, Order, Party, Payment, TaxLine
from connectors.operation_dates import find_operation_date, property_names

CENT = Decimal("0.01")
ZERO = Decimal(0)
GID_ORDER = "gid://shopify/Order/"
PAID_STATUSES = frozenset({"PAID", "PARTIALLY_REFUNDED"})
PAYMENT_KINDS = frozenset({"SALE", "CAPTURE"})
# Order custom attributes ("note attributes") where a B2B checkout app may put the buyer's ids.
# Tuples, not sets: the first key found wins, and that must not depend on the process.
VAT_KEYS = ("vat_number", "tva_intracom", "numero_tva", "vat_id", "vat", "tva")
SIREN_KEYS = ("siren", "siret")


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
    return Party(
        first_name=str(billing_raw.get("firstName") or customer.get("firstName") or ""),
        last_name=str(billing_raw.get("lastName") or customer.get("lastName") or ""),
        company=str(billing_raw.get("company") or ""),
        email=str(node.get("email") or customer.get("email") or ""),
        phone=str(node.get("phone") or billing_raw.get("phone") or customer.get("phone") or ""),
        vat_number=vat.replace(" ", "").upper(),
        siren=siren.replace(" ", ""),
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
        shop_currency_total=shop_total,
        shop_currency_tax=shop_tax,
    )


# --------------------------------------------------------------------------------------------
# REST payloads (webhook bodies, old fixtures) → the GraphQL node shape


_SCOPE = re.compile(r"`([a-z_]+)`")


def scopes_in(message: str) -> list[str]:
    """'Required access: `read_orders` access scope.' → ['read_orders']."""
    return _SCOPE.findall(message)
