"""A WooCommerce REST v3 sandbox: a real HTTP server speaking the subset Quittance uses.

    with WooSandbox() as wc:             # 127.0.0.1, free port, French orders seeded
        wc.url                            # "http://127.0.0.1:PORT" (the shop URL to configure)
        wc.add_order(raw) / wc.set_status(1002, "processing", paid=True)
        wc.deliver_webhook(target, 1002, duplicate=3)  # signed, like WooCommerce
        wc.ping(target)                   # the unsigned form-encoded creation ping
        wc.fail_next(2, status=429, retry_after=1)     # fault injection (also 500, delays)
        wc.flush_webhooks()               # deliver what the shop queued to its registered hooks

Endpoints (under /wp-json/wc/v3): `GET orders` (modified_after, dates_are_gmt, page, per_page
≤ 100, orderby, order, status; X-WP-Total / X-WP-TotalPages), `GET/PUT orders/<id>` (status,
meta_data), `GET/POST orders/<id>/notes`, `GET orders/<id>/refunds` (a POST is recorded in
`refund_posts` so tests can prove we never move money), `GET/POST webhooks`,
`GET/PUT webhooks/<id>`, `GET taxes/<id>`.

Auth, as WooCommerce does it: HTTP Basic (`consumer_key:consumer_secret`; real shops accept it
over HTTPS only — the sandbox accepts it on plain HTTP unless `basic_auth=False`, as if behind
a TLS proxy) or one-legged OAuth 1.0a in the query string, verified with WooCommerce's own
algorithm (rawurlencode, sorted params, `consumer_secret&` key, HMAC-SHA1/256, 15 min
timestamp window, nonces single-use). The `woocommerce` package sends every query parameter
twice on that path: exact duplicates are ignored, as PHP would.

The shop's behaviour that matters to us is modelled: status changes set `date_paid` like
WooCommerce (not for cash on delivery before `completed`), every change bumps
`date_modified_gmt` and queues an `order.updated` delivery built when the queue runs
(`flush_webhooks`), a hook that fails 5 times in a row is `disabled`.
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
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit
from zoneinfo import ZoneInfo

import requests

API_PREFIX = "/wp-json/wc/v3/"
SHOP_TZ = ZoneInfo("Europe/Paris")
CENT = Decimal("0.01")
MAX_FAILURES = 5  # WooCommerce: `woocommerce_max_webhook_delivery_failures`


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _fmt(value: Decimal) -> str:
    return str(_cents(value))


def wc_dates(name: str, when: datetime | None) -> dict[str, str | None]:
    """`date_x` (shop local time) and `date_x_gmt`, naive ISO like WooCommerce."""
    if when is None:
        return {name: None, f"{name}_gmt": None}
    when = when.astimezone(UTC).replace(microsecond=0)
    local = when.astimezone(SHOP_TZ).replace(tzinfo=None)
    return {name: local.isoformat(), f"{name}_gmt": when.replace(tzinfo=None).isoformat()}


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


def webhook_signature(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


# --------------------------------------------------------------------------------------------
# Building orders in WooCommerce's shape


TAX_RATES: dict[int, dict[str, Any]] = {
    1: {"rate": "20.0000", "name": "TVA 20 %", "code": "FR-TVA 20-1", "class": "standard"},
    2: {"rate": "5.5000", "name": "TVA 5,5 %", "code": "FR-TVA 5,5-2", "class": "taux-reduit"},
    3: {
        "rate": "10.0000",
        "name": "TVA 10 %",
        "code": "FR-TVA 10-3",
        "class": "taux-intermediaire",
    },
}


@dataclass
class Item:
    name: str
    price: Decimal | str  # unit price, excl. tax unless the order has prices_include_tax
    quantity: int = 1
    rate_id: int | None = 1
    sku: str = ""
    attributes: dict[str, str] = field(default_factory=dict)
    product_id: int = 0


def _rate(rate_id: int | None) -> Decimal:
    return Decimal(TAX_RATES[rate_id]["rate"]) if rate_id else Decimal(0)


def make_order(
    order_id: int,
    *,
    items: Sequence[Item],
    shipping: tuple[str, Decimal | str, int | None] | None = None,
    fees: Sequence[tuple[str, Decimal | str, int | None]] = (),
    coupon: tuple[str, Decimal | str] | None = None,  # (code, percent off products)
    status: str = "processing",
    payment_method: str = "stripe",
    payment_method_title: str = "Carte bancaire",
    transaction_id: str = "",
    paid: bool = True,
    billing: Mapping[str, str] | None = None,
    shipping_address: Mapping[str, str] | None = None,
    meta: Mapping[str, str] | None = None,
    currency: str = "EUR",
    prices_include_tax: bool = False,
    created: datetime | None = None,
    paid_at: datetime | None = None,
) -> dict[str, Any]:
    """A complete WooCommerce order, amounts computed per line the way WooCommerce rounds."""
    created = created or datetime.now(UTC) - timedelta(minutes=30)
    pct = Decimal(str(coupon[1])) if coupon else Decimal(0)
    line_id = itertools.count(order_id * 10)
    line_items, taxes_by_rate, ship_tax_by_rate = [], {}, {}
    discount_total = discount_tax = cart_tax = Decimal(0)
    for n, item in enumerate(items):
        r = _rate(item.rate_id)
        qty = Decimal(item.quantity)
        unit = Decimal(str(item.price))
        if prices_include_tax:
            gross_sub = unit * qty
            gross_tot = gross_sub - _cents(gross_sub * pct / 100)
            subtotal = _cents(gross_sub / (1 + r / 100))
            total = _cents(gross_tot / (1 + r / 100))
            sub_tax, tax = gross_sub - subtotal, gross_tot - total
        else:
            subtotal = _cents(unit * qty)
            total = subtotal - _cents(subtotal * pct / 100)
            sub_tax, tax = _cents(subtotal * r / 100), _cents(total * r / 100)
        discount_total += subtotal - total
        discount_tax += sub_tax - tax
        cart_tax += tax
        if item.rate_id:
            taxes_by_rate[item.rate_id] = taxes_by_rate.get(item.rate_id, Decimal(0)) + tax
        line_items.append(
            {
                "id": next(line_id),
                "name": item.name,
                "product_id": item.product_id or 100 + n,
                "variation_id": 200 + n if item.attributes else 0,
                "quantity": item.quantity,
                "tax_class": TAX_RATES[item.rate_id]["class"] if item.rate_id else "",
                "subtotal": _fmt(subtotal),
                "subtotal_tax": _fmt(sub_tax),
                "total": _fmt(total),
                "total_tax": _fmt(tax),
                "taxes": (
                    [{"id": item.rate_id, "total": _fmt(tax), "subtotal": _fmt(sub_tax)}]
                    if item.rate_id
                    else []
                ),
                "meta_data": [
                    {
                        "id": 5000 + order_id * 10 + i,
                        "key": f"pa_{k.lower()}",
                        "value": v,
                        "display_key": k,
                        "display_value": v,
                    }
                    for i, (k, v) in enumerate(item.attributes.items())
                ],
                "sku": item.sku,
                "price": float(total / qty) if qty else 0,
                "image": {"id": "", "src": ""},
                "parent_name": None,
            }
        )
    shipping_lines, ship_total, ship_tax = [], Decimal(0), Decimal(0)
    if shipping:
        title, cost, rid = shipping
        cost = Decimal(str(cost))
        tax = _cents(cost * _rate(rid) / 100)
        ship_total, ship_tax = cost, tax
        if rid:
            ship_tax_by_rate[rid] = tax
        shipping_lines.append(
            {
                "id": next(line_id),
                "method_title": title,
                "method_id": "flat_rate",
                "instance_id": "1",
                "total": _fmt(cost),
                "total_tax": _fmt(tax),
                "taxes": [{"id": rid, "total": _fmt(tax), "subtotal": ""}] if rid else [],
                "meta_data": [],
            }
        )
    fee_lines, fee_sum = [], Decimal(0)
    for name, amount, rid in fees:
        amount = Decimal(str(amount))
        tax = _cents(amount * _rate(rid) / 100)
        fee_sum += amount + tax
        cart_tax += tax
        if rid:
            taxes_by_rate[rid] = taxes_by_rate.get(rid, Decimal(0)) + tax
        fee_lines.append(
            {
                "id": next(line_id),
                "name": name,
                "tax_class": "",
                "tax_status": "taxable",
                "amount": _fmt(amount),
                "total": _fmt(amount),
                "total_tax": _fmt(tax),
                "taxes": [{"id": rid, "total": _fmt(tax), "subtotal": ""}] if rid else [],
                "meta_data": [],
            }
        )
    products = sum(
        (Decimal(li["total"]) + Decimal(li["total_tax"]) for li in line_items), Decimal(0)
    )
    total = products + ship_total + ship_tax + fee_sum
    tax_lines = [
        {
            "id": 900 + rid,
            "rate_code": TAX_RATES[rid]["code"],
            "rate_id": rid,
            "label": TAX_RATES[rid]["name"],
            "compound": False,
            "tax_total": _fmt(taxes_by_rate.get(rid, Decimal(0))),
            "shipping_tax_total": _fmt(ship_tax_by_rate.get(rid, Decimal(0))),
            "rate_percent": float(_rate(rid)),
            "meta_data": [],
        }
        for rid in sorted(set(taxes_by_rate) | set(ship_tax_by_rate))
    ]
    billing = {
        "first_name": "",
        "last_name": "",
        "company": "",
        "address_1": "",
        "address_2": "",
        "city": "",
        "state": "",
        "postcode": "",
        "country": "FR",
        "email": "",
        "phone": "",
        **(billing or {}),
    }
    ship_addr = {k: v for k, v in billing.items() if k not in ("email",)}
    ship_addr.update(shipping_address or {})
    paid_when = (paid_at or created + timedelta(minutes=1)) if paid else None
    completed = paid_when if status == "completed" else None
    order: dict[str, Any] = {
        "id": order_id,
        "parent_id": 0,
        "status": status,
        "currency": currency,
        "version": "8.0.2",
        "prices_include_tax": prices_include_tax,
        **wc_dates("date_created", created),
        **wc_dates("date_modified", paid_when or created),
        "discount_total": _fmt(discount_total),
        "discount_tax": _fmt(discount_tax),
        "shipping_total": _fmt(ship_total),
        "shipping_tax": _fmt(ship_tax),
        "cart_tax": _fmt(cart_tax),
        "total": _fmt(total),
        "total_tax": _fmt(cart_tax + ship_tax),
        "customer_id": 0,
        "order_key": f"wc_order_{hashlib.sha1(str(order_id).encode()).hexdigest()[:13]}",
        "billing": billing,
        "shipping": ship_addr,
        "payment_method": payment_method,
        "payment_method_title": payment_method_title,
        "transaction_id": transaction_id if paid else "",
        "customer_ip_address": "203.0.113.7",
        "customer_user_agent": "Mozilla/5.0",
        "created_via": "checkout",
        "customer_note": "",
        **wc_dates("date_completed", completed),
        **wc_dates("date_paid", paid_when),
        "cart_hash": "",
        "number": str(order_id),
        "meta_data": [
            {"id": 7000 + order_id * 10 + i, "key": k, "value": v}
            for i, (k, v) in enumerate((meta or {}).items())
        ],
        "line_items": line_items,
        "tax_lines": tax_lines,
        "shipping_lines": shipping_lines,
        "fee_lines": fee_lines,
        "coupon_lines": (
            [
                {
                    "id": next(line_id),
                    "code": coupon[0],
                    "discount": _fmt(discount_total),
                    "discount_tax": _fmt(discount_tax),
                    "meta_data": [],
                }
            ]
            if coupon
            else []
        ),
        "refunds": [],
        "currency_symbol": "€" if currency == "EUR" else currency,
    }
    return order


def french_orders(now: datetime | None = None) -> list[dict[str, Any]]:
    """The seeded shop: card with coupon (20 % + 5,5 %), a B2B bank transfer on hold, cash on
    delivery in processing, prices incl. tax paid by PayPal and completed."""
    now = now or datetime.now(UTC)
    marie = {
        "first_name": "Marie",
        "last_name": "Dupont",
        "address_1": "12 rue des Lilas",
        "postcode": "69003",
        "city": "Lyon",
        "country": "FR",
        "email": "marie.dupont@example.fr",
        "phone": "+33 6 12 34 56 78",
    }
    bistrot = {
        "first_name": "Jean",
        "last_name": "Martin",
        "company": "Bistrot du Port SARL",
        "address_1": "2 quai de la Fosse",
        "postcode": "44000",
        "city": "Nantes",
        "country": "FR",
        "email": "compta@bistrot-du-port.example.fr",
    }
    paul = {
        "first_name": "Paul",
        "last_name": "Girard",
        "address_1": "5 place Bellecour",
        "postcode": "69002",
        "city": "Lyon",
        "country": "FR",
        "email": "paul.girard@example.fr",
    }
    lea = {
        "first_name": "Léa",
        "last_name": "Moreau",
        "address_1": "30 cours Julien",
        "postcode": "13006",
        "city": "Marseille",
        "country": "FR",
        "email": "lea.moreau@example.fr",
    }
    return [
        make_order(
            1001,
            items=[
                Item(
                    "Tisane verveine bio",
                    "8.00",
                    3,
                    rate_id=2,
                    sku="TIS-VER-100",
                    attributes={"Format": "100 g"},
                ),
                Item(
                    "Théière en fonte « Kyoto »",
                    "40.00",
                    1,
                    rate_id=1,
                    sku="THE-KYO-08",
                    attributes={"Couleur": "noir"},
                ),
            ],
            shipping=("Colissimo", "5.00", 1),
            coupon=("BIENVENUE10", "10"),
            payment_method="stripe",
            payment_method_title="Carte bancaire (Stripe)",
            transaction_id="ch_3QxYz2Lk9PdemoA1",
            billing=marie,
            shipping_address={
                "address_1": "4 impasse du Moulin",
                "postcode": "38000",
                "city": "Grenoble",
            },
            meta={"wpml_language": "fr"},
            created=now - timedelta(hours=2),
        ),
        make_order(
            1002,
            items=[
                Item("Café en grains Éthiopie Sidamo", "18.00", 10, rate_id=2, sku="CAF-SID-1K"),
                Item("Moulin à café manuel", "60.00", 1, rate_id=1, sku="MOU-MAN-01"),
            ],
            shipping=("Transporteur", "15.00", 1),
            status="on-hold",
            payment_method="bacs",
            payment_method_title="Virement bancaire",
            paid=False,
            billing=bistrot,
            meta={"_billing_vat_number": "FR96552100554", "_billing_siren": "552100554"},
            created=now - timedelta(hours=1, minutes=30),
        ),
        make_order(
            1003,
            items=[Item("Coffret découverte", "29.90", 1, rate_id=2, sku="COF-DEC")],
            shipping=("Livraison à domicile", "4.90", 1),
            status="processing",
            payment_method="cod",
            payment_method_title="Paiement à la livraison",
            paid=False,
            billing=paul,
            created=now - timedelta(hours=1),
        ),
        make_order(
            1004,
            items=[
                Item("Mug émaillé", "14.90", 2, rate_id=1, sku="MUG-EMA"),
                Item("Miel de lavande", "9.50", 1, rate_id=2, sku="MIE-LAV"),
            ],
            shipping=("Mondial Relay", "3.90", 1),
            fees=[("Emballage cadeau", "2.50", 1)],
            status="completed",
            payment_method="ppcp-gateway",
            payment_method_title="PayPal",
            transaction_id="8AB12345CD678901E",
            prices_include_tax=True,
            billing=lea,
            created=now - timedelta(minutes=45),
        ),
    ]


# --------------------------------------------------------------------------------------------
# The server


@dataclass
class Fault:
    status: int | None = 429  # None = answer normally (after `delay`)
    retry_after: float | None = None
    delay: float = 0.0
    path: str = ""  # only requests whose path contains this


@dataclass
class Delivery:
    hook_id: int
    order_id: int
    topic: str


@dataclass
class DeliveryResult:
    status: int  # 0 = connection failed
    body: str = ""


class WooSandbox:
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
        self._clock = clock or (lambda: datetime.now(UTC))
        self.consumer_key = consumer_key
        self.consumer_secret = consumer_secret
        self.webhook_secret = webhook_secret
        self.basic_auth = basic_auth
        self.lock = threading.RLock()
        self.orders: dict[int, dict[str, Any]] = {}
        self.notes: dict[int, list[dict[str, Any]]] = {}
        self.webhooks: dict[int, dict[str, Any]] = {}
        self.faults: list[Fault] = []
        self.queue: list[Delivery] = []
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.refund_posts = 0
        self.pings: list[tuple[str, int]] = []
        self.deliveries: list[tuple[str, int, int]] = []  # (topic, order id, status)
        self._nonces: set[str] = set()
        self._ids = itertools.count(10_000)
        self._server = ThreadingHTTPServer((host, port), _handler(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None
        if seed:
            for order in french_orders(self.now()):
                self.add_order(order, notify=False)

    # -- lifecycle --------------------------------------------------------------------------

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> WooSandbox:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:  # shutdown() waits forever for a server never started
            self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> WooSandbox:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    # -- the shop's data ------------------------------------------------------------------

    def now(self) -> datetime:
        """The shop's clock: seeded orders and every date the shop writes come from it."""
        return self._clock()

    def add_order(self, raw: Mapping[str, Any], *, notify: bool = True) -> int:
        order = copy.deepcopy(dict(raw))
        with self.lock:
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

    # -- faults -----------------------------------------------------------------------------

    def fail_next(
        self,
        n: int = 1,
        status: int | None = 429,
        *,
        retry_after: float | None = None,
        delay: float = 0.0,
        path: str = "",
    ) -> None:
        with self.lock:
            self.faults.extend(Fault(status, retry_after, delay, path) for _ in range(n))

    def _take_fault(self, path: str) -> Fault | None:
        with self.lock:
            for i, fault in enumerate(self.faults):
                if fault.path in path:
                    return self.faults.pop(i)
        return None

    # -- webhooks out ---------------------------------------------------------------------

    def _enqueue(self, order_id: int, topic: str) -> None:
        for hook in self.webhooks.values():
            if hook["status"] == "active" and hook["topic"] == topic:
                self.queue.append(Delivery(hook["id"], order_id, topic))

    def payload(self, order_id: int) -> bytes:
        with self.lock:
            body = _public(self.orders[int(order_id)])
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()

    def deliver_webhook(
        self,
        target_url: str,
        order_id: int,
        topic: str = "order.updated",
        *,
        secret: str | None = None,
        duplicate: int = 1,
        tamper: bool = False,
        body: bytes | None = None,
        hook_id: int = 1,
        signed: bool = True,
    ) -> list[DeliveryResult]:
        """POST the order's current payload (or `body`, e.g. an older snapshot to play an
        out-of-order delivery) to `target_url`, signed like WooCommerce, `duplicate` times."""
        body = self.payload(order_id) if body is None else body
        signature = webhook_signature(secret or self.webhook_secret, body)
        if tamper:
            body = body.replace(b'"total":"', b'"total":"1', 1)
        resource, _, event = topic.partition(".")
        results = []
        for _ in range(duplicate):
            delivery = hashlib.sha1(f"{hook_id}{int(time.time())}".encode()).hexdigest()
            headers = {
                "Content-Type": "application/json",
                "User-Agent": "WooCommerce/8.0.2 Hookshot (WordPress/6.3)",
                "X-WC-Webhook-Source": self.url + "/",
                "X-WC-Webhook-Topic": topic,
                "X-WC-Webhook-Resource": resource,
                "X-WC-Webhook-Event": event,
                "X-WC-Webhook-ID": str(hook_id),
                "X-WC-Webhook-Delivery-ID": delivery,
            }
            if signed:
                headers["X-WC-Webhook-Signature"] = signature
            results.append(self._post(target_url, body, headers))
            self.deliveries.append((topic, int(order_id), results[-1].status))
        return results

    def ping(self, target_url: str, webhook_id: int = 1) -> DeliveryResult:
        """The creation ping: form-encoded `webhook_id=N`, no signature."""
        result = self._post(
            target_url,
            f"webhook_id={webhook_id}".encode(),
            {
                "Content-Type": "application/x-www-form-urlencoded",
                "User-Agent": "WooCommerce/8.0.2 Hookshot (WordPress/6.3)",
            },
        )
        self.pings.append((target_url, result.status))
        return result

    @staticmethod
    def _post(url: str, body: bytes, headers: Mapping[str, str]) -> DeliveryResult:
        try:
            resp = requests.post(url, data=body, headers=dict(headers), timeout=10)
        except requests.RequestException as exc:
            return DeliveryResult(0, str(exc))
        return DeliveryResult(resp.status_code, resp.text[:500])

    def flush_webhooks(self, *, lose: bool = False) -> list[DeliveryResult]:
        """Run the shop's queue: each queued delivery is built NOW (current order state),
        signed with its hook's secret and posted once; never retried. A hook failing
        5 times in a row becomes `disabled`. `lose=True` drops the queue (lost webhooks)."""
        with self.lock:
            queue, self.queue = self.queue, []
        results = []
        for item in [] if lose else queue:
            hook = self.webhooks.get(item.hook_id)
            if hook is None or hook["status"] != "active":
                continue
            [result] = self.deliver_webhook(
                hook["delivery_url"],
                item.order_id,
                item.topic,
                secret=hook["secret"],
                hook_id=hook["id"],
                signed=bool(hook["secret"]),
            )
            with self.lock:
                if 200 <= result.status < 300:
                    hook["failure_count"] = 0
                else:
                    hook["failure_count"] += 1
                    if hook["failure_count"] >= MAX_FAILURES:
                        hook["status"] = "disabled"
            results.append(result)
        return results

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

    def handle(
        self, method: str, path: str, query: dict[str, str], body: Any
    ) -> tuple[int, Any, dict[str, str]]:
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
            if m := re.fullmatch(r"orders/(\d+)/refunds", route):
                if method == "POST":
                    self.refund_posts += 1
                    return _err(403, "sandbox_refund_refused", "The sandbox never refunds.")
                return 200, [], {}
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


def _public(order: Mapping[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(dict(order))


def _public_hook(hook: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in hook.items() if k not in ("secret", "failure_count")}


def _err(status: int, code: str, message: str) -> tuple[int, Any, dict[str, str]]:
    return status, {"code": code, "message": message, "data": {"status": status}}, {}


def _handler(sandbox: WooSandbox) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def _send(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
            data = json.dumps(body, ensure_ascii=False).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        def _serve(self, method: str) -> None:
            split = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            query = dict(parse_qsl(split.query, keep_blank_values=True))
            with sandbox.lock:
                sandbox.requests.append((method, split.path, query))
            fault = sandbox._take_fault(split.path)
            if fault is not None:
                if fault.delay:
                    time.sleep(fault.delay)
                if fault.status is not None:
                    headers = {}
                    if fault.retry_after is not None:
                        headers["Retry-After"] = f"{fault.retry_after:g}"
                    self._send(
                        fault.status,
                        {
                            "code": "sandbox_fault",
                            "message": "injected",
                            "data": {"status": fault.status},
                        },
                        headers,
                    )
                    return
            if not split.path.startswith(API_PREFIX):
                self._send(404, {"code": "rest_no_route", "message": "No route"})
                return
            problem = sandbox.authenticate(
                method,
                self.headers.get("Host", ""),
                split.path,
                split.query,
                self.headers.get("Authorization", ""),
            )
            if problem:
                self._send(
                    401,
                    {
                        "code": "woocommerce_rest_authentication_error",
                        "message": problem,
                        "data": {"status": 401},
                    },
                )
                return
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                self._send(400, {"code": "rest_invalid_json", "message": "Invalid JSON body"})
                return
            status, payload, headers = sandbox.handle(method, split.path, query, body)
            self._send(status, payload, headers)

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def do_PUT(self) -> None:
            self._serve("PUT")

    return Handler


def load_orders(paths: Iterable[Any]) -> list[dict[str, Any]]:
    """Orders from JSON files (a single order or a list), e.g. the fixtures in `tests/fixtures/`."""
    found = []
    for path in paths:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
        for item in data if isinstance(data, list) else [data]:
            if isinstance(item, dict) and "line_items" in item:
                found.append(item)
    return found


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
