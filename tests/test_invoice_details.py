"""What an invoice line and its blocks say: the payment wording of a free order, unit prices
precise enough to give back the line, the delivery recipient, negative fees, variation names.

Orders come from the shared payloads (tests/fixtures) or the platforms' sandboxes, mapped by
their connector, so each case is the shape a shop really sends.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from bridge.config import SellerConfig, load_settings
from bridge.demo import DEMO_CONFIG
from bridge.invoicing.amounts import cents, unit_price_excl
from bridge.invoicing.build import Numbering, build_invoice, buyer_snapshot, describe
from bridge.invoicing.legal import receipt
from bridge.invoicing.payment_labels import is_free_order_label, payment_label
from bridge.invoicing.snapshot import InvoiceSnapshot
from bridge.model import Address, Line, LineKind, Order, TaxLine
from bridge.render import render_html
from bridge.render.formatting import format_money, format_unit_price
from connectors.shopify import mapping as shopify
from connectors.shopify.rest import rest_order_to_node
from connectors.shopify.sandbox_orders import Item as ShopifyItem
from connectors.shopify.sandbox_orders import build_order
from connectors.woocommerce.mapping import MappingOptions, map_order
from connectors.woocommerce.sandbox_orders import Item, french_orders, make_order
from tests.support.paths import FIXTURES, SAMPLES

D = Decimal
NUMBERING = Numbering(series="FA", number="FA-2026-000001", sequence=1)
WC = MappingOptions(shop="wc")
NBSP = "\u00a0"


@pytest.fixture(scope="module")
def seller() -> SellerConfig:
    return load_settings(DEMO_CONFIG, environ={}).seller


def wc_fixture(name: str) -> Any:
    return json.loads((FIXTURES / "woocommerce" / name).read_text(encoding="utf-8"))


def shopify_fixture(name: str) -> Any:
    return json.loads((FIXTURES / "shopify" / name).read_text(encoding="utf-8"))


def sample(name: str) -> Order:
    return Order.model_validate_json((SAMPLES / name).read_bytes())


def issue(order: Order, seller: SellerConfig) -> InvoiceSnapshot:
    """The order's invoice, issued an hour after its payment (whenever the payload says)."""
    issued_at = order.payment.paid_at + timedelta(hours=1)
    return build_invoice(order, seller, NUMBERING, issued_at=issued_at)


def delivery_block(html: str) -> str:
    """The "Livré à" cell of the rendered invoice, tags kept."""
    found = re.search(r"Livré à</span>(.*?)</td>", html, re.S)
    assert found, "no delivery block printed"
    return found.group(1)


# --------------------------------------------------------------------------- free orders


def test_free_woocommerce_order_is_labelled_as_free_not_as_a_payment_method() -> None:
    order = map_order(wc_fixture("pipedream_webhook_order_completed_free_order_wc8.json"), WC)
    method, title = order.payment.method, order.payment.method_label
    assert payment_label(method, title, "fr", total=order.total) == (
        "commande gratuite, aucun paiement"
    )
    assert payment_label(method, title, "en", total=order.total) == "free order, nothing to pay"


def test_free_order_title_without_a_method_is_a_free_order_without_the_total(seller) -> None:
    snap = issue(sample("05_fr_free_order.json"), seller)
    assert snap.payment.method_label == "commande gratuite, aucun paiement"
    assert is_free_order_label(snap.payment.method_label)


def test_free_order_label_still_satisfies_the_receipt_rule(seller) -> None:
    snap = issue(sample("05_fr_free_order.json"), seller)
    assert receipt(snap) == []


def test_shopify_manual_gateway_on_a_zero_order_is_a_free_order() -> None:
    node = build_order(
        61, "#61", [ShopifyItem("Échantillon", "0.00")], gateway="manual", gateway_label="Manual"
    )
    order = shopify.map_order(node, shop="s")
    assert (order.total, order.payment.method) == (D("0.00"), "manual")
    label = payment_label(order.payment.method, order.payment.method_label, "fr", total=order.total)
    assert label == "commande gratuite, aucun paiement"


def test_shopify_zero_order_without_any_gateway_is_a_free_order() -> None:
    node = build_order(62, "#62", [ShopifyItem("Échantillon", "0.00")], paid=False)
    node.update(displayFinancialStatus="PAID", paymentGatewayNames=[])
    order = shopify.map_order(node, shop="s")
    assert order.payment.method == ""
    label = payment_label(order.payment.method, order.payment.method_label, "en", total=order.total)
    assert label == "free order, nothing to pay"


def test_manual_payment_of_a_real_amount_keeps_its_label() -> None:
    assert payment_label("manual", "Manual", "fr", total=D("12.00")) == "paiement manuel"


def test_zero_order_paid_by_a_named_method_keeps_that_method() -> None:
    assert payment_label("gift_card", "Carte cadeau", "fr", total=D("0.00")) == "carte cadeau"


def test_a_platform_title_is_not_mistaken_for_the_free_order_label() -> None:
    assert not is_free_order_label("Commande gratuite")  # what snapshots stored before
    assert not is_free_order_label("carte bancaire")


# --------------------------------------------------------------------------- unit prices


def test_unit_price_of_ten_euros_for_three_keeps_four_decimals() -> None:
    unit = unit_price_excl(Line(name="Thé", quantity=D(3), subtotal=D("10.00")))
    assert str(unit) == "3.3333"
    assert cents(unit * 3) == D("10.00")


def test_unit_price_is_rounded_half_up_at_the_fourth_decimal() -> None:
    unit = unit_price_excl(Line(name="Vis", quantity=D(32), subtotal=D("1.00")))  # 0.03125
    assert str(unit) == "0.0313"  # not banker's 0.0312


def test_unit_price_needing_three_decimals_has_three() -> None:
    assert str(unit_price_excl(Line(name="Vis", quantity=D(8), subtotal=D("1.00")))) == "0.125"


def test_unit_price_of_whole_cents_keeps_two_decimals() -> None:
    raw = wc_fixture("wcdocs_v3_order_retrieve_usd_single_tax_bacs.json")
    single = map_order(raw, WC).lines[0]  # 2 × for 6.00
    assert str(unit_price_excl(single)) == "3.00"


@pytest.mark.parametrize("quantity", range(1, 100))
def test_quantity_times_unit_price_gives_the_line_subtotal_to_the_cent(quantity: int) -> None:
    for subtotal in (D("10.00"), D("0.01"), D("99.99"), D("1234.57")):
        unit = unit_price_excl(Line(name="x", quantity=D(quantity), subtotal=subtotal))
        assert cents(unit * quantity) == subtotal


def test_unit_price_with_four_decimals_prints_them_in_french() -> None:
    assert format_unit_price(D("3.3333"), "EUR", "fr") == f"3,3333{NBSP}€"


def test_unit_price_with_four_decimals_prints_them_in_english() -> None:
    assert format_unit_price(D("3.3333"), "EUR", "en") == "€3.3333"


def test_unit_price_never_prints_more_than_four_decimals() -> None:
    assert format_unit_price(D("0.123456"), "EUR", "fr") == f"0,1235{NBSP}€"


@pytest.mark.parametrize("amount", ["8.00", "0.13", "1000.00", "-2.50", "12.5", "7"])
@pytest.mark.parametrize(("currency", "locale"), [("EUR", "fr"), ("EUR", "en"), ("USD", "fr")])
def test_two_decimal_unit_price_of_an_old_snapshot_prints_as_it_always_did(
    amount: str, currency: str, locale: str
) -> None:
    assert format_unit_price(D(amount), currency, locale) == format_money(
        D(amount), currency, locale
    )


# --------------------------------------------------------------------------- delivery block


def test_a_name_or_company_alone_is_not_an_address() -> None:
    assert Address(name="Paul Martin", company="Atelier Martin").is_empty()


def gift_order() -> dict[str, Any]:
    """Sandbox order 1001 (Marie Dupont, Lyon), shipped to Paul Martin's workshop."""
    raw = french_orders()[0]
    raw["shipping"].update(first_name="Paul", last_name="Martin", company="Atelier Martin")
    return raw


def test_woocommerce_delivery_recipient_and_company_are_mapped() -> None:
    shipping = map_order(gift_order(), WC).customer.shipping
    assert shipping is not None
    assert (shipping.name, shipping.company, shipping.city) == (
        "Paul Martin",
        "Atelier Martin",
        "Grenoble",
    )


def test_woocommerce_shipping_to_the_buyer_at_the_billing_address_is_no_delivery() -> None:
    order = map_order(wc_fixture("wcdocs_v3_order_retrieve_usd_single_tax_bacs.json"), WC)
    assert order.customer.billing.name == "John Doe" and order.customer.shipping is None


def test_shopify_delivery_recipient_from_first_and_last_name_and_company() -> None:
    node = build_order(
        63,
        "#63",
        [ShopifyItem("Thé vert", "12.90")],
        shipping_address={
            "firstName": "Paul",
            "lastName": "Martin",
            "company": "Atelier Martin",
            "address1": "4 impasse du Moulin",
            "zip": "38000",
            "city": "Grenoble",
        },
    )
    shipping = shopify.map_order(node, shop="s").customer.shipping
    assert shipping is not None
    assert (shipping.name, shipping.company) == ("Paul Martin", "Atelier Martin")


def test_shopify_address_name_field_wins_when_the_payload_has_it() -> None:
    node = rest_order_to_node(shopify_fixture("01_rest_order_shopify_python_api.json"))
    node["shippingAddress"]["name"] = "Robert Norman"  # MailingAddress.name
    shipping = shopify.map_order(node, shop="s").customer.shipping
    assert shipping is not None and shipping.name == "Robert Norman"


def test_delivery_block_names_the_recipient_and_their_company(seller) -> None:
    snap = issue(map_order(gift_order(), WC), seller)
    block = delivery_block(render_html(snap))
    assert "<b>Paul Martin</b>" in block and "Atelier Martin" in block
    assert "Marie Dupont" not in block and "38000 Grenoble" in block


def test_recipient_other_than_the_buyer_at_the_billing_address_is_a_delivery() -> None:
    raw = french_orders()[2]  # Paul Girard, shipped to his billing address
    raw["shipping"].update(first_name="Claire", last_name="Girard")
    buyer = buyer_snapshot(map_order(raw, WC))
    assert buyer.shipping_lines == buyer.billing_lines
    assert buyer.shipping_name == "Claire Girard"


def test_company_other_than_the_buyers_at_the_billing_address_is_a_delivery() -> None:
    raw = french_orders()[2]
    raw["shipping"]["company"] = "Cabinet Girard"
    assert buyer_snapshot(map_order(raw, WC)).shipping_company == "Cabinet Girard"


def test_same_recipient_written_in_capitals_is_no_delivery_block() -> None:
    raw = wc_fixture("wZVanG_webhook_order_processing_cod_pen_peru_unpaid.json")
    raw["billing"].update(first_name="Joe", last_name="Doe")  # shipping says "JOE DOE"
    buyer = buyer_snapshot(map_order(raw, WC))
    assert buyer.shipping_lines == [] and buyer.shipping_name == ""


def test_delivery_without_a_recipient_prints_the_buyer_as_before() -> None:
    buyer = buyer_snapshot(sample("01_fr_b2c_card_coupon.json"))  # no name on the address
    assert buyer.shipping_lines and buyer.shipping_name == "" and buyer.shipping_company == ""


def test_old_snapshot_delivery_block_prints_exactly_as_before(seller) -> None:
    snap = issue(sample("01_fr_b2c_card_coupon.json"), seller)
    lines = "".join(f"<br>{x}" for x in snap.buyer.shipping_lines)
    assert delivery_block(render_html(snap)) == f"<br><b>{snap.buyer.name}</b>{lines}"


def test_snapshot_without_a_recipient_hashes_as_before_the_fields_existed(seller) -> None:
    snap = issue(sample("01_fr_b2c_card_coupon.json"), seller)
    stored = json.loads(snap.canonical_json())
    assert not {"shipping_name", "shipping_company"} & set(stored["buyer"])
    assert InvoiceSnapshot.from_json(snap.canonical_json()).canonical_json() == (
        snap.canonical_json()
    )


def test_snapshot_with_a_recipient_keeps_it_in_what_is_hashed(seller) -> None:
    snap = issue(map_order(gift_order(), WC), seller)
    stored = json.loads(snap.canonical_json())["buyer"]
    assert (stored["shipping_name"], stored["shipping_company"]) == (
        "Paul Martin",
        "Atelier Martin",
    )


# --------------------------------------------------------------------------- negative fees


def test_negative_woocommerce_fee_is_a_negative_line_with_its_vat() -> None:
    raw = make_order(
        7001,
        items=[Item("Théière", "40.00", 1, rate_id=1)],
        fees=[("Remise fidélité", "-5.00", 1)],
    )
    fee = map_order(raw, WC).lines[-1]
    assert (fee.kind, fee.name, fee.quantity) == (LineKind.fee, "Remise fidélité", D(1))
    assert (fee.subtotal, fee.discount, fee.tax) == (D("-5.00"), D(0), D("-1.00"))
    assert [t.rate for t in fee.taxes] == [D(20)]


def spread_discount(raw: dict[str, Any], name: str, shares: dict[int, str], untaxed: str) -> None:
    """Add a negative fee the way WooCommerce ≥ 3.2 taxes one: its VAT spread over the order's
    rates in proportion to what each sells (`shares`: rate id → that rate's share of the fee,
    excl. VAT; `untaxed`: the share on untaxed items, which carries no VAT)."""
    percent = {int(t["rate_id"]): D(str(t["rate_percent"])) for t in raw["tax_lines"]}
    taxes = {rid: cents(D(base) * percent[rid] / 100) for rid, base in shares.items()}
    total = sum((D(b) for b in shares.values()), D(untaxed))
    tax = sum(taxes.values(), D(0))
    raw["fee_lines"].append(
        {
            "id": 99,
            "name": name,
            "tax_class": "",
            "tax_status": "taxable",
            "amount": str(total),
            "total": str(total),
            "total_tax": str(tax),
            "taxes": [{"id": rid, "total": str(t), "subtotal": ""} for rid, t in taxes.items()],
            "meta_data": [],
        }
    )
    for line in raw["tax_lines"]:
        rid = int(line["rate_id"])
        line["tax_total"] = str(D(line["tax_total"]) + taxes.get(rid, D(0)))
    raw["total"] = str(D(raw["total"]) + total + tax)
    raw["total_tax"] = str(D(raw["total_tax"]) + tax)
    raw["cart_tax"] = str(D(raw["cart_tax"]) + tax)


def test_negative_fee_spread_over_two_rates_is_one_line_per_rate() -> None:
    raw = french_orders()[0]  # tisane at 5,5 %, théière and shipping at 20 %
    spread_discount(raw, "Remise fidélité", {2: "-2.16", 1: "-4.60"}, untaxed="0")
    fees = [ln for ln in map_order(raw, WC).lines if ln.name == "Remise fidélité"]
    assert [(ln.subtotal, ln.tax, ln.taxes[0].rate) for ln in fees] == [
        (D("-4.60"), D("-0.92"), D(20)),
        (D("-2.16"), D("-0.12"), D("5.5")),
    ]


def test_negative_fee_lines_split_by_rate_add_up_to_the_order() -> None:
    raw = french_orders()[0]
    spread_discount(raw, "Remise fidélité", {2: "-2.16", 1: "-4.60"}, untaxed="0")
    order = map_order(raw, WC)
    assert order.total == sum((cents(ln.total) + cents(ln.tax) for ln in order.lines), D(0))
    assert order.total_tax == sum((cents(ln.tax) for ln in order.lines), D(0))


def test_negative_fee_share_on_untaxed_items_is_an_untaxed_line() -> None:
    raw = make_order(
        7002,
        items=[Item("Théière", "40.00", 1, rate_id=1), Item("Carte postale", "10.00", 1, None)],
    )
    raw["tax_lines"][0]["rate_percent"] = 20.0
    spread_discount(raw, "Remise", {1: "-4.00"}, untaxed="-1.00")
    fees = [ln for ln in map_order(raw, WC).lines if ln.kind is LineKind.fee]
    assert [(ln.subtotal, ln.tax) for ln in fees] == [(D("-4.00"), D("-0.80")), (D("-1.00"), 0)]
    assert fees[1].taxes == []


def test_negative_fee_split_lines_each_carry_their_rate_of_their_base() -> None:
    raw = french_orders()[0]
    spread_discount(raw, "Remise fidélité", {2: "-2.16", 1: "-4.60"}, untaxed="0")
    for ln in map_order(raw, WC).lines:
        rate = sum((t.rate for t in ln.taxes), D(0))
        assert abs(cents(ln.tax) - cents(ln.total * rate / 100)) <= D("0.01"), ln.name


def test_positive_fee_is_mapped_as_before() -> None:
    fee = map_order(french_orders()[3], WC).lines[-1]  # "Emballage cadeau", 2,50 € at 20 %
    assert (fee.name, fee.subtotal, fee.tax) == ("Emballage cadeau", D("2.50"), D("0.50"))


# --------------------------------------------------------------------------- descriptions


def test_variation_named_after_its_attributes_does_not_repeat_them() -> None:
    order = map_order(wc_fixture("wcdocs_v3_order_retrieve_usd_single_tax_bacs.json"), WC)
    assert describe(order.lines[1]) == "Ship Your Idea – Color: Black, Size: M Test"


def test_attribute_missing_from_the_name_is_appended() -> None:
    tisane = map_order(french_orders()[0], WC).lines[0]
    assert describe(tisane) == "Tisane verveine bio — Format : 100 g"


def test_shopify_line_property_is_appended_to_the_variant_name() -> None:
    node = rest_order_to_node(shopify_fixture("01_rest_order_shopify_python_api.json"))
    line = shopify.map_order(node, shop="s").lines[0]
    assert describe(line) == "IPod Nano - 8gb - green — Custom Engraving : Happy Birthday"


def test_attribute_without_a_value_is_left_out() -> None:
    line = Line(name="Théière", subtotal=D("40.00"), attributes={"Gravure": " ", "Couleur": "noir"})
    assert describe(line) == "Théière — Couleur : noir"


def test_attribute_slug_stated_in_the_name_is_not_repeated() -> None:
    line = Line(
        name="T-shirt - Bleu marine, M",
        subtotal=D("20.00"),
        attributes={"Couleur": "bleu-marine", "Taille": "M"},
        taxes=[TaxLine(rate=D(20), amount=D("4.00"))],
    )
    assert describe(line) == "T-shirt - Bleu marine, M"
