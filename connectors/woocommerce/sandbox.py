"""A WooCommerce REST v3 sandbox: a real HTTP server speaking the subset Quittance uses.

    with WooSandbox() as wc:             # 127.0.0.1, free port, French orders seeded
        wc.url                            # "http://127.0.0.1:PORT" (the shop URL to configure)
        wc.add_order(raw) / wc.set_status(1002, "processing", paid=True)
        wc.add_refund(1001, lines=[(0, 1)], shipping=True, reason="Cassé")  # → refund id
        wc.delete_refund(1001, refund_id)  # as the owner in the admin: no webhook
        wc.deliver_webhook(target, 1002, duplicate=3)  # signed, like WooCommerce
        wc.ping(target)                   # the unsigned form-encoded creation ping
        wc.fail_next(2, status=429, retry_after=1)     # fault injection (also 500, delays)
        wc.flush_webhooks()               # deliver what the shop queued to its registered hooks

Endpoints (under /wp-json/wc/v3): `GET orders` (modified_after, dates_are_gmt, page, per_page
≤ 100, orderby, order, status; X-WP-Total / X-WP-TotalPages), `GET/PUT orders/<id>` (status,
meta_data), `GET/POST orders/<id>/notes`, `GET orders/<id>/refunds` (page, per_page; newest
first) and `GET orders/<id>/refunds/<rid>` (a POST is recorded in `refund_posts` and refused,
so tests can prove we never move money), `GET/POST webhooks`,
`GET/PUT webhooks/<id>`, `GET taxes/<id>`, `GET products/<id>` and
`GET products/<id>/variations/<vid>` (404 `woocommerce_rest_product_invalid_id` /
`…_product_variation_invalid_id` once deleted; 403 `woocommerce_rest_cannot_view` when
`product_access` is False, as for a key whose user may not read products).

The catalogue: every product an added order names exists as a physical product (a variation
of a variable one for a line with a `variation_id`) unless `add_product` / `add_variation`
said otherwise first; `delete_product` removes one, as the owner deleting it after the sale.

Auth, as WooCommerce does it: HTTP Basic (`consumer_key:consumer_secret`; real shops accept it
over HTTPS only — the sandbox accepts it on plain HTTP unless `basic_auth=False`, as if behind
a TLS proxy) or one-legged OAuth 1.0a in the query string, verified with WooCommerce's own
algorithm (rawurlencode, sorted params, `consumer_secret&` key, HMAC-SHA1/256, 15 min
timestamp window, nonces single-use). The `woocommerce` package sends every query parameter
twice on that path: exact duplicates are ignored, as PHP would.

The shop's behaviour that matters to us is modelled: status changes set `date_paid` like
WooCommerce (not for cash on delivery before `completed`), every change bumps
`date_modified_gmt` and queues an `order.updated` delivery built when the queue runs
(`flush_webhooks`), a hook that fails 5 times in a row is `disabled`. A refund is stored as
WooCommerce stores it (`sandbox_refunds`): it bumps `date_modified`, queues `order.updated`,
and turns the order `refunded` once all of it is given back; deleting a refund queues nothing
(WooCommerce fires no webhook then), only polling can see it.

Seeded: `french_orders`, then `refunded_orders` with their `french_refunds` (all dated from
the sandbox's clock).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import itertools
import json
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, quote

from connectors.sandbox_server import Reply, Request, SandboxServer
from connectors.woocommerce.sandbox_orders import (
    TAX_RATES,
    french_orders,
    french_products,
    french_refunds,
    make_product,
    make_variation,
    refunded_orders,
    wc_dates,
)
from connectors.woocommerce.sandbox_refunds import (
    RefundRequest,
    build_refund,
    refunded_so_far,
    summary,
)
from connectors.woocommerce.sandbox_webhooks import Delivery, WebhookQueue

API_PREFIX = "/wp-json/wc/v3/"


def _rawurlencode(value: str) -> str:
    return quote(value, safe="~")


def oauth_signature(method: str, base_url: str, params: Mapping[str, str], secret: str) -> str:
    """WooCommerce's `check_oauth_signature` (class-wc-rest-authentication.php)."""
    algo = params.get("oauth_signature_method", "HMAC-SHA256").replace("HMAC-", "").lower()
    items = sorted((k, v) for k, v in params.items() if k != "oauth_signature")
    query = "%26".join(_rawurlencode(f"{_rawurlencode(k)}={_rawurlencode(v)}") for k, v in items)
    to_sign = f"{method.upper()}&{_rawurlencode(base_url)}&{query}"
    digest = hmac.new(f"{secret}&".encode(), to_sign.encode(), getattr(hashlib, algo)).digest()
    return base64.b64encode(digest).decode()


class WooSandbox(WebhookQueue, SandboxServer):
    def __init__(
        self,
        *,
        consumer_key: str = "ck_sandbox",
        consumer_secret: str = "cs_sandbox",
        webhook_secret: str = "wh-sandbox-secret",
        seed: bool = True,
        basic_auth: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__(host=host, port=port)
        self._clock = clock or (lambda: datetime.now(UTC))
        self.consumer_key = consumer_key
        self.consumer_secret = consumer_secret
        self.webhook_secret = webhook_secret
        self.basic_auth = basic_auth
        self.orders: dict[int, dict[str, Any]] = {}
        self.notes: dict[int, list[dict[str, Any]]] = {}
        self.refunds: dict[int, list[dict[str, Any]]] = {}  # order id → newest first
        self.webhooks: dict[int, dict[str, Any]] = {}
        self.queue: list[Delivery] = []
        self.refund_posts = 0
        self.pings: list[tuple[str, int]] = []
        self.deliveries: list[tuple[str, int, int]] = []  # (topic, order id, status)
        self._nonces: set[str] = set()
        self._ids = itertools.count(10_000)
        # Refunds are posts like orders (ids above the seeded ones), their items rows of the
        # order items table: counters of their own, so notes and hooks keep their ids.
        self._refund_ids = itertools.count(20_000)
        self._refund_item_ids = itertools.count(900_000)
        self.products: dict[int, dict[str, Any]] = {}
        self.variations: dict[tuple[int, int], dict[str, Any]] = {}  # (product id, variation id)
        self.product_access = True
        if seed:
            for product in french_products(self.now()):
                self.add_product(product)
            for order in [*french_orders(self.now()), *refunded_orders(self.now())]:
                self.add_order(order, notify=False)
            for order_id, asked, at in french_refunds(self.now()):
                self._refund(order_id, RefundRequest(**asked), at=at, notify=False)

    # -- the shop's data ------------------------------------------------------------------

    def now(self) -> datetime:
        """The shop's clock: seeded orders and every date the shop writes come from it."""
        return self._clock()

    def add_product(self, product: Mapping[str, Any]) -> int:
        """A catalogue entry (`sandbox_orders.make_product`), replacing one with its id."""
        with self.lock:
            self.products[int(product["id"])] = copy.deepcopy(dict(product))
        return int(product["id"])

    def add_variation(self, product_id: int, variation: Mapping[str, Any]) -> int:
        """A variation (`sandbox_orders.make_variation`) of product `product_id`."""
        with self.lock:
            self.variations[(int(product_id), int(variation["id"]))] = copy.deepcopy(
                dict(variation)
            )
            parent = self.products.get(int(product_id))
            if parent is not None and int(variation["id"]) not in parent["variations"]:
                parent["type"] = "variable"
                parent["variations"].append(int(variation["id"]))
        return int(variation["id"])

    def delete_product(self, product_id: int) -> None:
        """The owner deletes the product (and so its variations) after the sale."""
        with self.lock:
            self.products.pop(int(product_id), None)
            for key in [k for k in self.variations if k[0] == int(product_id)]:
                del self.variations[key]

    def _stock(self, order: Mapping[str, Any]) -> None:
        """Put in the catalogue, as physical products, what the order sells and it lacks."""
        for item in order.get("line_items") or []:
            product, variation = (
                int(item.get("product_id") or 0),
                int(item.get("variation_id") or 0),
            )
            if product and product not in self.products:
                self.add_product(
                    make_product(
                        product,
                        str(item.get("parent_name") or item.get("name") or f"Produit {product}"),
                        sku="" if variation else str(item.get("sku") or ""),
                        tax_class=str(item.get("tax_class") or ""),
                        now=self.now(),
                    )
                )
            if product and variation and (product, variation) not in self.variations:
                attributes = {
                    str(m.get("display_key") or m.get("key")): str(m.get("value"))
                    for m in item.get("meta_data") or []
                    if str(m.get("key") or "").startswith("pa_")
                }
                self.add_variation(
                    product,
                    make_variation(
                        variation,
                        product,
                        sku=str(item.get("sku") or ""),
                        tax_class=str(item.get("tax_class") or ""),
                        attributes=attributes,
                        now=self.now(),
                    ),
                )

    def add_order(self, raw: Mapping[str, Any], *, notify: bool = True) -> int:
        order = copy.deepcopy(dict(raw))
        with self.lock:
            self._stock(order)
            self.orders[int(order["id"])] = order
            self.notes.setdefault(int(order["id"]), [])
            if notify:
                self._enqueue(int(order["id"]), "order.created")
        return int(order["id"])

    def order(self, order_id: int) -> dict[str, Any]:
        with self.lock:
            return copy.deepcopy(self.orders[int(order_id)])

    def meta(self, order_id: int) -> dict[str, Any]:
        return {m["key"]: m["value"] for m in self.order(order_id).get("meta_data", [])}

    def touch(self, order_id: int, *, notify: bool = True) -> None:
        """Bump `date_modified` (any edit in the admin) and queue `order.updated`."""
        with self.lock:
            self.orders[int(order_id)].update(wc_dates("date_modified", self.now()))
            if notify:
                self._enqueue(int(order_id), "order.updated")

    def set_status(
        self, order_id: int, status: str, *, paid: bool | None = None, notify: bool = True
    ) -> dict[str, Any]:
        """Change the status the way WooCommerce does: `date_paid` is set when the order
        enters processing/completed (cash on delivery: only at completed), unless `paid`
        says otherwise; `date_completed` at completed."""
        with self.lock:
            order = self.orders[int(order_id)]
            now = self.now()
            old = order.get("status")
            order["status"] = status
            cod = order.get("payment_method") == "cod"
            auto_paid = status == "completed" or (status == "processing" and not cod)
            if (paid if paid is not None else auto_paid) and not order.get("date_paid_gmt"):
                order.update(wc_dates("date_paid", now))
            if paid is False:
                order.update(wc_dates("date_paid", None))
            if status == "completed" and not order.get("date_completed_gmt"):
                order.update(wc_dates("date_completed", now))
            order.update(wc_dates("date_modified", now))
            self._add_note(
                int(order_id), f"Order status changed from {old} to {status}.", system=True
            )
            if notify:
                self._enqueue(int(order_id), "order.updated")
            return copy.deepcopy(order)

    def add_refund(
        self,
        order_id: int,
        *,
        lines: Sequence[tuple[int, int]] = (),
        shipping: bool | Decimal = False,
        amount: Decimal | None = None,
        reason: str = "",
        method_refunded: bool = True,
        notify: bool = True,
    ) -> str:
        """The owner refunds from the order screen, now: `lines` are (index in the order's
        line_items, quantity) at the line's unit price with its VAT in proportion; `shipping`
        True gives back all of it, an amount that much incl. VAT on the shipping line; `amount`
        is given back on top, incl. VAT, for nothing in particular. `method_refunded` False =
        recorded only, the money went back some other way. Returns the refund id.

        ValueError as WooCommerce refuses: nothing to refund, or more than is left."""
        request = RefundRequest(lines, shipping, amount, reason, method_refunded)
        return self._refund(order_id, request, at=self.now(), notify=notify)

    def _refund(self, order_id: int, request: RefundRequest, *, at: datetime, notify: bool) -> str:
        with self.lock:
            order = self.orders[int(order_id)]
            refund = build_refund(
                order,
                request,
                refund_id=next(self._refund_ids),
                ids=lambda: next(self._refund_item_ids),
                at=at,
                base_url=self.url,
            )
            self.refunds.setdefault(int(order_id), []).insert(0, refund)
            order.setdefault("refunds", []).insert(0, summary(refund))
            order.update(wc_dates("date_modified", at))
            fully = Decimal(str(order.get("total") or 0)) <= refunded_so_far(order)
            if fully and order.get("status") != "refunded":
                self._status(int(order_id), "refunded", at)  # WooCommerce: fully refunded
            if notify:
                self._enqueue(int(order_id), "order.updated")
            return str(refund["id"])

    def delete_refund(self, order_id: int, refund_id: int | str) -> None:
        """The owner deletes a refund in the admin: gone from the order, and no webhook
        (WooCommerce fires none). Its admin deletes the refund's post without saving the
        order (`WC_AJAX::delete_refund`), so `date_modified` stays as it was and a poll by
        modification date does not see it: only reading the order again tells. The status
        stays what it was."""
        with self.lock:
            kept = [
                r for r in self.refunds.get(int(order_id), []) if str(r["id"]) != str(refund_id)
            ]
            if len(kept) == len(self.refunds.get(int(order_id), [])):
                raise KeyError(f"order {order_id} has no refund {refund_id}")
            self.refunds[int(order_id)] = kept
            order = self.orders[int(order_id)]
            order["refunds"] = [r for r in order["refunds"] if str(r["id"]) != str(refund_id)]

    def _status(self, order_id: int, status: str, at: datetime) -> None:
        """A status change the shop makes by itself, with its system note."""
        order = self.orders[order_id]
        old, order["status"] = order.get("status"), status
        order.update(wc_dates("date_modified", at))
        self._add_note(order_id, f"Order status changed from {old} to {status}.", system=True)

    def _add_note(
        self, order_id: int, text: str, *, customer_note: bool = False, system: bool = False
    ) -> dict[str, Any]:
        note = {
            "id": next(self._ids),
            "author": "system" if system else "Quittance",
            **wc_dates("date_created", self.now()),
            "note": text,
            "customer_note": customer_note,
        }
        self.notes.setdefault(order_id, []).insert(0, note)  # WooCommerce lists newest first
        return note

    def our_notes(self, order_id: int) -> list[dict[str, Any]]:
        with self.lock:
            return [n for n in self.notes.get(int(order_id), []) if n["author"] != "system"]

    def fault_body(self, status: int) -> Any:
        return {"code": "sandbox_fault", "message": "injected", "data": {"status": status}}

    # -- request handling -----------------------------------------------------------------

    def authenticate(self, method: str, host: str, path: str, query: str, auth: str) -> str:
        """ "" when the request is authenticated, else WooCommerce's error message."""
        if auth.lower().startswith("basic "):
            if not self.basic_auth:
                return "Basic auth is only accepted over HTTPS"
            try:
                user, _, pw = base64.b64decode(auth[6:]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return "Malformed Authorization header"
            if user == self.consumer_key and hmac.compare_digest(pw, self.consumer_secret):
                return ""
            return "Consumer secret is invalid."
        pairs = parse_qsl(query, keep_blank_values=True)
        params: dict[str, str] = {}
        for key, value in pairs:
            if key in params and params[key] != value:
                return f"Invalid signature - conflicting values for {key}"
            params.setdefault(key, value)
        if "oauth_consumer_key" not in params:
            return "Sorry, you cannot list resources."
        if params["oauth_consumer_key"] != self.consumer_key:
            return "Consumer key is invalid."
        for required in ("oauth_signature", "oauth_timestamp", "oauth_nonce"):
            if required not in params:
                return f"Missing OAuth parameter {required}"
        try:
            age = abs(time.time() - int(params["oauth_timestamp"]))
        except ValueError:
            return "Invalid timestamp."
        if age > 15 * 60:
            return "Invalid timestamp."
        expected = oauth_signature(method, f"http://{host}{path}", params, self.consumer_secret)
        if not hmac.compare_digest(expected, params["oauth_signature"]):
            return "Invalid signature - provided signature does not match."
        with self.lock:
            nonce = f"{params['oauth_timestamp']}:{params['oauth_nonce']}"
            if nonce in self._nonces:
                return "Invalid nonce - nonce has already been used."
            self._nonces.add(nonce)
        return ""

    def route(self, request: Request) -> Reply:
        if not request.path.startswith(API_PREFIX):
            return _err(404, "rest_no_route", "No route was found matching the URL.")
        problem = self.authenticate(
            request.method,
            request.headers.get("host", ""),
            request.path,
            request.raw_query,
            request.headers.get("authorization", ""),
        )
        if problem:
            return _err(401, "woocommerce_rest_authentication_error", problem)
        try:
            body = json.loads(request.body) if request.body else None
        except ValueError:
            return _err(400, "rest_invalid_json", "Invalid JSON body")
        return self.handle(request.method, request.path, request.query, body)

    def handle(self, method: str, path: str, query: dict[str, str], body: Any) -> Reply:
        route = path[len(API_PREFIX) :].strip("/")
        with self.lock:
            if route == "orders" and method == "GET":
                return self._list_orders(query)
            if m := re.fullmatch(r"orders/(\d+)", route):
                order = self.orders.get(int(m[1]))
                if order is None:
                    return _err(404, "woocommerce_rest_shop_order_invalid_id", "Invalid ID.")
                if method == "PUT":
                    self._update_order(int(m[1]), body or {})
                return 200, _public(self.orders[int(m[1])]), {}
            if m := re.fullmatch(r"orders/(\d+)/notes", route):
                oid = int(m[1])
                if oid not in self.orders:
                    return _err(404, "woocommerce_rest_order_invalid_id", "Invalid order ID.")
                if method == "POST":
                    if not isinstance(body, dict) or not body.get("note"):
                        return _err(
                            400, "rest_missing_callback_param", "Missing parameter(s): note"
                        )
                    note = self._add_note(
                        oid, str(body["note"]), customer_note=bool(body.get("customer_note"))
                    )
                    return 201, note, {}
                notes = self.notes.get(oid, [])
                kind = query.get("type", "any")
                if kind == "customer":
                    notes = [n for n in notes if n["customer_note"]]
                elif kind == "internal":
                    notes = [n for n in notes if not n["customer_note"]]
                return 200, notes, {}
            if m := re.fullmatch(r"orders/(\d+)/refunds(?:/(\d+))?", route):
                if method == "POST":
                    self.refund_posts += 1
                    return _err(403, "sandbox_refund_refused", "The sandbox never refunds.")
                if method == "GET":
                    return self._read_refunds(int(m[1]), int(m[2] or 0), query)
            if route == "webhooks":
                if method == "POST":
                    return self._create_webhook(body or {})
                hooks = sorted(self.webhooks.values(), key=lambda h: h["id"])
                return (
                    200,
                    [_public_hook(h) for h in hooks],
                    {
                        "X-WP-Total": str(len(hooks)),
                        "X-WP-TotalPages": "1",
                    },
                )
            if m := re.fullmatch(r"webhooks/(\d+)", route):
                hook = self.webhooks.get(int(m[1]))
                if hook is None:
                    return _err(404, "woocommerce_rest_webhook_invalid_id", "Invalid ID.")
                if method == "PUT":
                    for key in ("name", "topic", "delivery_url", "secret", "status"):
                        if key in (body or {}):
                            hook[key] = body[key]
                    if body and body.get("status") == "active":
                        hook["failure_count"] = 0
                    hook.update(wc_dates("date_modified", self.now()))
                return 200, _public_hook(hook), {}
            m = re.fullmatch(r"products/(\d+)(?:/variations/(\d+))?", route)
            if m and method == "GET":  # the catalogue is read, never written, by Quittance
                return self._product(int(m[1]), int(m[2] or 0))
            if m := re.fullmatch(r"taxes/(\d+)", route):
                rate = TAX_RATES.get(int(m[1]))
                if rate is None:
                    return _err(404, "woocommerce_rest_invalid_id", "Invalid resource ID.")
                return (
                    200,
                    {
                        "id": int(m[1]),
                        "country": "FR",
                        "rate": rate["rate"],
                        "name": rate["name"],
                        "class": rate["class"],
                    },
                    {},
                )
        return _err(404, "rest_no_route", "No route was found matching the URL and request method.")

    def _read_refunds(self, order_id: int, refund_id: int, query: Mapping[str, str]) -> Reply:
        if order_id not in self.orders:
            return _err(404, "woocommerce_rest_order_invalid_id", "Invalid order ID.")
        refunds = self.refunds.get(order_id, [])
        if refund_id:
            found = [r for r in refunds if r["id"] == refund_id]
            if not found:
                return _err(404, "woocommerce_rest_invalid_id", "Invalid ID.")
            return 200, copy.deepcopy(found[0]), {}
        return _paged(refunds, query)

    def _product(self, product_id: int, variation_id: int) -> Reply:
        if not self.product_access:
            return _err(
                403, "woocommerce_rest_cannot_view", "Sorry, you cannot view this resource."
            )
        if variation_id:
            found = self.variations.get((product_id, variation_id))
            code = "woocommerce_rest_product_variation_invalid_id"
        else:
            found = self.products.get(product_id)
            code = "woocommerce_rest_product_invalid_id"
        if found is None:
            return _err(404, code, "Invalid ID.")
        return 200, copy.deepcopy(found), {}

    def _list_orders(self, query: Mapping[str, str]) -> tuple[int, Any, dict[str, str]]:
        try:
            per_page = int(query.get("per_page", "10"))
            page = int(query.get("page", "1"))
        except ValueError:
            return _err(400, "rest_invalid_param", "Invalid parameter(s): page, per_page")
        if not 1 <= per_page <= 100:
            return _err(400, "rest_invalid_param", "per_page must be between 1 and 100")
        gmt = query.get("dates_are_gmt") in ("true", "1")
        field_ = "date_modified_gmt" if gmt else "date_modified"
        orders = list(self.orders.values())
        if after := query.get("modified_after"):
            cut = after.replace("Z", "")[:19]
            orders = [o for o in orders if (o.get(field_) or "") > cut]
        statuses = [s for s in query.get("status", "any").split(",") if s]
        if statuses and "any" not in statuses:
            orders = [o for o in orders if o.get("status") in statuses]
        key = {"modified": "date_modified_gmt", "id": "id", "date": "date_created_gmt"}.get(
            query.get("orderby", "date"), "date_created_gmt"
        )
        orders.sort(key=lambda o: (o.get(key) or "", o["id"]), reverse=query.get("order") != "asc")
        total = len(orders)
        pages = max(1, -(-total // per_page))
        if page > pages and total:
            return _err(
                400,
                "woocommerce_rest_invalid_page_number",
                "The page number requested is larger than the number of pages available.",
            )
        chunk = orders[(page - 1) * per_page : page * per_page]
        headers = {"X-WP-Total": str(total), "X-WP-TotalPages": str(pages if total else 0)}
        return 200, [_public(o) for o in chunk], headers

    def _update_order(self, order_id: int, body: Mapping[str, Any]) -> None:
        order = self.orders[order_id]
        for item in body.get("meta_data") or []:
            existing = next(
                (
                    m
                    for m in order["meta_data"]
                    if (item.get("id") and m["id"] == item["id"]) or m["key"] == item.get("key")
                ),
                None,
            )
            if existing:
                existing["value"] = item.get("value")
            else:
                order["meta_data"].append(
                    {"id": next(self._ids), "key": item["key"], "value": item.get("value")}
                )
        if body.get("status") and body["status"] != order["status"]:
            self.set_status(order_id, body["status"], notify=False)
        order.update(wc_dates("date_modified", self.now()))
        self._enqueue(order_id, "order.updated")

    def _create_webhook(self, body: Mapping[str, Any]) -> tuple[int, Any, dict[str, str]]:
        for required in ("topic", "delivery_url"):
            if not body.get(required):
                return _err(400, "rest_missing_callback_param", f"Missing parameter(s): {required}")
        hook_id = next(self._ids)
        hook = {
            "id": hook_id,
            "name": body.get("name") or f"Webhook {hook_id}",
            "status": body.get("status", "active"),
            "topic": body["topic"],
            "resource": body["topic"].split(".")[0],
            "event": body["topic"].split(".")[-1],
            "hooks": [],
            "delivery_url": body["delivery_url"],
            "secret": body.get("secret", ""),
            "failure_count": 0,
            **wc_dates("date_created", self.now()),
            **wc_dates("date_modified", self.now()),
        }
        self.webhooks[hook_id] = hook
        # WooCommerce pings a new hook's URL; a failed ping does not block the creation here.
        threading.Thread(
            target=self.ping, args=(hook["delivery_url"], hook_id), daemon=True
        ).start()
        return 201, _public_hook(hook), {}


def _paged(items: Sequence[Mapping[str, Any]], query: Mapping[str, str]) -> Reply:
    """A collection page as WordPress answers it (per_page default 10, X-WP-Total*)."""
    try:
        per_page = int(query.get("per_page", "10"))
        page = int(query.get("page", "1"))
    except ValueError:
        return _err(400, "rest_invalid_param", "Invalid parameter(s): page, per_page")
    if not 1 <= per_page <= 100:
        return _err(400, "rest_invalid_param", "per_page must be between 1 and 100")
    pages = -(-len(items) // per_page)
    chunk = items[(page - 1) * per_page : page * per_page]
    headers = {"X-WP-Total": str(len(items)), "X-WP-TotalPages": str(pages)}
    return 200, copy.deepcopy(list(chunk)), headers


def _public(order: Mapping[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(dict(order))


def _public_hook(hook: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in hook.items() if k not in ("secret", "failure_count")}


def _err(status: int, code: str, message: str) -> tuple[int, Any, dict[str, str]]:
    return status, {"code": code, "message": message, "data": {"status": status}}, {}


def main(argv: Sequence[str] | None = None) -> None:  # pragma: no cover - manual use
    """`python -m connectors.woocommerce.sandbox --port 8899`: a shop to point a config at."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8899)
    args = parser.parse_args(argv)
    sandbox = WooSandbox(port=args.port).start()
    print(
        f"WooCommerce sandbox at {sandbox.url}  key={sandbox.consumer_key} "
        f"secret={sandbox.consumer_secret} webhook_secret={sandbox.webhook_secret}"
    )
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        sandbox.stop()


if __name__ == "__main__":  # pragma: no cover
    main()
