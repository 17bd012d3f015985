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
* `refund(id:)` with its refund line items paged by `after` (the order lists `refunds { id }`);
* `metafieldsSet` with `compareDigest` (null = must not exist yet), `orderUpdate` (note),
  `webhookSubscriptions` / `webhookSubscriptionCreate`, `shop`, `currentAppInstallation`;
* any mutation that would move money (refundCreate, capture, void, cancel, mark as paid…) is
  refused and recorded in `money_calls`: Quittance must never send one (`mutations` lists
  every mutation received, by root field);
* `deliver_webhook(...)` POSTs a signed, REST-shaped `orders/paid` or `refunds/create` body to
  our endpoint — with duplicates, another secret, or another shop domain when asked;
* `add_refund(...)` refunds an order as the Shopify admin would (without moving money, it is
  a sandbox) and, like Shopify, posts `refunds/create` to the subscribed endpoints.

Seeded by `seed_orders()` with orders shaped like the real payloads in
`tests/fixtures/shopify/` plus French ones (refunded ones among them), dated relative to the
sandbox's clock.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import requests

from connectors.sandbox_server import Reply, Request, SandboxServer
from connectors.shopify.sandbox_orders import (
    _add_payment,
    _iso,
    _parse,
    refund_order,
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
# Admin API mutations that move money or settle an order: never to be received from Quittance.
MONEY_MUTATIONS = frozenset({
    "refundCreate", "returnRefund", "returnProcess", "orderCapture", "transactionVoid",
    "orderCancel", "orderMarkAsPaid", "orderCreateManualPayment", "orderEditCommit",
    "storeCreditAccountCredit", "giftCardCreate", "paymentReminderSend",
})  # fmt: skip
SAFE_MUTATIONS = frozenset({"metafieldsSet", "orderUpdate", "webhookSubscriptionCreate"})


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
        self.mutations: list[str] = []  # root field of every mutation received, in order
        self.money_calls: list[str] = []  # the money-moving ones among them (must stay empty)
        self.deliveries: list[tuple[str, str, int | str]] = []  # (topic, url, status or error)
        self.refund_line_page = 30  # as REFUND_LINE_PAGE in connectors.shopify.queries
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

    def add_refund(
        self,
        order_id: str | int,
        *,
        lines: Sequence[tuple[int, int]] = (),
        shipping: bool | Decimal = False,
        amount: Decimal | None = None,
        reason: str = "",
        notify: bool = True,
    ) -> str:
        """Refund an order as the Shopify admin would; the refund's numeric id.

        `lines`: (0-based index of the order's line items, units), refunded at what was paid
        for them with their share of the VAT; `shipping`: True = all of it with its VAT, a
        Decimal = that amount incl. VAT; `amount`: an extra amount-only refund incl. VAT (an
        order adjustment, no lines). The order's financial status (PARTIALLY_REFUNDED or
        REFUNDED) and `updatedAt` move; `notify` posts `refunds/create` to the endpoints
        subscribed to REFUNDS_CREATE. Raises ValueError for what Shopify would refuse (more
        units than the line has, more money than is left, nothing at all)."""
        with self.lock:
            node = self.orders[str(order_id)]
            refund = refund_order(
                node, self.now(), lines=lines, shipping=shipping, amount=amount, reason=reason
            )
            refund_id = str(refund["legacyResourceId"])
        if notify:  # outside the lock: the receiver may read the order back at once
            self.notify_subscribers("REFUNDS_CREATE", order_id, refund_id=refund_id)
        return refund_id

    def notify_subscribers(self, topic: str, order_id: str | int, **request: Any) -> None:
        """POST the webhook of `topic` (e.g. REFUNDS_CREATE) to every endpoint subscribed to
        it, as Shopify does; what each answered (or why it could not) is in `deliveries`."""
        rest_topic = topic.lower().replace("_", "/", 1)
        targets = [sub["uri"] for sub in self.subscriptions if sub["topic"] == topic]
        for url in targets:
            status: int | str
            try:
                (status,) = self.deliver_webhook(url, order_id, topic=rest_topic, **request)
            except requests.RequestException as exc:
                status = f"not delivered: {exc}"
            self.deliveries.append((rest_topic, url, status))

    def refund(self, refund_id: str | int) -> dict[str, Any]:
        """The stored refund node (as `refund(id:)` returns it)."""
        found = self._refund_by_gid(f"gid://shopify/Refund/{refund_id}")
        if found is None:
            raise KeyError(f"no refund {refund_id}")
        return found[1]

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
        is_mutation = "mutation" in query.split("{", 1)[0]
        if is_mutation:  # recorded whatever its name: a money mutation is caught even unnamed
            refused = self._record_mutation(query)
            if refused:
                message = f"sandbox: {refused} moves money; Quittance must never send it"
                return 200, {"errors": [{"message": message}]}, {}
        handler = getattr(self, f"_op_{operation}", None)
        if handler is None:
            return 200, {"errors": [{"message": f"sandbox: unknown operation {operation!r}"}]}, {}
        needed = "write_orders" if is_mutation else "read_orders"
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

    def _record_mutation(self, query: str) -> str:
        """Note the mutation's root field; the name of it when it would move money."""
        found = re.search(r"\bmutation\b[^{]*\{\s*(\w+)", query)
        root = found.group(1) if found else "?"
        with self.lock:
            self.mutations.append(root)
            if root in MONEY_MUTATIONS:
                self.money_calls.append(root)
                return root
        return ""

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

    @staticmethod
    def _listed_refunds(public: dict[str, Any]) -> dict[str, Any]:
        """An order as listed: its refunds by id only (`refunds { id }`), read one by one."""
        public["refunds"] = [{"id": r["id"]} for r in public.get("refunds") or []]
        return public

    def _op_QuittanceOrder(self, variables: dict, query: str) -> dict:
        node = self._order_by_gid(variables.get("id", ""))
        if node is None:
            return {"order": None}
        public = self._listed_refunds(self._public(node))
        public["lineItems"] = self._lines(public, None)
        return {"order": public}

    def _refund_by_gid(self, gid: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
        for order in self.orders.values():
            for refund in order.get("refunds") or []:
                if refund["id"] == gid:
                    return order, refund
        return None

    def _op_QuittanceRefund(self, variables: dict, query: str) -> dict:
        """`refund(id:)`, its refund line items paged like `lineItems` (cursor = index)."""
        found = self._refund_by_gid(str(variables.get("id") or ""))
        if found is None:
            return {"refund": None}
        public = self._public(found[1])
        if not re.search(r"\borderAdjustments\b", query):  # before 2024-10: no such field
            public.pop("orderAdjustments", None)
        edges = public["refundLineItems"]["edges"]
        after = variables.get("after")
        start = int(after) + 1 if after else 0
        page = edges[start : start + self.refund_line_page]
        end = start + len(page) - 1
        public["refundLineItems"] = {
            "pageInfo": {"hasNextPage": end + 1 < len(edges), "endCursor": str(end)},
            "edges": [{"cursor": str(start + i), **e} for i, e in enumerate(page)],
        }
        return {"refund": public}

    def _op_QuittanceOrderLines(self, variables: dict, query: str) -> dict:
        node = self._order_by_gid(variables.get("id", ""))
        if node is None:
            return {"order": None}
        return {"order": {"lineItems": self._lines(self._public(node), variables.get("after"))}}

    def _op_QuittancePaidOrders(self, variables: dict, query: str) -> dict:
        search = str(variables.get("query") or "")
        first = min(int(variables.get("first") or 50), 250)
        rows = list(self.orders.values())
        statuses = {m.upper() for m in re.findall(r"financial_status:(\w+)", search)}
        if statuses:  # "(financial_status:paid OR financial_status:refunded)": any of them
            rows = [r for r in rows if r["displayFinancialStatus"] in statuses]
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
            edges.append({"cursor": cursor, "node": self._listed_refunds(self._public(r))})
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
                "creditNotes": self._mf(oid, "credit_notes"),
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
