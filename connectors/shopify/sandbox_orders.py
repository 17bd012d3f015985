"""Orders in the shape Shopify's GraphQL Admin API returns them, for the sandbox: `build_order`
makes one from items (taxes included or not, shop and presentment currencies, discounts,
shipping, transactions), `build_refund` / `apply_refund` refund part of it as Shopify records
a refund (refund line items, refund shipping lines, order adjustments, a REFUND transaction),
`seed_orders` is the seeded shop."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

CENT = Decimal("0.01")


def _c(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


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
    requires_shipping: bool = True  # False: a service or a download (LineItem.requiresShipping)


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
                    "requiresShipping": item.requires_shipping,
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
        "refunds": [],
        "_gateway": (gateway, gateway_label),
        "_fx": str(rate_fx),
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


# --------------------------------------------------------------------------------------------
# Refunds


def _amount(bag: dict[str, Any]) -> Decimal:
    return Decimal(bag["presentmentMoney"]["amount"])


def _money_of(node: dict[str, Any]) -> Any:
    """The order's MoneyBag maker: presentment amount → both moneys, at the order's rate."""
    currency = node["presentmentCurrencyCode"]
    shop, fx = node["currencyCode"], Decimal(node.get("_fx") or "1")
    return lambda amount: _bag(amount, currency, shop, fx)


def refunded_so_far(node: dict[str, Any]) -> Decimal:
    return sum((_amount(r["totalRefundedSet"]) for r in node.get("refunds") or []), Decimal(0))


def _tax_of(item: dict[str, Any]) -> Decimal:
    return sum((_amount(t["priceSet"]) for t in item.get("taxLines") or []), Decimal(0))


def _refund_line(node: dict[str, Any], index: int, quantity: int, ref: str) -> dict[str, Any]:
    """`quantity` units of line `index` at what was paid for them, with their share of the
    line's VAT (Shopify's subtotal is excl. VAT, its totalTax the VAT)."""
    item = node["lineItems"]["edges"][index]["node"]
    if not 0 < quantity <= item["quantity"]:
        raise ValueError(f"line {index} has {item['quantity']} units, cannot refund {quantity}")
    share = Decimal(quantity) / item["quantity"]
    discount = sum(
        (_amount(a["allocatedAmountSet"]) for a in item["discountAllocations"]), Decimal(0)
    )
    paid = _c((_amount(item["originalTotalSet"]) - discount) * share)
    tax = _c(_tax_of(item) * share)
    money = _money_of(node)
    return {
        "id": f"gid://shopify/RefundLineItem/{ref}",
        "quantity": quantity,
        "restockType": "RETURN",
        "restocked": False,
        "lineItem": {k: item[k] for k in ("id", "name", "sku", "requiresShipping", "taxLines")},
        "priceSet": item["originalUnitPriceSet"],
        "subtotalSet": money(paid - tax if node["taxesIncluded"] else paid),
        "totalTaxSet": money(tax),
    }


def _refund_shipping(node: dict[str, Any], shipping: bool | Decimal, ref: str) -> dict[str, Any]:
    """All the shipping (True) or that amount of it, incl. VAT, at the shipping's rate."""
    edges = node["shippingLines"]["edges"]
    if not edges:
        raise ValueError(f"order {node['name']} has no shipping to refund")
    ship = edges[0]["node"]
    if shipping is True:
        paid, tax = _amount(ship["discountedPriceSet"]), _tax_of(ship)
        incl = paid if node["taxesIncluded"] else paid + tax
    else:
        incl = Decimal(shipping)
        rate = Decimal(str(ship["taxLines"][0]["ratePercentage"])) / 100 if ship["taxLines"] else 0
        tax = _c(incl * rate / (1 + rate))
    money = _money_of(node)
    return {
        "id": f"gid://shopify/RefundShippingLine/{ref}",
        "shippingLine": {"title": ship["title"], "taxLines": ship["taxLines"]},
        "subtotalAmountSet": money(incl - tax),
        "taxAmountSet": money(tax),
    }


def build_refund(
    node: dict[str, Any],
    *,
    lines: Sequence[tuple[int, int]] = (),
    shipping: bool | Decimal = False,
    amount: Decimal | None = None,
    reason: str = "",
    at: datetime,
) -> dict[str, Any]:
    """A GraphQL Refund node on `node`, as Shopify records one: refund line items (`lines`:
    (0-based line index, units)), refund shipping lines, an order adjustment for an extra
    amount-only refund (`amount` incl. VAT: Shopify signs it negative, no VAT), and the
    REFUND transaction that paid it all back through the order's gateway."""
    number = len(node.get("refunds") or []) + 1
    refund_id = f"{node['legacyResourceId']}9{number:02d}"
    money = _money_of(node)
    items = [_refund_line(node, i, q, f"{refund_id}{k:02d}") for k, (i, q) in enumerate(lines, 1)]
    ships = [_refund_shipping(node, shipping, f"{refund_id}01")] if shipping is not False else []
    adjustments = []
    if amount:
        adjustments.append({
            "id": f"gid://shopify/OrderAdjustment/{refund_id}01",
            "reason": "REFUND_DISCREPANCY",
            "amountSet": money(-Decimal(amount)),
            "taxAmountSet": money(Decimal(0)),
        })  # fmt: skip
    total = sum((_amount(i["subtotalSet"]) + _amount(i["totalTaxSet"]) for i in items), Decimal(0))
    total += sum((_amount(s["subtotalAmountSet"]) + _amount(s["taxAmountSet"]) for s in ships), 0)
    total += Decimal(amount or 0)
    left = _amount(node["totalPriceSet"]) - refunded_so_far(node)
    if not 0 < total <= left:
        raise ValueError(f"cannot refund {total} on {node['name']}: {left} is left to refund")
    gateway, label = node.get("_gateway") or ("shopify_payments", "Shopify Payments")
    transaction = {
        "id": f"gid://shopify/OrderTransaction/{refund_id}",
        "kind": "REFUND",
        "status": "SUCCESS",
        "gateway": gateway,
        "formattedGateway": label,
        "processedAt": _iso(at),
        "createdAt": _iso(at),
        "authorizationCode": f"re_{refund_id}",
        "test": False,
        "amountSet": money(total),
    }
    return {
        "id": f"gid://shopify/Refund/{refund_id}",
        "legacyResourceId": refund_id,
        "createdAt": _iso(at),
        "updatedAt": _iso(at),
        "note": reason or None,
        "totalRefundedSet": money(total),
        "refundLineItems": {
            "pageInfo": {"hasNextPage": False, "endCursor": None},
            "edges": [{"node": i} for i in items],
        },
        "refundShippingLines": {"edges": [{"node": s} for s in ships]},
        "orderAdjustments": {"edges": [{"node": a} for a in adjustments]},
        "transactions": {"edges": [{"node": transaction}]},
    }


def apply_refund(node: dict[str, Any], refund: dict[str, Any]) -> None:
    """Record `refund` on the order as Shopify does: listed in `refunds`, its transaction in
    the order's transactions, the financial status and `updatedAt` moved."""
    node.setdefault("refunds", []).append(refund)
    node["transactions"].extend(e["node"] for e in refund["transactions"]["edges"])
    whole = refunded_so_far(node) >= _amount(node["totalPriceSet"])
    node["displayFinancialStatus"] = "REFUNDED" if whole else "PARTIALLY_REFUNDED"
    node["updatedAt"] = refund["createdAt"]


def refund_order(node: dict[str, Any], at: datetime, **refund: Any) -> dict[str, Any]:
    """`build_refund` then `apply_refund`: the refund node."""
    built = build_refund(node, at=at, **refund)
    apply_refund(node, built)
    return built


def seed_orders(now: datetime | None = None) -> list[dict[str, Any]]:
    """French orders plus orders shaped like the fixtures in `tests/fixtures/`, all paid,
    placed ten minutes apart from two hours before `now` (the sandbox's clock, by default the
    wall clock), then refunded ones (`refunded_seeds`), their refunds before `now` too."""
    base = (now or datetime.now(UTC)) - timedelta(hours=2)
    return [*_paid_seeds(base), *refunded_seeds(base)]


def _paid_seeds(base: datetime) -> list[dict[str, Any]]:
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


def refunded_seeds(base: datetime) -> list[dict[str, Any]]:
    """Paid then refunded, as a shop sees it after the fact: a full refund, two partial ones
    (a returned unit, then a goodwill amount), shipping alone, and a refund in USD on an
    order paid in USD by a shop in EUR. `base` is two hours before the sandbox's now."""
    full = build_order(
        5006,
        "#1006",
        [
            Item("Coffret de thés", "29.90", 1, rate="5.5", sku="COF-THE"),
            Item("Tasse en grès", "14.00", 2, rate="20", sku="TAS-GRES"),
        ],
        shipping=Shipping("Colissimo", "4.90"),
        customer={"firstName": "Hugo", "lastName": "Bernard", "email": "hugo@example.fr"},
        created_at=base + timedelta(minutes=50),
    )
    refund_order(full, base + timedelta(minutes=80), lines=[(0, 1), (1, 2)], shipping=True,
                 reason="Colis perdu")  # fmt: skip
    twice = build_order(
        5007,
        "#1007",
        [
            Item("Thé noir Assam", "9.50", 4, rate="5.5", variant="100 g", sku="TH-ASS-100"),
            Item("Boule à thé", "6.00", 1, rate="20", sku="BOU-INOX"),
        ],
        shipping=Shipping("Mondial Relay", "3.90"),
        customer={"firstName": "Inès", "lastName": "Petit", "email": "ines@example.fr"},
        created_at=base + timedelta(minutes=60),
    )
    refund_order(twice, base + timedelta(minutes=85), lines=[(0, 1)], reason="Sachet abîmé")
    refund_order(twice, base + timedelta(minutes=95), amount=Decimal("5.00"),
                 reason="Geste commercial")  # fmt: skip
    shipping_only = build_order(
        5008,
        "#1008",
        [Item("Infusion verveine", "7.20", 3, rate="5.5", sku="INF-VER")],
        shipping=Shipping("Chronopost", "12.90"),
        customer={"firstName": "Jules", "lastName": "Moreau", "email": "jules@example.fr"},
        created_at=base + timedelta(minutes=70),
    )
    refund_order(shipping_only, base + timedelta(minutes=100), shipping=True,
                 reason="Livraison en retard")  # fmt: skip
    usd = build_order(
        5009,
        "#1009",
        [
            Item("Cast iron teapot", "58.00", 1, rate="20", variant="black", sku="TP-FON-N"),
            Item("Green tea sampler", "24.00", 1, rate="5.5", sku="TH-SAMPLER"),
        ],
        shipping=Shipping("International shipping", "18.00"),
        currency="USD",
        fx="0.86",
        customer={"firstName": "Siobhan", "lastName": "Kelly", "email": "siobhan@example.ie"},
        address={
            "address1": "4 South Mall",
            "zip": "T12 RX2P",
            "city": "Cork",
            "countryCodeV2": "IE",
        },
        locale="en-IE",
        gateway="paypal",
        gateway_label="PayPal Express Checkout",
        created_at=base + timedelta(minutes=75),
    )
    refund_order(usd, base + timedelta(minutes=105), lines=[(1, 1)], reason="Wrong flavour")
    return [full, twice, shipping_only, usd]
