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

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from bridge.model import Address, Coupon, Line, LineKind, Order, Party, Payment, Refund, TaxLine

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


def webhook_hmac(secret: str, body: bytes) -> str:
    """Base64 HMAC-SHA256 of the raw body: the X-Shopify-Hmac-Sha256 header value."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def hmac_matches(secrets: Iterable[str], body: bytes, header: str) -> bool:
    """Constant-time comparison against every accepted secret (current, then previous)."""
    given = header.strip().encode("utf-8", "replace")
    ok = False
    for secret in secrets:
        # No short-circuit: the time taken does not reveal which secret matched.
        ok |= hmac.compare_digest(webhook_hmac(secret, body).encode("ascii"), given)
    return ok


def webhook_order_ref(topic: str, payload: Mapping[str, Any]) -> str | None:
    """The order a webhook is about, as a GraphQL id (None: not about an order)."""
    if topic.startswith("orders/"):
        gid = payload.get("admin_graphql_api_id")
        if isinstance(gid, str) and gid.startswith(GID_ORDER):
            return gid
        if payload.get("id") is not None:
            return order_gid(payload["id"])
        raise MappingError("the body has neither admin_graphql_api_id nor id")
    if topic.startswith("refunds/"):
        if payload.get("order_id") is None:
            raise MappingError("the refund body has no order_id")
        return order_gid(payload["order_id"])
    return None


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
) -> Line:
    taxes = _taxes(node, presentment)
    allocations = _allocations(node, presentment)
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
        attributes = {
            str(a["key"]): str(a.get("value") or "")
            for a in node.get("customAttributes") or []
            if a.get("key") and not str(a["key"]).startswith("_")
        }
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
    )


def _address(raw: Mapping[str, Any] | None) -> Address | None:
    if not raw:
        return None
    country = str(raw.get("countryCodeV2") or raw.get("countryCode") or "").strip()
    return Address(
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


def map_order(node: Mapping[str, Any], *, shop: str, default_locale: str = "") -> Order:
    """A GraphQL Order node → `Order`. Raises `MappingError` naming what is missing."""
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
    lines = [
        _line(item, LineKind.product, True, taxes_included, share)
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


def _bag(container: Mapping[str, Any], key: str, currency: str, presentment: str) -> dict:
    """REST `<key>_set` (or plain `<key>`) → a GraphQL MoneyBag."""
    money_set = container.get(f"{key}_set")
    if money_set:
        shop = money_set.get("shop_money") or {}
        pres = money_set.get("presentment_money") or shop
        return {
            "shopMoney": {"amount": shop.get("amount"), "currencyCode": shop.get("currency_code")},
            "presentmentMoney": {
                "amount": pres.get("amount"),
                "currencyCode": pres.get("currency_code"),
            },
        }
    amount = container.get(key)
    return {
        "shopMoney": {"amount": amount, "currencyCode": currency},
        "presentmentMoney": {"amount": amount, "currencyCode": presentment},
    }


def _rest_taxes(items: list[dict], currency: str, presentment: str) -> list[dict]:
    return [
        {
            "title": t.get("title"),
            "rate": t.get("rate"),
            "priceSet": _bag(t, "price", currency, presentment),
        }
        for t in items or []
    ]


def _rest_allocations(items: list[dict], currency: str, presentment: str) -> list[dict]:
    return [
        {
            "allocatedAmountSet": _bag(a, "amount", currency, presentment),
            "discountApplication": {"index": a.get("discount_application_index")},
        }
        for a in items or []
    ]


def _rest_address(raw: Mapping[str, Any] | None) -> dict | None:
    if not raw:
        return None
    return {
        "firstName": raw.get("first_name"),
        "lastName": raw.get("last_name"),
        "company": raw.get("company"),
        "address1": raw.get("address1"),
        "address2": raw.get("address2"),
        "zip": raw.get("zip"),
        "city": raw.get("city"),
        "province": raw.get("province"),
        "provinceCode": raw.get("province_code"),
        "countryCodeV2": raw.get("country_code"),
        "phone": raw.get("phone"),
    }


def rest_transaction_to_node(t: Mapping[str, Any], currency: str = "") -> dict:
    return {
        "id": f"gid://shopify/OrderTransaction/{t.get('id')}",
        "kind": str(t.get("kind") or "").upper(),
        "status": str(t.get("status") or "").upper(),
        "gateway": t.get("gateway"),
        "formattedGateway": t.get("gateway"),
        "processedAt": t.get("processed_at") or t.get("created_at"),
        "createdAt": t.get("created_at"),
        "authorizationCode": t.get("authorization"),
        "test": bool(t.get("test")),
        "amountSet": _bag(
            t, "amount", t.get("currency") or currency, t.get("currency") or currency
        ),
    }


def rest_order_to_node(payload: Mapping[str, Any]) -> dict[str, Any]:
    """A REST order (`{"order": {...}}` or bare, e.g. an `orders/paid` body) → GraphQL shape."""
    rest = payload.get("order", payload)
    if not isinstance(rest, Mapping) or rest.get("id") is None:
        raise MappingError("not a REST order: no id")
    cur = str(rest.get("currency") or "")
    pres = str(rest.get("presentment_currency") or cur)
    discount_apps = []
    for index, app in enumerate(rest.get("discount_applications") or []):
        discount_apps.append(
            {
                "index": index,
                "allocationMethod": str(app.get("allocation_method") or "").upper(),
                "targetType": str(app.get("target_type") or "").upper(),
                "code": app.get("code"),
                "title": app.get("title") or app.get("description"),
            }
        )
    line_items = []
    for item in rest.get("line_items") or []:
        unit = _bag(item, "price", cur, pres)
        qty = int(item.get("quantity") or 0)
        total = {
            side: {
                "amount": str(dec(unit[side]["amount"]) * qty),
                "currencyCode": unit[side]["currencyCode"],
            }
            for side in ("shopMoney", "presentmentMoney")
        }
        allocations = _rest_allocations(item.get("discount_allocations") or [], cur, pres)
        if not allocations and dec(item.get("total_discount")):
            allocations = [
                {
                    "allocatedAmountSet": _bag(item, "total_discount", cur, pres),
                    "discountApplication": {"index": None},
                }
            ]
        line_items.append(
            {
                "id": f"gid://shopify/LineItem/{item.get('id')}",
                "name": item.get("name"),
                "title": item.get("title"),
                "variantTitle": item.get("variant_title"),
                "sku": item.get("sku"),
                "quantity": qty,
                "customAttributes": [
                    {"key": p.get("name"), "value": p.get("value")}
                    for p in item.get("properties") or []
                ],
                "originalUnitPriceSet": unit,
                "originalTotalSet": total,
                "taxLines": _rest_taxes(item.get("tax_lines") or [], cur, pres),
                "discountAllocations": allocations,
            }
        )
    shipping = []
    for ship in rest.get("shipping_lines") or []:
        shipping.append(
            {
                "title": ship.get("title"),
                "code": ship.get("code"),
                "originalPriceSet": _bag(ship, "price", cur, pres),
                "discountedPriceSet": _bag(ship, "discounted_price", cur, pres)
                if ship.get("discounted_price") is not None or ship.get("discounted_price_set")
                else _bag(ship, "price", cur, pres),
                "taxLines": _rest_taxes(ship.get("tax_lines") or [], cur, pres),
                "discountAllocations": _rest_allocations(
                    ship.get("discount_allocations") or [], cur, pres
                ),
            }
        )
    customer = rest.get("customer") or {}
    node: dict[str, Any] = {
        "id": rest.get("admin_graphql_api_id") or order_gid(rest["id"]),
        "legacyResourceId": str(rest["id"]),
        "name": rest.get("name"),
        "createdAt": rest.get("created_at"),
        "updatedAt": rest.get("updated_at"),
        "processedAt": rest.get("processed_at") or rest.get("created_at"),
        "cancelledAt": rest.get("cancelled_at"),
        "test": bool(rest.get("test")),
        "email": rest.get("email") or rest.get("contact_email"),
        "phone": rest.get("phone"),
        "note": rest.get("note"),
        "customerLocale": rest.get("customer_locale"),
        "currencyCode": cur,
        "presentmentCurrencyCode": pres,
        "taxesIncluded": bool(rest.get("taxes_included")),
        "displayFinancialStatus": str(rest.get("financial_status") or "").upper(),
        "paymentGatewayNames": rest.get("payment_gateway_names")
        or ([rest["gateway"]] if rest.get("gateway") else []),
        "customAttributes": [
            {"key": a.get("name"), "value": a.get("value")}
            for a in rest.get("note_attributes") or []
        ],
        "customer": {
            "firstName": customer.get("first_name"),
            "lastName": customer.get("last_name"),
            "email": customer.get("email"),
            "phone": customer.get("phone"),
        },
        "billingAddress": _rest_address(rest.get("billing_address")),
        "shippingAddress": _rest_address(rest.get("shipping_address")),
        "totalPriceSet": _bag(rest, "total_price", cur, pres),
        "totalTaxSet": _bag(rest, "total_tax", cur, pres),
        "totalDiscountsSet": _bag(rest, "total_discounts", cur, pres),
        "discountApplications": discount_apps,
        "lineItems": line_items,
        "shippingLines": shipping,
    }
    if "transactions" in rest:
        node["transactions"] = [rest_transaction_to_node(t, cur) for t in rest["transactions"]]
    return node


def payment_from_rest_transactions(items: list[Mapping[str, Any]]) -> Payment | None:
    """A REST transactions list → the receipt's payment (None: nothing was captured)."""
    node = {"transactions": [rest_transaction_to_node(t) for t in items]}
    if not successful_payments(node):
        return None
    return payment_of(node)


def refund_from_rest(payload: Mapping[str, Any]) -> Refund:
    """A REST refund → `Refund` (amount = the successful refund transactions)."""
    rest = payload.get("refund", payload)
    refunded = [
        t
        for t in rest.get("transactions") or []
        if str(t.get("kind", "")).lower() == "refund" and str(t.get("status", "")) == "success"
    ]
    if refunded:
        amount = sum((dec(t.get("amount")) for t in refunded), ZERO)
    else:  # no money moved yet: the value of the refunded lines incl. their taxes
        amount = ZERO
        for item in rest.get("refund_line_items") or []:
            line = item.get("line_item") or {}
            qty = int(item.get("quantity") or 0)
            amount += dec(line.get("price")) * qty
            amount += sum((dec(t.get("price")) for t in line.get("tax_lines") or []), ZERO)
    return Refund(
        amount=amount,
        reason=str(rest.get("note") or ""),
        created_at=parse_time(rest.get("created_at"), "refund created_at")
        if rest.get("created_at")
        else None,
    )


def parse_json_object(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError) as exc:  # RecursionError: "[[[[…" a few KB deep
        raise MappingError(f"body is not JSON ({exc})") from None
    if not isinstance(payload, dict):
        raise MappingError("body is not a JSON object")
    return payload


_SCOPE = re.compile(r"`([a-z_]+)`")


def scopes_in(message: str) -> list[str]:
    """'Required access: `read_orders` access scope.' → ['read_orders']."""
    return _SCOPE.findall(message)
