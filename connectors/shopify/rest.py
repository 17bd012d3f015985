"""REST-shaped Shopify payloads (webhook bodies, older fixtures) turned into the GraphQL node
shape `mapping.map_order` reads, so one mapping serves both."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from bridge.model import Payment, Refund
from connectors.shopify.mapping import (
    ZERO,
    MappingError,
    cents,
    dec,
    map_refund,
    order_gid,
    payment_of,
    successful_payments,
)


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
        "name": raw.get("name"),
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
                "requiresShipping": item.get("requires_shipping"),
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
    if rest.get("refunds"):  # an order body with its refunds: the same mapping as GraphQL's
        node["refunds"] = [rest_refund_to_node(r) for r in rest["refunds"]]
    return node


def payment_from_rest_transactions(items: list[Mapping[str, Any]]) -> Payment | None:
    """A REST transactions list → the receipt's payment (None: nothing was captured)."""
    node = {"transactions": [rest_transaction_to_node(t) for t in items]}
    if not successful_payments(node):
        return None
    return payment_of(node)


def _rest_refund_line(item: Mapping[str, Any], currency: str) -> dict[str, Any]:
    """A REST refund line item → RefundLineItem. Old bodies (fixture 02) have no subtotal: it
    is then the line's price × quantity less its discount, its VAT the line's share of it."""
    line = item.get("line_item") or {}
    qty = int(item.get("quantity") or 0)
    share = Decimal(qty) / Decimal(int(line.get("quantity") or qty or 1))
    taxes = _rest_taxes(line.get("tax_lines") or [], currency, currency)
    subtotal, tax = (
        _bag(item, "subtotal", currency, currency),
        _bag(item, "total_tax", currency, currency),
    )
    if item.get("subtotal") is None and not item.get("subtotal_set"):
        net = dec(line.get("price")) * qty - dec(line.get("total_discount")) * share
        vat = sum((dec(t.get("price")) for t in line.get("tax_lines") or []), ZERO) * share
        subtotal = _bag({"amount": str(cents(net))}, "amount", currency, currency)
        tax = _bag({"amount": str(cents(vat))}, "amount", currency, currency)
    return {
        "quantity": qty,
        "lineItem": {
            "id": f"gid://shopify/LineItem/{line.get('id') or item.get('line_item_id')}",
            "name": line.get("name") or line.get("title"),
            "sku": line.get("sku"),
            "requiresShipping": line.get("requires_shipping"),
            "taxLines": taxes,
        },
        "subtotalSet": subtotal,
        "totalTaxSet": tax,
    }


def rest_refund_to_node(payload: Mapping[str, Any]) -> dict[str, Any]:
    """A REST refund (a `refunds/create` body, bare or under "refund") → the GraphQL Refund
    shape `mapping.map_refund` reads. REST has no refund shipping lines: shipping given back
    arrives as an order adjustment of kind `shipping_refund` (before 2024-10)."""
    rest = payload.get("refund", payload)
    if not isinstance(rest, Mapping) or rest.get("id") is None:
        raise MappingError("not a REST refund: no id")
    money_in = [t.get("currency") for t in rest.get("transactions") or [] if t.get("currency")]
    currency = str(money_in[0]) if money_in else ""
    return {
        "id": rest.get("admin_graphql_api_id") or f"gid://shopify/Refund/{rest['id']}",
        "legacyResourceId": str(rest["id"]),
        "createdAt": rest.get("created_at"),
        "note": rest.get("note"),
        "refundLineItems": [
            _rest_refund_line(item, currency) for item in rest.get("refund_line_items") or []
        ],
        "orderAdjustments": [
            {
                "id": f"gid://shopify/OrderAdjustment/{a.get('id')}",
                "kind": str(a.get("kind") or "").upper(),
                "reason": a.get("reason"),
                "amountSet": _bag(a, "amount", currency, currency),
                "taxAmountSet": _bag(a, "tax_amount", currency, currency),
            }
            for a in rest.get("order_adjustments") or []
        ],
        "transactions": [
            rest_transaction_to_node(t, currency) for t in rest.get("transactions") or []
        ],
    }


def refund_from_rest(payload: Mapping[str, Any]) -> Refund:
    """A REST refund → `Refund`, through the same mapping as a GraphQL one."""
    return map_refund(rest_refund_to_node(payload))
