"""A Shopify Admin GraphQL sandbox: a real HTTP server on loopback, for the demo and the tests.

It answers the operations `connectors.shopify` sends (dispatch on the operation name, with a
fallback on the root field; no general GraphQL engine: it returns whole order nodes whatever the
selection), speaks the real contract where it matters to us:

* `POST /admin/api/<version>/graphql.json` with `X-Shopify-Access-Token` (else HTTP 401 with
  Shopify's body); scopes missing → `ACCESS_DENIED` errors naming the scope (HTTP 200);
* `extensions.cost.throttleStatus` on every answer; `throttle_next(n, mode="200"|"429")` makes
  the next n calls THROTTLED (HTTP 200 with the error, or HTTP 429 with `Retry-After`);
* `orders(first, after, sortKey: UPDATED_AT, query: "financial_status:paid updated_at:>='…'")`
  with opaque cursors — an UNQUOTED date loses its time part, as on Shopify;
* `metafieldsSet` with `compareDigest` (null = must not exist yet), `orderUpdate` (note),
  `webhookSubscriptions` / `webhookSubscriptionCreate`, `shop`, `currentAppInstallation`;
* `deliver_webhook(...)` POSTs a signed, REST-shaped `orders/paid` body (no transactions) to our
  endpoint — with duplicates, another secret, or another shop domain when asked.

Seeded by `seed_orders()` with orders shaped like the real payloads in
`tests/fixtures/shopify/` plus French ones, dated relative to the sandbox's clock.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from connectors.sandbox_server import Reply, Request, SandboxServer
from connectors.shopify.sandbox_orders import (
    _add_payment,
    _iso,
    _parse,
    seed_orders,
)
from connectors.shopify.sandbox_webhooks import SECRET, WebhookSender

__all__ = ["ALL_SCOPES", "DOMAIN", "SECRET", "TOKEN", "ShopifySandbox"]

DOMAIN = "la-theiere.myshopify.com"
TOKEN = "shpat_sandbox_token"
ALL_SCOPES = ("read_orders", "write_orders", "read_all_orders")
UNAUTHORIZED = {
    "errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"
}


class ShopifySandbox(WebhookSender, SandboxServer):
    """`with ShopifySandbox() as sb:` → sb.base_url for `api_base_url`; a Python API for tests."""

    methods = ("POST",)  # GraphQL only

    def __init__(
        self,
        *,
        domain: str = DOMAIN,
        token: str = TOKEN,
        scopes: tuple[str, ...] = ALL_SCOPES,
        shop_currency: str = "EUR",
        restore_rate: float = 1000.0,
        throttle_seconds: float = 0.02,
        seed: bool = True,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__()
        self.now = clock or (lambda: datetime.now(UTC))
        self.domain = domain
        self.token = token
        self.scopes = list(scopes)
        self.shop_currency = shop_currency
        self.restore_rate = restore_rate
        self.line_page = 30  # as LINE_PAGE in connectors.shopify.queries
        self.throttle_seconds = throttle_seconds
        self.orders: dict[str, dict[str, Any]] = {}
        self.metafields: dict[str, dict[tuple[str, str], str]] = {}
        self.subscriptions: list[dict[str, Any]] = []
        self.calls: list[str] = []  # operation names, in order (throttled ones included)
        self.metafield_writes = 0
        self.invoice_number_writes: dict[str, int] = {}  # order id → metafieldsSet of the number
        self._throttle: list[str] = []
        if seed:
            for node in seed_orders(self.now()):
                self.add_order(node)

    @property
    def base_url(self) -> str:
        """What a shop's `api_base_url` is set to (instead of https://<domain>)."""
        return self.url

    def fault_body(self, status: int) -> Any:
        return {"errors": "Internal Server Error" if status >= 500 else "injected"}

    # -- test API --------------------------------------------------------------------------

    def add_order(self, node: dict[str, Any]) -> str:
        with self.lock:
            order_id = str(node["legacyResourceId"])
            self.orders[order_id] = node
            return order_id

    def mark_paid(self, order_id: str | int, at: datetime | None = None) -> None:
        with self.lock:
            _add_payment(self.orders[str(order_id)], at or self.now())

    def touch(self, order_id: str | int, at: datetime | None = None) -> None:
        with self.lock:
            self.orders[str(order_id)]["updatedAt"] = _iso(at or self.now())

    def throttle_next(self, n: int = 1, mode: str = "200") -> None:
        assert mode in ("200", "429")
        with self.lock:
            self._throttle.extend([mode] * n)

    def metafield(self, order_id: str | int, key: str, namespace: str = "quittance") -> str | None:
        return self.metafields.get(str(order_id), {}).get((namespace, key))

    def note(self, order_id: str | int) -> str | None:
        return self.orders[str(order_id)].get("note")

    # -- GraphQL ---------------------------------------------------------------------------

    def route(self, request: Request) -> Reply:
        return self.handle(request.path, dict(request.headers), request.body)

    def _cost(self, requested: int, available: float | None = None) -> dict[str, Any]:
        return {
            "cost": {
                "requestedQueryCost": requested,
                "actualQueryCost": None if available is not None else max(requested // 2, 1),
                "throttleStatus": {
                    "maximumAvailable": 2000.0,
                    "currentlyAvailable": 1990 if available is None else available,
                    "restoreRate": self.restore_rate,
                },
            }
        }

    def handle(
        self, path: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, Any, dict[str, str]]:
        if not re.fullmatch(r"/admin/api/(\d{4}-\d{2}|unstable)/graphql\.json", path):
            return 404, {"errors": "Not Found"}, {}
        token = next((v for k, v in headers.items() if k.lower() == "x-shopify-access-token"), "")
        if not hmac.compare_digest(token.encode(), self.token.encode()):
            return 401, UNAUTHORIZED, {}
        try:
            request = json.loads(raw)
            query = str(request["query"])
        except (ValueError, KeyError, TypeError):
            return 400, {"errors": [{"message": "invalid JSON body"}]}, {}
        variables = request.get("variables") or {}
        found = re.search(r"\b(?:query|mutation)\s+(\w+)", query)
        operation = request.get("operationName") or (found.group(1) if found else "")
        requested = 100 if "Orders" in operation else 20
        with self.lock:
            self.calls.append(operation)
            mode = self._throttle.pop(0) if self._throttle else None
        if mode is not None:
            deficit = self.throttle_seconds * self.restore_rate
            body = {
                "errors": [
                    {
                        "message": "Throttled",
                        "extensions": {
                            "code": "THROTTLED",
                            "documentation": "https://shopify.dev/api/usage/rate-limits",
                        },
                    }
                ],
                "extensions": self._cost(requested, available=requested - deficit),
            }
            if mode == "429":
                return 429, body, {"Retry-After": str(self.throttle_seconds)}
            return 200, body, {}
        handler = getattr(self, f"_op_{operation}", None)
        if handler is None:
            return 200, {"errors": [{"message": f"sandbox: unknown operation {operation!r}"}]}, {}
        needed = "write_orders" if "mutation" in query.split("{", 1)[0] else "read_orders"
        if operation in ("QuittanceCheck", "QuittanceWebhooks", "QuittanceWebhookCreate"):
            needed = ""
        granted = set(self.scopes) | {s.replace("write_", "read_") for s in self.scopes}
        if needed and needed not in granted:
            return (
                200,
                {
                    "data": None,
                    "errors": [
                        {
                            "message": f"Access denied for {operation} field. Required access: "
                            f"`{needed}` access scope.",
                            "extensions": {"code": "ACCESS_DENIED"},
                        }
                    ],
                    "extensions": self._cost(requested),
                },
                {},
            )
        with self.lock:
            data = handler(variables, query)
        return 200, {"data": data, "extensions": self._cost(requested)}, {}

    # one method per operation ---------------------------------------------------------------

    def _public(self, node: dict[str, Any]) -> dict[str, Any]:
        return json.loads(json.dumps({k: v for k, v in node.items() if not k.startswith("_")}))

    def _order_by_gid(self, gid: str) -> dict[str, Any] | None:
        return self.orders.get(str(gid).rsplit("/", 1)[-1])

    def _lines(self, node: dict[str, Any], after: str | None) -> dict[str, Any]:
        """`lineItems(first: line_page, after:)`: cursors are the index of the last line."""
        edges = node["lineItems"]["edges"]
        start = int(after) + 1 if after else 0
        page = edges[start : start + self.line_page]
        end = start + len(page) - 1
        return {
            "pageInfo": {"hasNextPage": end + 1 < len(edges), "endCursor": str(end)},
            "edges": [{"cursor": str(start + i), **e} for i, e in enumerate(page)],
        }

    def _op_QuittanceOrder(self, variables: dict, query: str) -> dict:
        node = self._order_by_gid(variables.get("id", ""))
        if node is None:
            return {"order": None}
        public = self._public(node)
        public["lineItems"] = self._lines(public, None)
        return {"order": public}

    def _op_QuittanceOrderLines(self, variables: dict, query: str) -> dict:
        node = self._order_by_gid(variables.get("id", ""))
        if node is None:
            return {"order": None}
        return {"order": {"lineItems": self._lines(self._public(node), variables.get("after"))}}

    def _op_QuittancePaidOrders(self, variables: dict, query: str) -> dict:
        search = str(variables.get("query") or "")
        first = min(int(variables.get("first") or 50), 250)
        rows = list(self.orders.values())
        if "financial_status:paid" in search:
            rows = [r for r in rows if r["displayFinancialStatus"] == "PAID"]
        found = re.search(r"updated_at:>=(?:'([^']+)'|\"([^\"]+)\"|(\S+))", search)
        if found:
            quoted = found.group(1) or found.group(2)
            if quoted:
                since = _parse(quoted)
            else:  # Shopify's quirk: unquoted, only the date is taken into account
                since = datetime.fromisoformat(found.group(3)[:10]).replace(tzinfo=UTC)
            rows = [r for r in rows if _parse(r["updatedAt"]) >= since]
        rows.sort(key=lambda r: (r["updatedAt"], int(r["legacyResourceId"])))
        after = variables.get("after")
        if after:
            mark = json.loads(base64.b64decode(after))
            key = (mark["last_value"], int(mark["last_id"]))
            rows = [r for r in rows if (r["updatedAt"], int(r["legacyResourceId"])) > key]
        page, more = rows[:first], len(rows) > first
        edges = []
        for r in page:
            cursor = base64.b64encode(
                json.dumps({"last_id": int(r["legacyResourceId"]),
                            "last_value": r["updatedAt"]}).encode()
            ).decode()  # fmt: skip
            edges.append({"cursor": cursor, "node": self._public(r)})
        return {
            "orders": {
                "edges": edges,
                "pageInfo": {
                    "hasNextPage": more,
                    "endCursor": edges[-1]["cursor"] if edges else None,
                },
            }
        }

    def _mf(self, order_id: str, key: str) -> dict[str, Any] | None:
        value = self.metafields.get(order_id, {}).get(("quittance", key))
        if value is None:
            return None
        return {"value": value, "compareDigest": hashlib.sha256(value.encode()).hexdigest()}

    def _op_QuittanceInvoiceMetafields(self, variables: dict, query: str) -> dict:
        node = self._order_by_gid(variables.get("id", ""))
        if node is None:
            return {"order": None}
        oid = node["legacyResourceId"]
        return {
            "order": {
                "id": node["id"],
                "note": node.get("note"),
                "number": self._mf(oid, "invoice_number"),
                "url": self._mf(oid, "invoice_url"),
            }
        }

    def _op_QuittanceMetafieldsSet(self, variables: dict, query: str) -> dict:
        inputs = variables.get("metafields") or []
        errors = []
        for index, item in enumerate(inputs):
            node = self._order_by_gid(item.get("ownerId", ""))
            if node is None:
                errors.append({"field": ["metafields", str(index), "ownerId"],
                               "message": "Owner does not exist.", "code": "INVALID"})  # fmt: skip
                continue
            if "compareDigest" in item:
                current = self.metafields.get(node["legacyResourceId"], {}).get(
                    (item["namespace"], item["key"])
                )
                digest = hashlib.sha256(current.encode()).hexdigest() if current else None
                if item["compareDigest"] != digest:
                    errors.append({"field": ["metafields", str(index), "compareDigest"],
                                   "message": "The resource has been updated since it was "
                                   "loaded. Try again with an updated `compareDigest` value.",
                                   "code": "STALE_OBJECT"})  # fmt: skip
        if errors:  # atomic: nothing is written
            return {"metafieldsSet": {"metafields": [], "userErrors": errors}}
        written = []
        for item in inputs:
            oid = self._order_by_gid(item["ownerId"])["legacyResourceId"]  # type: ignore[index]
            self.metafields.setdefault(oid, {})[(item["namespace"], item["key"])] = item["value"]
            self.metafield_writes += 1
            if item["key"] == "invoice_number":
                self.invoice_number_writes[oid] = self.invoice_number_writes.get(oid, 0) + 1
            written.append({k: item[k] for k in ("namespace", "key", "value")})
        return {"metafieldsSet": {"metafields": written, "userErrors": []}}

    def _op_QuittanceOrderNote(self, variables: dict, query: str) -> dict:
        data = variables.get("input") or {}
        node = self._order_by_gid(data.get("id", ""))
        if node is None:
            error = {"field": ["id"], "message": "Order does not exist"}
            return {"orderUpdate": {"order": None, "userErrors": [error]}}
        node["note"] = data.get("note")
        node["updatedAt"] = _iso(self.now())
        return {
            "orderUpdate": {"order": {"id": node["id"], "note": node["note"]}, "userErrors": []}
        }

    def _op_QuittanceWebhooks(self, variables: dict, query: str) -> dict:
        nodes = []
        for sub in self.subscriptions:
            node = {"id": sub["id"], "topic": sub["topic"], "format": "JSON"}
            if re.search(r"\buri\b", query):
                node["uri"] = sub["uri"]
            else:
                node["endpoint"] = {"callbackUrl": sub["uri"]}
            nodes.append({"node": node})
        return {"webhookSubscriptions": {"edges": nodes}}

    def _op_QuittanceWebhookCreate(self, variables: dict, query: str) -> dict:
        uri = str(variables.get("uri") or "")
        topic = str(variables.get("topic") or "")
        problem = ""
        if not uri.startswith(("https://", "http://")):
            problem = "Address is invalid"
        elif any(s["topic"] == topic and s["uri"] == uri for s in self.subscriptions):
            problem = "Address for this topic has already been taken"
        if problem:
            error = {"field": ["webhookSubscription", "uri"], "message": problem}
            return {
                "webhookSubscriptionCreate": {"webhookSubscription": None, "userErrors": [error]}
            }
        sub = {"id": f"gid://shopify/WebhookSubscription/{len(self.subscriptions) + 1}",
               "topic": topic, "uri": uri}  # fmt: skip
        self.subscriptions.append(sub)
        return {"webhookSubscriptionCreate": {"webhookSubscription": sub, "userErrors": []}}

    def _op_QuittanceCheck(self, variables: dict, query: str) -> dict:
        return {
            "shop": {
                "name": "La Théière (sandbox)",
                "myshopifyDomain": self.domain,
                "currencyCode": self.shop_currency,
            },
            "currentAppInstallation": {"accessScopes": [{"handle": s} for s in self.scopes]},
        }


def main() -> None:  # pragma: no cover - manual exploration: python -m connectors.shopify.sandbox
    with ShopifySandbox() as sandbox:
        print(f"Shopify sandbox on {sandbox.base_url} (domain {sandbox.domain}, token {TOKEN})")
        threading.Event().wait()


if __name__ == "__main__":  # pragma: no cover
    main()
