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
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests

CENT = Decimal("0.01")
DOMAIN = "la-theiere.myshopify.com"
TOKEN = "shpat_sandbox_token"
SECRET = "sandbox-client-secret"
ALL_SCOPES = ("read_orders", "write_orders", "read_all_orders")
UNAUTHORIZED = {
    "errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"
}


def _c(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def signature(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


# --------------------------------------------------------------------------------------------
# Building orders the way Shopify computes them


@dataclass
class Item:
    title: str
    unit_price: str  # as shown to the customer (incl. VAT when taxes_included)
    quantity: int = 1
    rate: str = "20"  # percent
    variant: str = ""
    sku: str = ""
    discount: str = "0"  # allocated to this line, same basis as the price
    properties: dict[str, str] = field(default_factory=dict)


@dataclass
class Shipping:
    title: str
    price: str
    rate: str = "20"
    discount: str = "0"


def _bag(amount: Decimal, currency: str, shop_currency: str, fx: Decimal) -> dict[str, Any]:
    """presentment amount → MoneyBag; shop money = presentment × fx (rounded)."""
    return {
        "shopMoney": {"amount": str(_c(amount * fx)), "currencyCode": shop_currency},
        "presentmentMoney": {"amount": str(_c(amount)), "currencyCode": currency},
    }


def _tax(amount_after: Decimal, rate: Decimal, included: bool) -> Decimal:
    r = rate / 100
    return _c(amount_after * r / (1 + r)) if included else _c(amount_after * r)


def build_order(
    order_id: int,
    name: str,
    items: list[Item],
    *,
    shipping: Shipping | None = None,
    currency: str = "EUR",
    shop_currency: str = "EUR",
    fx: str = "1",
    taxes_included: bool = True,
    discount_code: str = "",
    customer: dict[str, str] | None = None,
    address: dict[str, str] | None = None,
    shipping_address: dict[str, str] | None = None,
    locale: str = "fr",
    gateway: str = "shopify_payments",
    gateway_label: str = "Shopify Payments",
    paid: bool = True,
    created_at: datetime | None = None,
    test: bool = False,
) -> dict[str, Any]:
    """A GraphQL Order node as Shopify would return it (taxes per line, rounded per line).

    Without `created_at` the order was placed an hour ago (and, when `paid`, paid a minute
    later): sandboxes are never pinned to a calendar date, so polls that look back from now
    see them whatever the day."""
    rate_fx = Decimal(fx)
    created = created_at or datetime.now(UTC) - timedelta(hours=1)
    money = lambda a: _bag(a, currency, shop_currency, rate_fx)  # noqa: E731
    apps = []
    if discount_code:
        apps.append(
            {
                "__typename": "DiscountCodeApplication",
                "index": 0,
                "allocationMethod": "ACROSS",
                "targetType": "LINE_ITEM",
                "code": discount_code,
            }
        )
    line_nodes, total, total_tax, total_disc = [], Decimal(0), Decimal(0), Decimal(0)
    for n, item in enumerate(items, start=1):
        unit = Decimal(item.unit_price)
        gross = unit * item.quantity
        disc = Decimal(item.discount)
        rate = Decimal(item.rate)
        tax = _tax(gross - disc, rate, taxes_included)
        total += gross - disc + (Decimal(0) if taxes_included else tax)
        total_tax += tax
        total_disc += disc
        line_nodes.append(
            {
                "node": {
                    "id": f"gid://shopify/LineItem/{order_id}{n:02d}",
                    "name": f"{item.title} - {item.variant}" if item.variant else item.title,
                    "title": item.title,
                    "variantTitle": item.variant or None,
                    "sku": item.sku,
                    "quantity": item.quantity,
                    "customAttributes": [
                        {"key": k, "value": v} for k, v in item.properties.items()
                    ],
                    "originalUnitPriceSet": money(unit),
                    "originalTotalSet": money(gross),
                    "taxLines": [
                        {
                            "title": f"TVA {item.rate} %",
                            "rate": float(rate / 100),
                            "ratePercentage": float(rate),
                            "priceSet": money(tax),
                        }
                    ]
                    if rate
                    else [],
                    "discountAllocations": [
                        {"allocatedAmountSet": money(disc), "discountApplication": {"index": 0}}
                    ]
                    if disc
                    else [],
                }
            }
        )
    ship_nodes = []
    if shipping is not None:
        price = Decimal(shipping.price)
        disc = Decimal(shipping.discount)
        rate = Decimal(shipping.rate)
        tax = _tax(price - disc, rate, taxes_included)
        total += price - disc + (Decimal(0) if taxes_included else tax)
        total_tax += tax
        ship_nodes.append(
            {
                "node": {
                    "title": shipping.title,
                    "code": shipping.title,
                    "originalPriceSet": money(price),
                    "discountedPriceSet": money(price - disc),
                    "taxLines": [
                        {
                            "title": f"TVA {shipping.rate} %",
                            "rate": float(rate / 100),
                            "ratePercentage": float(rate),
                            "priceSet": money(tax),
                        }
                    ]
                    if rate
                    else [],
                    "discountAllocations": [],
                }
            }
        )
    cust = customer or {"firstName": "Camille", "lastName": "Martin", "email": "camille@example.fr"}
    addr = address or {
        "address1": "12 rue de la République",
        "zip": "69001",
        "city": "Lyon",
        "countryCodeV2": "FR",
    }
    billing = {"firstName": cust.get("firstName"), "lastName": cust.get("lastName"), **addr}
    node: dict[str, Any] = {
        "id": f"gid://shopify/Order/{order_id}",
        "legacyResourceId": str(order_id),
        "name": name,
        "createdAt": _iso(created),
        "updatedAt": _iso(created),
        "processedAt": _iso(created),
        "cancelledAt": None,
        "test": test,
        "email": cust.get("email"),
        "phone": None,
        "note": None,
        "customerLocale": locale,
        "currencyCode": shop_currency,
        "presentmentCurrencyCode": currency,
        "taxesIncluded": taxes_included,
        "displayFinancialStatus": "PENDING",
        "paymentGatewayNames": [gateway],
        "customAttributes": [],
        "customer": {**cust, "phone": None, "locale": locale},
        "billingAddress": billing,
        "shippingAddress": {**billing, **(shipping_address or {})},
        "totalPriceSet": money(total),
        "totalTaxSet": money(total_tax),
        "totalDiscountsSet": money(total_disc),
        "discountApplications": {"edges": [{"node": a} for a in apps]},
        "lineItems": {"pageInfo": {"hasNextPage": False, "endCursor": None}, "edges": line_nodes},
        "shippingLines": {"edges": ship_nodes},
        "transactions": [],
        "_gateway": (gateway, gateway_label),
    }
    if paid:
        _add_payment(node, created + timedelta(minutes=1))
    return node


def _add_payment(node: dict[str, Any], when: datetime) -> None:
    gateway, label = node.get("_gateway") or ("shopify_payments", "Shopify Payments")
    number = len(node["transactions"]) + 1
    node["transactions"].append(
        {
            "id": f"gid://shopify/OrderTransaction/{node['legacyResourceId']}{number:02d}",
            "kind": "SALE",
            "status": "SUCCESS",
            "gateway": gateway,
            "formattedGateway": label,
            "processedAt": _iso(when),
            "createdAt": _iso(when),
            "authorizationCode": f"ch_{node['legacyResourceId']}",
            "test": False,
            "amountSet": node["totalPriceSet"],
        }
    )
    node["displayFinancialStatus"] = "PAID"
    node["processedAt"] = _iso(when)
    node["updatedAt"] = _iso(when)


def seed_orders(now: datetime | None = None) -> list[dict[str, Any]]:
    """French orders plus orders shaped like the fixtures in `tests/fixtures/`, all paid,
    placed ten minutes apart from two hours before `now` (the sandbox's clock, by default the
    wall clock)."""
    base = (now or datetime.now(UTC)) - timedelta(hours=2)
    return [
        # EUR, taxes included, 5,5 % and 20 %, a discount code, taxed shipping.
        build_order(
            5001,
            "#1001",
            [
                Item(
                    "Thé vert Sencha",
                    "12.90",
                    2,
                    rate="5.5",
                    variant="100 g",
                    sku="TH-SEN-100",
                    discount="2.58",
                ),
                Item(
                    "Théière en fonte",
                    "45.00",
                    1,
                    rate="20",
                    variant="Noir",
                    sku="TP-FON-N",
                    discount="4.50",
                    properties={"Gravure": "Camille"},
                ),
            ],
            shipping=Shipping("Colissimo", "6.90"),
            discount_code="BIENVENUE10",
            created_at=base,
        ),
        # EUR, 5,5 % only, a company on the billing address.
        build_order(
            5002,
            "#1002",
            [Item("Rooibos vanille", "8.50", 3, rate="5.5", variant="50 g", sku="RB-VAN-50")],
            shipping=Shipping("Retrait en boutique", "0.00"),
            customer={"firstName": "Léa", "lastName": "Dubois", "email": "lea@bureau.example.fr"},
            address={
                "company": "Bureau Dubois SARL",
                "address1": "3 quai Saint-Antoine",
                "zip": "69002",
                "city": "Lyon",
                "countryCodeV2": "FR",
            },
            created_at=base + timedelta(minutes=10),
        ),
        # A French shop (EUR) paid in USD by a customer in Ireland (French VAT 20 %).
        build_order(
            5003,
            "#1003",
            [Item("Linen apron", "36.00", 2, rate="20", variant="natural", sku="APR-LIN-NAT")],
            shipping=Shipping("International shipping", "18.00"),
            currency="USD",
            fx="0.86",
            customer={"firstName": "Emily", "lastName": "Clarke", "email": "emily@example.ie"},
            address={
                "address1": "18 Merrion Square",
                "zip": "D02 VX29",
                "city": "Dublin",
                "countryCodeV2": "IE",
            },
            locale="en-IE",
            gateway="paypal",
            gateway_label="PayPal Express Checkout",
            created_at=base + timedelta(minutes=20),
        ),
        # Shaped like fixture 07b (GBP, VAT included, no discount), paid in GBP.
        build_order(
            5004,
            "#1004",
            [Item("All School Day Long - SPF 40", "9.99", 5, rate="20", sku="CALC40A")],
            currency="GBP",
            fx="1.15",
            customer={"firstName": "Oliver", "lastName": "Smith", "email": "oliver@example.co.uk"},
            address={
                "address1": "3 Greenfields Drive",
                "zip": "LE67 4DJ",
                "city": "Coalville",
                "countryCodeV2": "GB",
            },
            locale="en",
            created_at=base + timedelta(minutes=30),
        ),
        # Shaped like fixture 04 (automatic discount on the line, prices excl. tax), in EUR.
        build_order(
            5005,
            "#1005",
            [Item("Coffret découverte", "40.00", 2, rate="20", discount="10.00", sku="COF-DEC")],
            shipping=Shipping("Colissimo", "9.28", rate="20"),
            taxes_included=False,
            discount_code="PLUSH5",
            customer={"firstName": "Bob", "lastName": "Norman", "email": "bob@example.fr"},
            created_at=base + timedelta(minutes=40),
        ),
    ]


# --------------------------------------------------------------------------------------------
# The server


class ShopifySandbox:
    """`with ShopifySandbox() as sb:` → sb.base_url for `api_base_url`; a Python API for tests."""

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
        self.now = clock or (lambda: datetime.now(UTC))
        self.domain = domain
        self.token = token
        self.scopes = list(scopes)
        self.shop_currency = shop_currency
        self.restore_rate = restore_rate
        self.line_page = 30  # as LINE_PAGE in connectors.shopify.queries
        self.throttle_seconds = throttle_seconds
        self.lock = threading.RLock()
        self.orders: dict[str, dict[str, Any]] = {}
        self.metafields: dict[str, dict[tuple[str, str], str]] = {}
        self.subscriptions: list[dict[str, Any]] = []
        self.calls: list[str] = []  # operation names, in order (throttled ones included)
        self.metafield_writes = 0
        self._throttle: list[str] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        if seed:
            for node in seed_orders(self.now()):
                self.add_order(node)

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def start(self) -> ShopifySandbox:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():  # shutdown() waits forever for a server never started
            self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> ShopifySandbox:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

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
                 "price": e["node"]["originalUnitPriceSet"]["presentmentMoney"]["amount"]}
                for e in node["lineItems"]["edges"]
            ],
        }  # fmt: skip
        return json.dumps(body).encode()

    def deliver_webhook(
        self,
        target_url: str,
        order_id: str | int,
        *,
        secret: str = SECRET,
        event_id: str | None = None,
        webhook_id: str | None = None,
        shop_domain: str | None = None,
        topic: str = "orders/paid",
        duplicate: int = 1,
        body: bytes | None = None,
        tamper: bool = False,
    ) -> list[int]:
        """POST a signed webhook `duplicate` times (same ids: what Shopify retries look like)."""
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
        if tamper:
            raw = raw.replace(b'"name"', b'"Name"')
        return [
            requests.post(target_url, data=raw, headers=headers, timeout=5).status_code
            for _ in range(duplicate)
        ]

    # -- GraphQL ---------------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        sandbox = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                status, body, headers = sandbox.handle(self.path, dict(self.headers), raw)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        return Handler

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
