"""Orders in WooCommerce's REST shape, for the sandbox: `make_order` builds one from items
(taxes, coupons, shipping, payment dates like WooCommerce writes them), `french_orders` is
the seeded shop (with `refunded_orders` and their `french_refunds`), `load_orders` reads real
payloads (e.g. `tests/fixtures/woocommerce/`).

The catalogue too: `make_product` / `make_variation` build `GET products/<id>` and
`GET products/<id>/variations/<vid>` answers, `french_products` the seeded shop's services."""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

SHOP_TZ = ZoneInfo("Europe/Paris")
CENT = Decimal("0.01")


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
    # Item meta that is no variation attribute (a booking's "Date", an engraving): shown
    # under its own name, as plugins add it.
    meta: dict[str, str] = field(default_factory=dict)


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
                ]
                + [
                    {
                        "id": 6000 + order_id * 10 + i,
                        "key": k,
                        "value": v,
                        "display_key": k,
                        "display_value": v,
                    }
                    for i, (k, v) in enumerate(item.meta.items())
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
    delivery in processing, prices incl. tax paid by PayPal and completed, and a B2B training
    session (a virtual product, `french_products`) dated a month ahead, bank transfer on hold."""
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
        make_order(
            1006,
            items=[
                Item(
                    TRAINING_NAME,
                    "450.00",
                    1,
                    rate_id=1,
                    sku="FORM-TORR-1J",
                    product_id=TRAINING_ID,
                    meta={
                        "Date": (now + timedelta(days=30)).astimezone(SHOP_TZ).strftime("%d/%m/%Y")
                    },
                )
            ],
            status="on-hold",
            payment_method="bacs",
            payment_method_title="Virement bancaire",
            paid=False,
            billing=bistrot,
            meta={"_billing_vat_number": "FR96552100554", "_billing_siren": "552100554"},
            created=now - timedelta(minutes=20),
        ),
    ]


TRAINING_ID = 300
TRAINING_NAME = "Formation « Torréfaction artisanale » (1 jour)"


def refunded_orders(now: datetime | None = None) -> list[dict[str, Any]]:
    """The seeded orders that `french_refunds` refunds, as they were once paid (placed under
    three hours ago, paid a minute later): all of one, two lines of another, the shipping of
    a third."""
    now = now or datetime.now(UTC)
    claire = {
        "first_name": "Claire", "last_name": "Bernard", "address_1": "8 rue du Four",
        "postcode": "75006", "city": "Paris", "country": "FR",
        "email": "claire.bernard@example.fr",
    }  # fmt: skip
    hugo = {
        "first_name": "Hugo", "last_name": "Lefèvre", "address_1": "21 rue Nationale",
        "postcode": "59000", "city": "Lille", "country": "FR", "email": "hugo.lefevre@example.fr",
    }  # fmt: skip
    ines = {
        "first_name": "Inès", "last_name": "Garnier", "address_1": "6 rue des Tanneurs",
        "postcode": "67000", "city": "Strasbourg", "country": "FR",
        "email": "ines.garnier@example.fr",
    }  # fmt: skip
    return [
        make_order(
            1007,
            items=[Item("Coffret thés de Noël", "34.90", 1, rate_id=2, sku="COF-NOEL")],
            shipping=("Colissimo", "4.90", 1),
            payment_method="stripe",
            payment_method_title="Carte bancaire (Stripe)",
            transaction_id="ch_3QxYz2Lk9PdemoB7",
            billing=claire,
            created=now - timedelta(hours=2, minutes=50),
        ),
        make_order(
            1008,
            items=[
                Item("Thé noir Assam", "9.50", 2, rate_id=2, sku="THE-ASS-100"),
                Item("Tasse en grès", "12.00", 2, rate_id=1, sku="TAS-GRE"),
            ],
            shipping=("Mondial Relay", "3.90", 1),
            status="completed",
            payment_method="ppcp-gateway",
            payment_method_title="PayPal",
            transaction_id="8AB12345CD678908E",
            billing=hugo,
            created=now - timedelta(hours=2, minutes=40),
        ),
        make_order(
            1009,
            items=[Item("Théière en verre", "29.00", 1, rate_id=1, sku="THE-VER-06")],
            shipping=("Chronopost", "9.90", 1),
            status="completed",
            payment_method="stripe",
            payment_method_title="Carte bancaire (Stripe)",
            transaction_id="ch_3QxYz2Lk9PdemoB9",
            billing=ines,
            created=now - timedelta(hours=2, minutes=30),
        ),
    ]


def french_refunds(now: datetime | None = None) -> list[tuple[int, dict[str, Any], datetime]]:
    """(order id, `WooSandbox.add_refund` arguments, when the owner made it) for the seeded
    refunds: #1007 refunded in full through the gateway (its status becomes `refunded`);
    #1008 a cup through PayPal, then a bag of tea recorded by hand; #1009 its shipping."""
    now = now or datetime.now(UTC)
    return [
        (1007, {"lines": [(0, 1)], "shipping": True, "reason": "Colis perdu par le transporteur"},
         now - timedelta(hours=2, minutes=20)),
        (1008, {"lines": [(1, 1)], "reason": "Tasse arrivée cassée"},
         now - timedelta(hours=2, minutes=10)),
        (1008, {"lines": [(0, 1)], "reason": "Sachet ouvert", "method_refunded": False},
         now - timedelta(hours=1, minutes=50)),
        (1009, {"shipping": True, "reason": "Livraison express arrivée en retard"},
         now - timedelta(hours=1, minutes=40)),
    ]  # fmt: skip


def make_product(
    product_id: int,
    name: str,
    *,
    virtual: bool = False,
    downloadable: bool = False,
    sku: str = "",
    price: str = "",
    tax_class: str = "",
    categories: Sequence[str] = (),
    variations: Sequence[int] = (),
    now: datetime | None = None,
) -> dict[str, Any]:
    """A `GET products/<id>` answer (WooCommerce REST v3), the fields a shop fills in."""
    now = now or datetime.now(UTC)
    slug = "-".join("".join(c if c.isalnum() else " " for c in name.lower()).split())
    return {
        "id": product_id,
        "name": name,
        "slug": slug,
        "permalink": f"https://boutique.example.fr/produit/{slug}/",
        **wc_dates("date_created", now),
        **wc_dates("date_modified", now),
        "type": "variable" if variations else "simple",
        "status": "publish",
        "featured": False,
        "catalog_visibility": "visible",
        "description": "",
        "short_description": "",
        "sku": sku,
        "price": price,
        "regular_price": price,
        "sale_price": "",
        "on_sale": False,
        "purchasable": True,
        "total_sales": 0,
        "virtual": virtual,
        "downloadable": downloadable,
        "downloads": [],
        "download_limit": -1,
        "download_expiry": -1,
        "external_url": "",
        "button_text": "",
        "tax_status": "taxable",
        "tax_class": tax_class,
        "manage_stock": False,
        "stock_quantity": None,
        "stock_status": "instock",
        "backorders": "no",
        "backorders_allowed": False,
        "backordered": False,
        "sold_individually": False,
        "weight": "",
        "dimensions": {"length": "", "width": "", "height": ""},
        "shipping_required": not virtual,
        "shipping_taxable": not virtual,
        "shipping_class": "",
        "shipping_class_id": 0,
        "reviews_allowed": True,
        "average_rating": "0.00",
        "rating_count": 0,
        "related_ids": [],
        "upsell_ids": [],
        "cross_sell_ids": [],
        "parent_id": 0,
        "purchase_note": "",
        "categories": [
            {"id": 20 + n, "name": category, "slug": "-".join(category.lower().split())}
            for n, category in enumerate(categories)
        ],
        "tags": [],
        "images": [],
        "attributes": [],
        "default_attributes": [],
        "variations": list(variations),
        "grouped_products": [],
        "menu_order": 0,
        "meta_data": [],
    }


def make_variation(
    variation_id: int,
    product_id: int,
    *,
    virtual: bool = False,
    downloadable: bool = False,
    sku: str = "",
    price: str = "",
    tax_class: str = "",
    attributes: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """A `GET products/<product_id>/variations/<id>` answer: its own `virtual` flag, no
    categories (those are its parent's)."""
    now = now or datetime.now(UTC)
    return {
        "id": variation_id,
        **wc_dates("date_created", now),
        **wc_dates("date_modified", now),
        "description": "",
        "permalink": f"https://boutique.example.fr/?p={product_id}&variation={variation_id}",
        "sku": sku,
        "price": price,
        "regular_price": price,
        "sale_price": "",
        "on_sale": False,
        "status": "publish",
        "purchasable": True,
        "virtual": virtual,
        "downloadable": downloadable,
        "downloads": [],
        "download_limit": -1,
        "download_expiry": -1,
        "tax_status": "taxable",
        "tax_class": tax_class,
        "manage_stock": False,
        "stock_quantity": None,
        "stock_status": "instock",
        "backorders": "no",
        "backorders_allowed": False,
        "backordered": False,
        "weight": "",
        "dimensions": {"length": "", "width": "", "height": ""},
        "shipping_class": "",
        "shipping_class_id": 0,
        "image": None,
        "attributes": [
            {"id": n, "name": name, "option": option}
            for n, (name, option) in enumerate((attributes or {}).items(), start=1)
        ],
        "menu_order": 0,
        "meta_data": [],
    }


def french_products(now: datetime | None = None) -> list[dict[str, Any]]:
    """The seeded shop's catalogue entries that are not plain parcels (every product an order
    names is otherwise a physical one, see `WooSandbox.add_order`)."""
    return [
        make_product(
            TRAINING_ID,
            TRAINING_NAME,
            virtual=True,
            sku="FORM-TORR-1J",
            price="450.00",
            categories=("Formations",),
            now=now,
        )
    ]


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
