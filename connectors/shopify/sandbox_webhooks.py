"""The shop's outgoing webhooks, for the Shopify sandbox: REST-shaped bodies, headers and the
HMAC (base64 SHA-256 of the raw body with the app's client secret) as Shopify sends them.
`orders/paid` carries the order without transactions, `refunds/create` the bare refund (with
`order_id`; since 2024-10 its order adjustments have no `kind` and shipping refunds are not
among them).

`WebhookSender` is a part of `ShopifySandbox`: it reads the sandbox's orders, domain and clock.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from typing import Any

import requests

from connectors.shopify.mapping import numeric_id
from connectors.shopify.sandbox_orders import (
    _iso,
)

SECRET = "sandbox-client-secret"


def signature(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


class WebhookSender:
    orders: dict[str, dict[str, Any]]
    domain: str
    now: Any

    def webhook_body(self, order_id: str | int) -> bytes:
        """The REST-shaped `orders/paid` body: no transactions (read them through GraphQL)."""
        node = self.orders[str(order_id)]
        pres = node["totalPriceSet"]["presentmentMoney"]
        body = {
            "id": int(node["legacyResourceId"]),
            "admin_graphql_api_id": node["id"],
            "name": node["name"],
            "email": node.get("email"),
            "created_at": node["createdAt"],
            "updated_at": node["updatedAt"],
            "processed_at": node["processedAt"],
            "currency": node["currencyCode"],
            "presentment_currency": pres["currencyCode"],
            "financial_status": str(node["displayFinancialStatus"]).lower(),
            "total_price": pres["amount"],
            "total_tax": node["totalTaxSet"]["presentmentMoney"]["amount"],
            "taxes_included": node["taxesIncluded"],
            "line_items": [
                {"title": e["node"]["title"], "quantity": e["node"]["quantity"],
                 "sku": e["node"]["sku"],
                 "requires_shipping": e["node"].get("requiresShipping", True),
                 "price": e["node"]["originalUnitPriceSet"]["presentmentMoney"]["amount"]}
                for e in node["lineItems"]["edges"]
            ],
        }  # fmt: skip
        return json.dumps(body).encode()

    def refund_webhook_body(self, order_id: str | int, refund_id: str | int | None = None) -> bytes:
        """The REST-shaped `refunds/create` body of one refund of the order (default: its
        latest): bare, with `order_id`, money as strings and `*_set` bags."""
        node = self.orders[str(order_id)]
        refunds = node.get("refunds") or []
        if not refunds:
            raise KeyError(f"order {order_id} has no refund")
        refund = (
            refunds[-1]
            if refund_id is None
            else next(r for r in refunds if r["legacyResourceId"] == str(refund_id))
        )
        currency = node["presentmentCurrencyCode"]
        oid, rid = int(node["legacyResourceId"]), int(refund["legacyResourceId"])
        body = {
            "id": rid,
            "order_id": oid,
            "created_at": refund["createdAt"],
            "processed_at": refund["createdAt"],
            "note": refund.get("note"),
            "restock": bool(refund["refundLineItems"]["edges"]),
            "user_id": None,
            "admin_graphql_api_id": refund["id"],
            "duties": [],
            "refund_line_items": [
                _rest_refund_line(e["node"]) for e in refund["refundLineItems"]["edges"]
            ],
            "transactions": [
                _rest_transaction(e["node"], oid, currency) for e in refund["transactions"]["edges"]
            ],
            "order_adjustments": [
                _rest_adjustment(e["node"], oid, rid)
                for e in (refund.get("orderAdjustments") or {}).get("edges") or []
            ],
        }
        return json.dumps(body).encode()

    def webhook_request(
        self,
        order_id: str | int,
        *,
        secret: str = SECRET,
        event_id: str | None = None,
        webhook_id: str | None = None,
        shop_domain: str | None = None,
        topic: str = "orders/paid",
        body: bytes | None = None,
        refund_id: str | int | None = None,
    ) -> tuple[dict[str, str], bytes]:
        """The headers and body Shopify POSTs for `topic` on this order, HMAC-signed with
        `secret`; `event_id=""` leaves the event id out (older API versions). For
        `refunds/create` the body is the refund `refund_id` (default: the latest)."""
        if body is not None:
            raw = body
        elif topic.startswith("refunds/"):
            raw = self.refund_webhook_body(order_id, refund_id)
        else:
            raw = self.webhook_body(order_id)
        headers = {
            "Content-Type": "application/json",
            "X-Shopify-Topic": topic,
            "X-Shopify-Hmac-Sha256": signature(secret, raw),
            "X-Shopify-Shop-Domain": shop_domain or self.domain,
            "X-Shopify-API-Version": "2025-10",
            "X-Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()),
            "X-Shopify-Triggered-At": _iso(self.now()),
        }
        if event_id != "":
            headers["X-Shopify-Event-Id"] = event_id or str(uuid.uuid4())
        return headers, raw

    def deliver_webhook(
        self,
        target_url: str,
        order_id: str | int,
        *,
        duplicate: int = 1,
        tamper: bool = False,
        **request: Any,
    ) -> list[int]:
        """POST a signed webhook `duplicate` times (same ids: what Shopify retries look like);
        `request` as for `webhook_request`."""
        headers, raw = self.webhook_request(order_id, **request)
        if tamper:
            raw = raw.replace(b'"name"', b'"Name"')
        return [
            requests.post(target_url, data=raw, headers=headers, timeout=5).status_code
            for _ in range(duplicate)
        ]


def _rest_set(bag: dict[str, Any]) -> dict[str, Any]:
    """A GraphQL MoneyBag → REST's `*_set`."""
    return {
        side: {"amount": bag[key]["amount"], "currency_code": bag[key]["currencyCode"]}
        for side, key in (("shop_money", "shopMoney"), ("presentment_money", "presentmentMoney"))
    }


def _amount(bag: dict[str, Any]) -> str:
    return str(bag["presentmentMoney"]["amount"])


def _rest_refund_line(item: dict[str, Any]) -> dict[str, Any]:
    line = item["lineItem"]
    line_id = int(numeric_id(line["id"]))
    return {
        "id": int(numeric_id(item["id"])),
        "quantity": item["quantity"],
        "line_item_id": line_id,
        "location_id": None,
        "restock_type": "return",
        "subtotal": _amount(item["subtotalSet"]),
        "total_tax": _amount(item["totalTaxSet"]),
        "subtotal_set": _rest_set(item["subtotalSet"]),
        "total_tax_set": _rest_set(item["totalTaxSet"]),
        "line_item": {
            "id": line_id,
            "name": line["name"],
            "sku": line["sku"],
            "requires_shipping": line.get("requiresShipping", True),
            "price": _amount(item["priceSet"]),
            "price_set": _rest_set(item["priceSet"]),
            "tax_lines": [
                {"title": t["title"], "rate": t["rate"], "price": _amount(t["priceSet"]),
                 "price_set": _rest_set(t["priceSet"])}
                for t in line.get("taxLines") or []
            ],
        },
    }  # fmt: skip


def _rest_transaction(t: dict[str, Any], order_id: int, currency: str) -> dict[str, Any]:
    return {
        "id": int(numeric_id(t["id"])),
        "order_id": order_id,
        "kind": str(t["kind"]).lower(),
        "status": str(t["status"]).lower(),
        "gateway": t["gateway"],
        "amount": _amount(t["amountSet"]),
        "currency": currency,
        "authorization": t.get("authorizationCode"),
        "created_at": t["createdAt"],
        "processed_at": t["processedAt"],
        "test": bool(t.get("test")),
        "admin_graphql_api_id": t["id"],
    }


def _rest_adjustment(a: dict[str, Any], order_id: int, refund_id: int) -> dict[str, Any]:
    return {
        "id": int(numeric_id(a["id"])),
        "order_id": order_id,
        "refund_id": refund_id,
        "amount": _amount(a["amountSet"]),
        "tax_amount": _amount(a["taxAmountSet"]),
        "reason": "Refund discrepancy",
        "amount_set": _rest_set(a["amountSet"]),
        "tax_amount_set": _rest_set(a["taxAmountSet"]),
    }
