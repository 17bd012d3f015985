"""Shopify refunds, read-only: the `refunds/create` webhook, the GraphQL refund mapping (exact
figures), polling of refunded orders, and the sandbox's refunds. Nothing here may move money."""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from bridge.model import LineKind, Nature, Refund, TaxLine
from connectors.base import WebhookRejected
from connectors.shopify import queries
from connectors.shopify.connector import ShopifyConnector
from connectors.shopify.mapping import MappingError, map_order, map_refund, paid_status
from connectors.shopify.rest import refund_from_rest
from connectors.shopify.sandbox import (
    DOMAIN,
    MONEY_MUTATIONS,
    SAFE_MUTATIONS,
    SECRET,
    TOKEN,
    ShopifySandbox,
)
from connectors.shopify.sandbox_orders import Item, Shipping, build_order, seed_orders
from connectors.shopify.settings import ShopifyShop
from connectors.shopify.webhooks import webhook_hmac
from tests.support import paths

D = Decimal
REFUND_FIXTURE = paths.FIXTURES / "shopify" / "02_rest_refund_shopify_python_api.json"


@pytest.fixture
def sandbox() -> Iterator[ShopifySandbox]:
    with ShopifySandbox() as sb:
        yield sb


def make(sb: ShopifySandbox, **extra: object) -> ShopifyConnector:
    data = {
        "name": "theiere",
        "platform": "shopify",
        "domain": DOMAIN,
        "access_token": TOKEN,
        "client_secret": SECRET,
        "api_base_url": sb.base_url,
        **extra,
    }
    return ShopifyConnector(ShopifyShop.model_validate(data), sleep=lambda _: None)


def offline() -> ShopifyConnector:
    """A connector that only verifies webhooks: no shop is ever called."""
    return ShopifyConnector(
        ShopifyShop(name="theiere", platform="shopify", domain=DOMAIN, access_token=TOKEN,
                    client_secret=SECRET)
    )  # fmt: skip


def seed(reference: str) -> dict[str, Any]:
    (node,) = [n for n in seed_orders() if n["name"] == reference]
    return node


def refunds_of(reference: str) -> list[Refund]:
    return map_order(seed(reference), shop="s").refunds


def refund_headers(body: bytes, **extra: str) -> dict[str, str]:
    return {
        "x-shopify-hmac-sha256": webhook_hmac(SECRET, body),
        "x-shopify-shop-domain": DOMAIN,
        "x-shopify-topic": "refunds/create",
        "x-shopify-event-id": "evt-r1",
        "x-shopify-webhook-id": "wh-r1",
        **extra,
    }


def taxes(rate: str, amount: str) -> list[TaxLine]:
    return [TaxLine(rate=D(rate), amount=D(amount), label=f"TVA {rate} %")]


# -- the refunds/create webhook (fixture 02 is a real refund body) -----------------------------


def test_refund_webhook_fixture_names_its_order() -> None:
    raw = REFUND_FIXTURE.read_bytes()
    event = offline().verify_webhook(refund_headers(raw), raw)
    assert event.topic == "refunds/create" and not event.ping
    assert event.order_ref == "gid://shopify/Order/450789469"


def test_bare_refund_body_as_shopify_posts_it_names_its_order() -> None:
    raw = json.dumps(json.loads(REFUND_FIXTURE.read_bytes())["refund"]).encode()
    assert offline().verify_webhook(refund_headers(raw), raw).order_ref.endswith("/450789469")


def test_refund_body_without_order_id_is_rejected_with_400() -> None:
    raw = b'{"id": 509562969, "note": "no order"}'
    with pytest.raises(WebhookRejected) as exc:
        offline().verify_webhook(refund_headers(raw), raw)
    assert exc.value.status == 400 and "order_id" in exc.value.reason


def test_duplicate_refund_deliveries_share_one_event_key() -> None:
    raw = REFUND_FIXTURE.read_bytes()
    keys = {offline().verify_webhook(refund_headers(raw), raw).event_key for _ in range(3)}
    assert keys == {"evt-r1"}
    headers = refund_headers(raw)
    del headers["x-shopify-event-id"]  # older API versions: the webhook id dedupes
    assert offline().verify_webhook(headers, raw).event_key == "wh-r1"


def test_refund_fixture_maps_lines_vat_and_method() -> None:
    refund = refund_from_rest(json.loads(REFUND_FIXTURE.read_bytes()))
    assert refund.refund_id == "509562969" and refund.amount == D("209.00")
    assert refund.method == "bogus" and refund.reason == "it broke during shipping"
    assert [(ln.name, ln.sku, ln.line_ref) for ln in refund.lines] == [
        ("IPod Nano - 8gb - black", "IPOD2008BLACK", "703073504"),
        ("IPod Nano - 8gb - green", "IPOD2008GREEN", "466157049"),
    ]
    for line in refund.lines:
        assert (line.kind, line.quantity, line.amount) == (LineKind.product, D(1), D("199.00"))
        assert line.taxes == [TaxLine(rate=D(6), amount=D("3.98"), label="State Tax")]


# -- paid rule ------------------------------------------------------------------------------


def test_fully_refunded_order_was_paid() -> None:
    node = seed("#1006")
    assert node["displayFinancialStatus"] == "REFUNDED"
    assert paid_status(node) == (True, "")


def test_refunded_test_order_is_still_not_invoiced() -> None:
    node = {**seed("#1006"), "test": True}
    assert "test order" in paid_status(node)[1]


# -- the GraphQL mapping, exact figures -------------------------------------------------------


def test_full_refund_gives_back_every_line_and_the_shipping() -> None:
    (refund,) = refunds_of("#1006")
    assert refund.amount == D("62.80") and refund.lines_total == D("62.80")
    assert refund.method == "Shopify Payments" and refund.reason == "Colis perdu"
    tea, cups, ship = refund.lines
    assert (tea.name, tea.quantity, tea.amount, tea.taxes) == (
        "Coffret de thés",
        D(1),
        D("28.34"),
        taxes("5.5", "1.56"),
    )
    assert (cups.name, cups.quantity, cups.amount, cups.taxes) == (
        "Tasse en grès",
        D(2),
        D("23.33"),
        taxes("20", "4.67"),
    )
    assert (ship.kind, ship.name, ship.quantity, ship.amount, ship.taxes) == (
        LineKind.shipping, "Colissimo", D(0), D("4.08"), taxes("20", "0.82"))  # fmt: skip


def test_refund_lines_name_the_order_line_they_refund() -> None:
    (refund,) = refunds_of("#1006")
    assert [ln.line_ref for ln in refund.lines] == ["500601", "500602", ""]


def test_partial_refund_gives_back_the_units_share_of_vat() -> None:
    first, _ = refunds_of("#1007")
    (assam,) = first.lines
    assert (assam.quantity, assam.amount, assam.taxes) == (D(1), D("9.00"), taxes("5.5", "0.50"))
    assert first.amount == D("9.50")


def test_amount_only_refund_has_no_lines() -> None:
    _, goodwill = refunds_of("#1007")
    assert goodwill.lines == [] and goodwill.amount == D("5.00")
    assert goodwill.reason == "Geste commercial"


def test_refunds_keep_their_ids_and_dates() -> None:
    node = seed("#1007")  # the seed dates its refunds from now: map this very node
    first, second = map_order(node, shop="s").refunds
    assert [first.refund_id, second.refund_id] == ["5007901", "5007902"]
    assert first.created_at == datetime.fromisoformat(node["refunds"][0]["createdAt"])
    assert first.created_at is not None and second.created_at is not None
    assert first.created_at < second.created_at


def test_shipping_only_refund_is_one_shipping_line() -> None:
    (refund,) = refunds_of("#1008")
    (ship,) = refund.lines
    assert (ship.kind, ship.name, ship.amount, ship.taxes) == (
        LineKind.shipping, "Chronopost", D("10.75"), taxes("20", "2.15"))  # fmt: skip
    assert refund.amount == D("12.90")


def test_foreign_currency_refund_is_in_the_currency_paid() -> None:
    order = map_order(seed("#1009"), shop="s")
    (refund,) = order.refunds
    assert order.currency == "USD" and refund.amount == D("24.00")  # not the 20.64 EUR
    (sampler,) = refund.lines
    assert (sampler.amount, sampler.taxes) == (D("22.75"), taxes("5.5", "1.25"))
    assert refund.method == "PayPal Express Checkout"


def without_transactions(node: dict[str, Any], adjustment: str | None = None) -> dict[str, Any]:
    refund = copy.deepcopy(node)
    refund["transactions"] = {"edges": []}
    if adjustment is not None:
        bag = {"presentmentMoney": {"amount": adjustment, "currencyCode": "EUR"}}
        zero = {"presentmentMoney": {"amount": "0.00", "currencyCode": "EUR"}}
        refund["orderAdjustments"] = {"edges": [{"node": {
            "id": "gid://shopify/OrderAdjustment/1", "reason": "REFUND_DISCREPANCY",
            "amountSet": bag, "taxAmountSet": zero}}]}  # fmt: skip
    return refund


def test_refund_without_transaction_is_manual() -> None:
    refund = map_refund(without_transactions(seed("#1007")["refunds"][0]))
    assert refund.method == "manual" and refund.amount == D("9.50")


def test_refund_without_transaction_is_worth_its_lines_less_a_positive_adjustment() -> None:
    node = without_transactions(seed("#1007")["refunds"][0], adjustment="1.50")
    assert map_refund(node).amount == D("8.00")  # 9.50 worth of lines, 1.50 kept by the shop


def test_amount_only_refund_without_transaction_is_its_negative_adjustment() -> None:
    node = without_transactions(seed("#1007")["refunds"][1])
    assert map_refund(node).amount == D("5.00")


def test_refund_to_store_credit_says_store_credit() -> None:
    node = copy.deepcopy(seed("#1008")["refunds"][0])
    transaction = node["transactions"]["edges"][0]["node"]
    transaction.update(gateway="shopify_store_credit", formattedGateway="Store credit")
    assert map_refund(node).method == "store_credit"


@pytest.mark.parametrize("status", ["FAILURE", "PENDING", "AWAITING_RESPONSE"])
def test_refund_whose_money_did_not_go_back_is_pending(status: str) -> None:
    node = copy.deepcopy(seed("#1008"))
    node["refunds"][0]["transactions"]["edges"][0]["node"]["status"] = status
    assert [r.pending for r in map_order(node, shop="s").refunds] == [True]


def test_refund_whose_money_went_back_is_not_pending() -> None:
    assert [r.pending for r in refunds_of("#1008")] == [False]


def test_service_line_refund_is_a_service() -> None:
    node = build_order(61, "#61", [Item("Atelier dégustation", "30.00", requires_shipping=False)])
    with ShopifySandbox(seed=False) as sb:
        sb.add_order(node)
        sb.add_refund(61, lines=[(0, 1)], notify=False)
        (refund,) = make(sb).fetch_order("61").order.refunds  # type: ignore[union-attr]
    assert refund.lines[0].nature is Nature.services


def test_refund_vat_is_split_over_the_line_rates_as_charged() -> None:
    node = copy.deepcopy(seed("#1006")["refunds"][0])
    line = node["refundLineItems"]["edges"][0]["node"]
    bag = lambda a: {"presentmentMoney": {"amount": a, "currencyCode": "EUR"}}  # noqa: E731
    line["lineItem"]["taxLines"] = [
        {"title": "A", "ratePercentage": 20.0, "priceSet": bag("3.00")},
        {"title": "B", "ratePercentage": 5.5, "priceSet": bag("1.00")},
    ]
    line["totalTaxSet"] = bag("2.01")
    (first, *_) = map_refund(node).lines
    assert [(t.rate, t.amount) for t in first.taxes] == [(D(20), D("1.51")), (D("5.5"), D("0.50"))]


def test_refund_vat_on_a_line_without_rate_is_refused_by_name() -> None:
    node = copy.deepcopy(seed("#1006")["refunds"][0])
    node["refundLineItems"]["edges"][0]["node"]["lineItem"]["taxLines"] = []
    with pytest.raises(MappingError, match=r"Coffret de thés.*1\.56 of VAT.*no tax rate"):
        map_refund(node)


def test_refund_listed_but_not_read_is_refused() -> None:
    with pytest.raises(MappingError, match="listed but not read"):
        map_refund({"id": "gid://shopify/Refund/5006901"})


def test_legacy_shipping_adjustment_is_a_shipping_line_at_its_rate() -> None:
    body = json.loads(REFUND_FIXTURE.read_bytes())["refund"]
    body["order_adjustments"] = [
        {"id": 1, "amount": "-4.08", "tax_amount": "-0.82", "kind": "shipping_refund"},
        {"id": 2, "amount": "-3.00", "tax_amount": "0.00", "kind": "refund_discrepancy"},
    ]
    refund = refund_from_rest(body)
    ship = refund.lines[-1]
    assert (ship.kind, ship.amount, [(t.rate, t.amount) for t in ship.taxes]) == (
        LineKind.shipping, D("4.08"), [(D(20), D("0.82"))])  # fmt: skip
    assert len(refund.lines) == 3  # the discrepancy is no line: it is credited pro rata


def test_rest_and_graphql_views_of_a_refund_agree() -> None:
    with ShopifySandbox() as sb:
        rest = refund_from_rest(json.loads(sb.refund_webhook_body(5006)))
    (graphql,) = refunds_of("#1006")
    products = [ln for ln in graphql.lines if ln.kind is LineKind.product]
    assert rest.amount == graphql.amount and rest.refund_id == graphql.refund_id
    assert [(ln.amount, ln.tax, ln.line_ref) for ln in rest.lines] == [
        (ln.amount, ln.tax, ln.line_ref) for ln in products
    ]


# -- reading refunds through the connector ----------------------------------------------------


def test_fetch_order_reads_each_refund_by_its_id(sandbox: ShopifySandbox) -> None:
    order = make(sandbox).fetch_order("5007").order
    assert order is not None and [r.refund_id for r in order.refunds] == ["5007901", "5007902"]
    assert sandbox.calls == ["QuittanceOrder", "QuittanceRefund", "QuittanceRefund"]


def test_refund_line_items_are_paged(sandbox: ShopifySandbox) -> None:
    items = [Item(f"Tea {n}", "2.00", sku=f"T{n}") for n in range(3)]
    sandbox.add_order(build_order(6200, "#6200", items))
    sandbox.add_refund(6200, lines=[(0, 1), (1, 1), (2, 1)], notify=False)
    sandbox.refund_line_page = 1
    order = make(sandbox).fetch_order("6200").order
    assert order is not None and [ln.sku for ln in order.refunds[0].lines] == ["T0", "T1", "T2"]
    assert sandbox.calls.count("QuittanceRefund") == 3


def test_api_versions_before_2024_10_do_not_ask_for_order_adjustments(
    sandbox: ShopifySandbox,
) -> None:
    asked: list[str] = []
    original = sandbox._op_QuittanceRefund

    def spy(variables: dict, query: str) -> dict:
        asked.append(query)
        return original(variables, query)

    sandbox._op_QuittanceRefund = spy  # type: ignore[method-assign]
    make(sandbox, api_version="2024-07").fetch_order("5008")
    make(sandbox).fetch_order("5008")
    assert ["orderAdjustments" in q for q in asked] == [False, True]


def test_polling_lists_fully_refunded_orders(sandbox: ShopifySandbox) -> None:
    refs = [o.reference for p in make(sandbox).iter_paid_pages(None) for o in p.orders]
    assert "#1006" in refs  # REFUNDED: its webhook may be lost, its credit note is due


def test_a_new_refund_makes_a_known_order_read_again(sandbox: ShopifySandbox) -> None:
    conn = make(sandbox)
    known = {
        o.order_id: frozenset(r.refund_id for r in o.refunds)
        for p in conn.iter_paid_pages(None)
        for o in p.orders
    }
    refund_id = sandbox.add_refund(5001, lines=[(0, 1)], notify=False)
    again = [o for p in conn.iter_paid_pages(None, is_known=lambda o, r: known.get(o) == r)
             for o in p.orders]  # fmt: skip
    assert [(o.order_id, [r.refund_id for r in o.refunds]) for o in again] == [
        ("5001", [refund_id])
    ]


# -- the sandbox's refunds --------------------------------------------------------------------


def test_add_refund_moves_the_financial_status_and_the_update_time() -> None:
    moment = datetime.now(UTC) - timedelta(days=3)
    with ShopifySandbox(clock=lambda: moment) as sb:
        sb.add_refund(5002, lines=[(0, 1)], notify=False)
        assert sb.orders["5002"]["displayFinancialStatus"] == "PARTIALLY_REFUNDED"
        assert datetime.fromisoformat(sb.orders["5002"]["updatedAt"]) == moment.replace(
            microsecond=0
        )
        sb.add_refund(5002, lines=[(0, 2)], notify=False)
        assert sb.orders["5002"]["displayFinancialStatus"] == "REFUNDED"


def test_add_refund_of_part_of_the_shipping_takes_its_vat_out(sandbox: ShopifySandbox) -> None:
    refund_id = sandbox.add_refund(5001, shipping=D("3.00"), notify=False)
    ship = sandbox.refund(refund_id)["refundShippingLines"]["edges"][0]["node"]
    assert ship["subtotalAmountSet"]["presentmentMoney"]["amount"] == "2.50"
    assert ship["taxAmountSet"]["presentmentMoney"]["amount"] == "0.50"


def test_add_refund_refuses_more_than_is_left(sandbox: ShopifySandbox) -> None:
    with pytest.raises(ValueError, match="left to refund"):
        sandbox.add_refund(5006, amount=D("1.00"), notify=False)  # already fully refunded
    with pytest.raises(ValueError, match="cannot refund 4"):
        sandbox.add_refund(5002, lines=[(0, 4)], notify=False)


class Receiver:
    """An endpoint on loopback that records each POST (headers, body) and answers 200."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                outer.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/webhooks/shopify/theiere"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    endpoint = Receiver()
    yield endpoint
    endpoint.close()


def test_add_refund_posts_a_signed_refunds_create_to_subscribers(
    sandbox: ShopifySandbox, receiver: Receiver
) -> None:
    make(sandbox).install_webhooks(receiver.url)
    refund_id = sandbox.add_refund(5001, lines=[(1, 1)])
    ((headers, body),) = receiver.received
    event = offline().verify_webhook(headers, body)
    assert (event.topic, event.order_ref) == ("refunds/create", "gid://shopify/Order/5001")
    assert json.loads(body)["id"] == int(refund_id)
    assert sandbox.deliveries == [("refunds/create", receiver.url, 200)]


def test_add_refund_without_notify_posts_nothing(
    sandbox: ShopifySandbox, receiver: Receiver
) -> None:
    make(sandbox).install_webhooks(receiver.url)
    sandbox.add_refund(5001, lines=[(1, 1)], notify=False)
    assert receiver.received == [] and sandbox.deliveries == []


# -- never move money -------------------------------------------------------------------------


def test_no_document_the_connector_sends_moves_money() -> None:
    documents = [v for v in vars(queries).values() if isinstance(v, str)]
    documents.append(queries.refund_query(with_adjustments=False))
    for name in MONEY_MUTATIONS:
        assert not any(name in doc for doc in documents), name


def test_reading_polling_and_attaching_refunds_send_no_money_mutation(
    sandbox: ShopifySandbox,
) -> None:
    conn = make(sandbox, order_note=True)
    list(conn.iter_paid_pages(None))
    conn.fetch_order("5007")
    conn.attach_invoice("5007", "FA-1", "https://q.example/FA-1.pdf")
    conn.attach_invoice("5007", "AV-1", "https://q.example/AV-1.pdf", kind="credit_note")
    assert sandbox.money_calls == []
    assert set(sandbox.mutations) <= SAFE_MUTATIONS


def test_the_sandbox_would_catch_a_money_mutation(sandbox: ShopifySandbox) -> None:
    mutation = "mutation M($input: RefundInput!) { refundCreate(input: $input) { refund { id } } }"
    with pytest.raises(Exception, match="moves money"):
        make(sandbox).client.execute(mutation, {"input": {}})
    assert sandbox.money_calls == ["refundCreate"]


def test_seeded_refunds_are_what_the_brief_promises() -> None:
    statuses = {n["name"]: n["displayFinancialStatus"] for n in seed_orders()}
    assert statuses["#1006"] == "REFUNDED"
    assert [len(seed(r)["refunds"]) for r in ("#1007", "#1008", "#1009")] == [2, 1, 1]
    assert seed("#1009")["presentmentCurrencyCode"] == "USD"
    assert all(not n["refunds"] for n in seed_orders()[:5])  # the paid seeds are unchanged


def test_shipping_refund_needs_a_shipping_line() -> None:
    node = build_order(62, "#62", [Item("Tea", "5.00")])
    with ShopifySandbox(seed=False) as sb:
        sb.add_order(node)
        with pytest.raises(ValueError, match="no shipping"):
            sb.add_refund(62, shipping=True, notify=False)


def test_excl_vat_shop_refund_adds_the_vat_to_the_line() -> None:
    node = build_order(
        63, "#63", [Item("Coffret", "40.00", 2, rate="20")], shipping=Shipping("Post", "5.00"),
        taxes_included=False,
    )  # fmt: skip
    with ShopifySandbox(seed=False) as sb:
        sb.add_order(node)
        sb.add_refund(63, lines=[(0, 1)], shipping=True, notify=False)
        (refund,) = make(sb).fetch_order("63").order.refunds  # type: ignore[union-attr]
    assert [(ln.amount, ln.tax) for ln in refund.lines] == [
        (D("40.00"), D("8.00")),
        (D("5.00"), D("1.00")),
    ]
    assert refund.amount == D("54.00")
