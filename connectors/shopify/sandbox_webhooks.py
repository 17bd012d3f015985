"""The shop's outgoing webhooks, for the Shopify sandbox: REST-shaped bodies, headers and the
HMAC (base64 SHA-256 of the raw body with the app's client secret) as Shopify sends them.

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
    ) -> tuple[dict[str, str], bytes]:
        """The headers and body Shopify POSTs for `topic` on this order, HMAC-signed with
        `secret`; `event_id=""` leaves the event id out (older API versions)."""
        raw = body if body is not None else self.webhook_body(order_id)
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
