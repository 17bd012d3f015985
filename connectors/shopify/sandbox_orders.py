"""Orders in the shape Shopify's GraphQL Admin API returns them, for the sandbox: `build_order`
makes one from items (taxes included or not, shop and presentment currencies, discounts,
shipping, transactions), `seed_orders` is the seeded shop."""

from __future__ import annotations

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
