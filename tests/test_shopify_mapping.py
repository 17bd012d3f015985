"""Shopify: every shared fixture maps or parses; HMAC; amounts excl. VAT; currencies."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from bridge.invoicing.amounts import check_order
from connectors.base import WebhookRejected
from connectors.shopify.client import throttle_wait
from connectors.shopify.connector import ShopifyConnector
from connectors.shopify.mapping import MappingError, map_order, numeric_id, order_gid, paid_status
from connectors.shopify.rest import (
    payment_from_rest_transactions,
    refund_from_rest,
    rest_order_to_node,
)
from connectors.shopify.sandbox_orders import Item, Shipping, build_order, seed_orders
from connectors.shopify.settings import ShopifyShop
from connectors.shopify.webhooks import hmac_matches, webhook_hmac
from tests.support import paths

FIXTURES = paths.FIXTURES / "shopify"
D = Decimal


def fixture(name: str) -> object:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def connector(**extra: object) -> ShopifyConnector:
    data = {
        "name": "theiere",
        "platform": "shopify",
        "domain": "la-theiere.myshopify.com",
        "access_token": "shpat_x",
        "client_secret": "current-secret",
        **extra,
    }
    return ShopifyConnector(ShopifyShop.model_validate(data))


def signed(body: bytes, secret: str = "current-secret", **headers: str) -> dict[str, str]:
    base = {
        "x-shopify-hmac-sha256": webhook_hmac(secret, body),
        "x-shopify-shop-domain": "la-theiere.myshopify.com",
        "x-shopify-topic": "orders/paid",
        "x-shopify-event-id": "evt-1",
        "x-shopify-webhook-id": "wh-1",
    }
    base.update({k.replace("_", "-"): v for k, v in headers.items()})
    return base


def test_every_fixture_file_has_a_test() -> None:
    covered = {
        "01_rest_order_shopify_python_api.json",
        "02_rest_refund_shopify_python_api.json",
        "03_rest_transactions_shopify_python_api.json",
        "04_webhook_order_with_discount_tax_receipts.json",
        "07b_graphql_orders_response_core_api.DERIVED.json",
        "09_graphql_throttled_error_community.json",
        "10_hmac_test_vector.json",
    }
    assert {p.name for p in FIXTURES.glob("*.json")} == covered


# -- HMAC ------------------------------------------------------------------------------------


def test_shared_hmac_vector_verifies() -> None:
    (vector,) = fixture("10_hmac_test_vector.json")["vectors"]  # type: ignore[index]
    body = vector["body_utf8"].encode()
    assert webhook_hmac(vector["secret_utf8"], body) == vector["expected_x_shopify_hmac_sha256"]
    assert hmac_matches([vector["secret_utf8"]], body, vector["expected_x_shopify_hmac_sha256"])
    conn = connector(client_secret=vector["secret_utf8"])
    headers = signed(body, vector["secret_utf8"])
    event = conn.verify_webhook(headers, body)
    assert event.order_ref == "gid://shopify/Order/1234567890"
    assert event.event_key == "evt-1" and event.topic == "orders/paid" and not event.ping


def test_invalid_hmac_is_401() -> None:
    body = b'{"id": 1}'
    conn = connector()
    with pytest.raises(WebhookRejected) as bad:
        conn.verify_webhook(signed(body, "some-other-secret"), body)
    assert bad.value.status == 401
    with pytest.raises(WebhookRejected) as tampered:
        conn.verify_webhook(signed(body), b'{"id": 2}')
    assert tampered.value.status == 401
    headers = signed(body)
    del headers["x-shopify-hmac-sha256"]
    with pytest.raises(WebhookRejected) as missing:
        conn.verify_webhook(headers, body)
    assert missing.value.status == 401


def test_previous_secret_accepted_during_rotation() -> None:
    body = b'{"id": 42, "admin_graphql_api_id": "gid://shopify/Order/42"}'
    conn = connector(previous_client_secret="old-secret")
    assert conn.verify_webhook(signed(body, "old-secret"), body).order_ref.endswith("/42")
    assert conn.verify_webhook(signed(body, "current-secret"), body).order_ref.endswith("/42")
    with pytest.raises(WebhookRejected):
        connector().verify_webhook(signed(body, "old-secret"), body)


def test_wrong_shop_domain_rejected() -> None:
    body = b'{"id": 42}'
    with pytest.raises(WebhookRejected) as exc:
        connector().verify_webhook(signed(body, x_shopify_shop_domain="evil.myshopify.com"), body)
    assert exc.value.status == 401 and "evil.myshopify.com" in exc.value.reason


def test_event_id_falls_back_to_webhook_id_and_bad_bodies_are_400() -> None:
    body = b'{"id": 42}'
    headers = signed(body)
    del headers["x-shopify-event-id"]
    assert connector().verify_webhook(headers, body).event_key == "wh-1"
    for bad in (b"not json", b"[1]", b'{"email": "x"}'):
        with pytest.raises(WebhookRejected) as exc:
            connector().verify_webhook(signed(bad), bad)
        assert exc.value.status == 400
    other = signed(body, x_shopify_topic="app/uninstalled")
    assert connector().verify_webhook(other, body).ping  # 200, nothing stored


# -- shared fixtures -------------------------------------------------------------------------


def test_fixture_01_rest_order_maps_and_is_not_paid() -> None:
    node = rest_order_to_node(fixture("01_rest_order_shopify_python_api.json"))  # type: ignore[arg-type]
    order = map_order(node, shop="s")
    assert order.order_id == "450789469" and order.reference == "#1001"
    assert order.currency == "USD" and order.total == D("409.94")
    assert [ln.sku for ln in order.lines[:3]] == ["IPOD2008GREEN", "IPOD2008RED", "IPOD2008BLACK"]
    assert order.lines[0].name == "IPod Nano - 8gb - green"
    assert order.lines[0].attributes == {"Custom Engraving": "Happy Birthday"}
    assert order.customer.billing.city == "Louisville" and order.customer.billing.country == "US"
    assert paid_status(node) == (False, "order #1001 is AUTHORIZED, not paid")
    # Its tax sits only at order level: we do not invent per-line VAT, the checks say so.
    assert {p.field for p in check_order(order)} == {"total", "total_tax"}


def test_fixture_02_rest_refund_parses() -> None:
    body = fixture("02_rest_refund_shopify_python_api.json")
    refund = refund_from_rest(body)  # type: ignore[arg-type]
    assert refund.amount == D("209.00") and refund.reason == "it broke during shipping"
    written = datetime.fromisoformat(body["refund"]["created_at"])  # type: ignore[index]
    assert refund.created_at == written and refund.created_at.tzinfo is UTC


def test_fixture_03_rest_transactions_parse_authorization_is_not_a_payment() -> None:
    items = fixture("03_rest_transactions_shopify_python_api.json")
    assert payment_from_rest_transactions(items) is None  # type: ignore[arg-type]
    captured = [dict(items[0], kind="capture", processed_at="2005-08-01T12:00:00-04:00")]  # type: ignore[index]
    payment = payment_from_rest_transactions(captured)
    assert payment is not None and payment.method == "bogus" and payment.amount == D("409.94")
    assert payment.transaction_ref == "authorization-key"


def test_fixture_04_webhook_body_is_a_trigger_and_maps() -> None:
    raw = (FIXTURES / "04_webhook_order_with_discount_tax_receipts.json").read_bytes()
    event = connector().verify_webhook(signed(raw), raw)
    assert event.order_ref == "gid://shopify/Order/1977641762904"
    node = rest_order_to_node(json.loads(raw))
    assert paid_status(node) == (True, "")  # no transactions in a webhook body: status only
    order = map_order(node, shop="s")
    assert order.reference == "#5332" and order.currency == "CAD"
    (line,) = order.lines
    assert (line.quantity, line.subtotal, line.discount) == (D(2), D("80.00"), D("10.00"))
    assert [(c.code, c.amount) for c in order.coupons] == [
        ("Plush Bundle - Bulk Discount", D("10.00"))
    ]
    # total_price 79.28 includes 9.28 the body does not itemise: flagged, never invented.
    assert [p.field for p in check_order(order)] == ["total"]


def test_fixture_07b_graphql_orders_page_parses() -> None:
    body = fixture("07b_graphql_orders_response_core_api.DERIVED.json")
    connection = body["data"]["orders"]  # type: ignore[index]
    assert connection["pageInfo"] == {"hasNextPage": False}
    nodes = [edge["node"] for edge in connection["edges"]]
    assert len(nodes) == 3 and all(edge["cursor"] for edge in connection["edges"])
    assert throttle_wait(body) == pytest.approx(1 / 100)  # enough points: minimal wait
    for node in nodes:
        assert paid_status(node)[0]
        with pytest.raises(MappingError, match="no id"):
            map_order(node, shop="s")  # the selection lacks id: refused by name
    order = map_order({**nodes[2], "id": "gid://shopify/Order/9", "name": "#9"}, shop="s")
    assert order.currency == "GBP" and order.total == D("149.53")
    assert [ln.sku for ln in order.lines] == ["CALC40A", "CALC50L"]
    assert sum(ln.total for ln in order.lines) == D("149.53")


def test_fixture_09_throttled_body_gives_the_restore_wait() -> None:
    body = fixture("09_graphql_throttled_error_community.json")
    assert body["errors"][0]["extensions"]["code"] == "THROTTLED"  # type: ignore[index]
    assert throttle_wait(body) == pytest.approx((752 - 666) / 50.0)


# -- amounts and currencies ------------------------------------------------------------------


@pytest.mark.parametrize("node", seed_orders(), ids=lambda n: n["name"])
def test_sandbox_seeds_map_consistently(node: dict) -> None:
    order = map_order(node, shop="s")
    assert check_order(order) == []
    assert order.platform == "shopify" and order.order_id == node["legacyResourceId"]
    assert paid_status(node) == (True, "")


def test_french_order_taxes_included_two_rates_and_discount() -> None:
    (node,) = [n for n in seed_orders() if n["name"] == "#1001"]
    order = map_order(node, shop="s")
    tea, pot, ship = order.lines
    assert [t.rate for t in tea.taxes] == [D("5.5")] and [t.rate for t in pot.taxes] == [D(20)]
    # excl. VAT = gross − discount − tax, to the cent
    assert tea.total == D("25.80") - D("2.58") - D("1.21")
    assert pot.total == D("45.00") - D("4.50") - D("6.75")
    assert ship.kind == "shipping" and ship.total + ship.tax == D("6.90")
    assert order.coupons[0].code == "BIENVENUE10"
    assert order.coupons[0].amount == tea.discount + pot.discount
    assert order.locale == "fr" and order.shop_currency_total is None


def test_foreign_currency_is_invoiced_as_paid_with_euro_counter_value() -> None:
    (node,) = [n for n in seed_orders() if n["name"] == "#1003"]
    order = map_order(node, shop="s")
    assert order.currency == "USD" and order.total == D("90.00")
    assert order.shop_currency_total == D("77.40") and order.shop_currency_tax == D("12.90")
    assert order.payment.method == "paypal" and order.locale == "en_IE"
    assert order.customer.billing.country == "IE"


def test_fully_discounted_line_and_not_paid_cases() -> None:
    node = build_order(
        7,
        "#7",
        [Item("Free sample", "5.00", 1, rate="20", discount="5.00"), Item("Tea", "12.00", 1)],
        shipping=Shipping("Post", "0"),
    )
    order = map_order(node, shop="s")
    free = order.lines[0]
    assert free.total == 0 and free.discount == free.subtotal == D("4.17")
    assert check_order(order) == []
    assert not paid_status(build_order(8, "#8", [Item("Tea", "1")], paid=False))[0]
    assert "test order" in paid_status(build_order(9, "#9", [Item("Tea", "1")], test=True))[1]
    voided = {**node, "displayFinancialStatus": "VOIDED"}
    assert not paid_status(voided)[0]
    no_capture = {**node, "transactions": [{**node["transactions"][0], "kind": "AUTHORIZATION"}]}
    assert "no successful SALE or CAPTURE" in paid_status(no_capture)[1]


def test_b2b_ids_from_custom_attributes_and_company() -> None:
    node = build_order(
        10,
        "#10",
        [Item("Tea", "12.00")],
        address={
            "company": "Thés Pro SAS",
            "address1": "1 rue X",
            "zip": "75001",
            "city": "Paris",
            "countryCodeV2": "FR",
        },
    )
    node["customAttributes"] = [
        {"key": "VAT number", "value": "fr 44 732829320"},
        {"key": "SIREN", "value": "732829320"},
    ]
    party = map_order(node, shop="s").customer
    assert party.company == "Thés Pro SAS" and party.display_name == "Thés Pro SAS"
    assert party.vat_number == "FR44732829320" and party.siren == "732829320"


def test_buyer_electronic_address_from_custom_attributes() -> None:
    node = build_order(11, "#11", [Item("Tea", "12.00")])
    node["customAttributes"] = [{"key": "Electronic address", "value": "0225:732829320"}]
    assert map_order(node, shop="s").customer.electronic_address == "0225:732829320"


def test_ids() -> None:
    assert order_gid("12") == order_gid(12) == order_gid("gid://shopify/Order/12")
    assert numeric_id("gid://shopify/Order/12") == "12"
    with pytest.raises(MappingError):
        order_gid("abc")
