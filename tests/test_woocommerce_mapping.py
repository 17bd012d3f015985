"""WooCommerce → normalised Order: every shared fixture, the paid rule, taxes and meta."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from bridge.invoicing.amounts import check_order
from bridge.invoicing.buyer import buyer_status
from bridge.model import LineKind
from connectors.woocommerce.mapping import (
    MappingOptions,
    map_note,
    map_order,
    map_webhook,
    paid_verdict,
    wcpdf_invoice_number,
)
from connectors.woocommerce.refunds import map_refund
from connectors.woocommerce.sandbox_orders import Item, french_orders, make_order
from connectors.woocommerce.tax_rates import derive_rate, missing_rate_ids
from connectors.woocommerce.values import MappingError, dec
from tests.support.paths import FIXTURES

WC_FIXTURES = FIXTURES / "woocommerce"
PAID = ("processing", "completed")
OPTS = MappingOptions(shop="wc")


def load(name: str):
    return json.loads((WC_FIXTURES / name).read_text(encoding="utf-8"))


def test_every_fixture_file_is_covered_below() -> None:
    covered = {
        "wcdocs_v3_order_retrieve_usd_single_tax_bacs.json",
        "wcdocs_v3_orders_list_response.json",
        "pipedream_webhook_order_completed_free_order_wc8.json",
        "wZVanG_webhook_order_processing_cod_pen_peru_unpaid.json",
        "wcdocs_v3_order_refund_create_response.json",
        "wcdocs_v3_order_refunds_list_response.json",
        "wcdocs_v3_order_note_create_response.json",
        "wcdocs_v3_order_notes_list_response.json",
        "wcdocs_v3_webhook_create_response.json",
    }
    assert {p.name for p in WC_FIXTURES.glob("*.json")} == covered


def test_order_retrieve_usd_single_tax_bacs() -> None:
    raw = load("wcdocs_v3_order_retrieve_usd_single_tax_bacs.json")
    order = map_order(raw, OPTS)
    assert (order.order_id, order.reference, order.currency) == ("727", "#727", "USD")
    assert order.total == Decimal("29.35") and order.total_tax == Decimal("1.35")
    assert [ln.kind for ln in order.lines] == [
        LineKind.product,
        LineKind.product,
        LineKind.shipping,
    ]
    single, variation, ship = order.lines
    assert single.quantity == 2 and single.subtotal == Decimal("6.00") and single.discount == 0
    # no rate_percent in WC 3.0 tax_lines: derived from 1.35 on 18.00 → 7.5 %
    assert [(t.rate, t.amount, t.label) for t in single.taxes] == [
        (Decimal("7.5"), Decimal("0.45"), "State Tax")
    ]
    assert variation.taxes[0].amount == Decimal("0.9")  # not normalised upstream: kept as is
    assert variation.name == "Ship Your Idea – Color: Black, Size: M Test"  # &ndash; decoded
    assert variation.sku == "Bar3" and variation.attributes == {"Color": "black", "size": "M Test"}
    assert ship.name == "Flat Rate" and ship.subtotal == Decimal("10.00") and ship.taxes == []
    assert order.customer.full_name == "John Doe" and order.customer.billing.country == "US"
    assert order.customer.shipping is None  # same as billing
    assert order.payment.method == "bacs" and order.payment.method_label == "Direct Bank Transfer"
    assert order.payment.paid_at == datetime(2017, 3, 22, 19, 28, 8, tzinfo=UTC)  # _gmt field
    assert order.created_at == datetime(2017, 3, 22, 19, 28, 2, tzinfo=UTC)
    assert check_order(order) == []
    assert paid_verdict(raw, PAID).paid


def test_orders_list_response() -> None:
    first, second = load("wcdocs_v3_orders_list_response.json")
    refunds = load("wcdocs_v3_order_refunds_list_response.json")  # order 723's, in detail
    a, b = map_order(first, OPTS), map_order(second, OPTS, refunds)
    assert a.total == Decimal("29.35") and check_order(a) == []
    assert b.order_id == "723" and b.total == Decimal("39.00") and b.total_tax == 0
    assert sum(ln.total for ln in b.lines) == Decimal("39.00") and check_order(b) == []
    # read oldest first; positive amounts whatever the sign WooCommerce stores
    assert [(r.refund_id, r.amount) for r in b.refunds] == [
        ("724", Decimal("9.00")),
        ("726", Decimal("10.00")),
    ]
    # completed but date_paid null → not paid (status alone never means paid)
    verdict = paid_verdict(second, PAID)
    assert not verdict.paid and "date_paid_gmt" in verdict.reason


def test_pipedream_free_order_wc8() -> None:
    raw = load("pipedream_webhook_order_completed_free_order_wc8.json")
    order = map_order(raw, OPTS)
    assert order.total == 0 and order.total_tax == 0 and len(order.lines) == 1
    assert order.payment.method == "" and order.customer.billing.country == "VN"
    assert order.customer.shipping is None  # empty shipping block
    assert check_order(order) == []
    assert paid_verdict(raw, PAID).paid


def test_peru_cod_processing_is_not_paid() -> None:
    raw = load("wZVanG_webhook_order_processing_cod_pen_peru_unpaid.json")
    order = map_order(raw, OPTS)
    assert order.currency == "PEN" and order.total == Decimal("33.30")
    assert [ln.subtotal for ln in order.lines] == [
        Decimal("8.60"),
        Decimal("10.00"),
        Decimal("4.70"),
        Decimal("10.00"),
    ]
    assert order.lines[0].attributes == {}  # `_reduced_stock` is hidden meta
    assert check_order(order) == []
    verdict = paid_verdict(raw, PAID)
    assert not verdict.paid and "cash on delivery" in verdict.reason


def test_refund_responses() -> None:
    created = map_refund(load("wcdocs_v3_order_refund_create_response.json"))
    assert created.amount == Decimal("10.00")
    listed = [map_refund(r) for r in load("wcdocs_v3_order_refunds_list_response.json")]
    assert [r.amount for r in listed] == [Decimal("10.00"), Decimal("9.00")]
    assert listed[0].created_at == datetime(2017, 3, 21, 20, 7, 11, tzinfo=UTC)


def test_note_responses() -> None:
    note = map_note(load("wcdocs_v3_order_note_create_response.json"))
    assert note.id == 281 and note.customer_note is False
    notes = [map_note(n) for n in load("wcdocs_v3_order_notes_list_response.json")]
    assert [n.id for n in notes] == [281, 280, 279]
    assert "On hold to Completed" in notes[1].note


def test_webhook_create_response() -> None:
    hook = map_webhook(load("wcdocs_v3_webhook_create_response.json"))
    assert (hook.id, hook.topic, hook.status) == (142, "order.updated", "active")


# -- paid rule ----------------------------------------------------------------------------


def _order(**kw):
    return make_order(5000, items=[Item("Thé", "10.00", 1, rate_id=1)], **kw)


@pytest.mark.parametrize(
    ("status", "method", "paid", "expected"),
    [
        ("processing", "stripe", True, True),
        ("completed", "stripe", True, True),
        ("processing", "stripe", False, False),  # processing without date_paid
        ("on-hold", "bacs", False, False),
        ("on-hold", "bacs", True, False),
        ("pending", "stripe", False, False),
        ("refunded", "stripe", True, True),  # it was paid: invoice, then credit notes
        ("cancelled", "stripe", True, False),
        ("processing", "cod", True, False),  # COD: only once completed
        ("completed", "cod", True, True),
    ],
)
def test_paid_rule(status: str, method: str, paid: bool, expected: bool) -> None:
    raw = _order(status=status, payment_method=method, paid=paid)
    assert paid_verdict(raw, PAID).paid is expected


def test_cod_completed_without_date_paid_uses_date_completed() -> None:
    raw = _order(status="completed", payment_method="cod", paid=False)
    raw["date_completed_gmt"] = "2026-11-27T10:00:00"
    verdict = paid_verdict(raw, PAID)
    assert verdict.paid and verdict.paid_at == datetime(2026, 11, 27, 10, tzinfo=UTC)


def test_paid_statuses_are_configurable() -> None:
    raw = _order(status="expedie", paid=True)
    assert not paid_verdict(raw, PAID).paid
    assert paid_verdict(raw, (*PAID, "expedie")).paid
    assert not paid_verdict(_order(status="completed"), ("processing",)).paid


def test_on_hold_bank_transfer_reason_says_what_to_do() -> None:
    reason = paid_verdict(_order(status="on-hold", payment_method="bacs", paid=False), PAID).reason
    assert "on-hold" in reason and "Processing" in reason


# -- French orders, taxes, meta -----------------------------------------------------------


@pytest.mark.parametrize("raw", french_orders(), ids=lambda o: str(o["id"]))
def test_sandbox_french_orders_add_up(raw) -> None:
    order = map_order(raw, OPTS)
    assert check_order(order) == []
    assert order.currency == "EUR"
    assert order.total == sum((ln.total + ln.tax for ln in order.lines), Decimal(0))


def test_card_order_with_coupon_two_rates_and_shipping() -> None:
    raw = french_orders()[0]
    order = map_order(raw, MappingOptions(shop="wc", default_locale="en"))
    tisane, theiere, ship = order.lines
    assert tisane.taxes[0].rate == Decimal("5.5") and theiere.taxes[0].rate == Decimal("20")
    assert tisane.discount == Decimal("2.40") and theiere.discount == Decimal("4.00")
    assert tisane.attributes == {"Format": "100 g"} and tisane.sku == "TIS-VER-100"
    assert [(c.code, c.amount) for c in order.coupons] == [("BIENVENUE10", Decimal("6.40"))]
    assert ship.kind is LineKind.shipping and ship.tax == Decimal("1.00")
    assert order.total == Decimal("71.99") and order.total_tax == Decimal("9.39")
    assert order.payment.transaction_ref == "ch_3QxYz2Lk9PdemoA1"
    assert order.locale == "fr"  # from wpml_language meta, not the shop default
    assert order.customer.shipping is not None and order.customer.shipping.city == "Grenoble"


def test_b2b_vat_and_siren_from_meta() -> None:
    raw = french_orders()[1]
    order = map_order(raw, OPTS)
    assert order.customer.company == "Bistrot du Port SARL"
    assert order.customer.vat_number == "FR96552100554" and order.customer.siren == "552100554"
    assert buyer_status(order.customer).is_business
    custom = MappingOptions(shop="wc", vat_meta_keys=("my_vat",), siren_meta_keys=())
    raw["meta_data"].append({"id": 1, "key": "my_vat", "value": "fr 96 552 100 554"})
    mapped = map_order(raw, custom)
    assert mapped.customer.vat_number == "FR96552100554" and mapped.customer.siren == ""


def test_locale_default_from_shop() -> None:
    raw = french_orders()[2]
    assert map_order(raw, MappingOptions(shop="wc", default_locale="en")).locale == "en"
    assert map_order(raw, OPTS).locale == ""


def test_prices_include_tax_lines_are_excl_vat() -> None:
    raw = french_orders()[3]
    order = map_order(raw, OPTS)
    assert order.prices_include_tax
    mug = order.lines[0]
    assert mug.subtotal == Decimal("24.83") and mug.tax == Decimal("4.97")  # 29.80 TTC
    fee = order.lines[-1]
    assert fee.kind is LineKind.fee and fee.name == "Emballage cadeau"
    assert check_order(order) == []


def test_amounts_as_numbers_or_strings() -> None:
    assert dec(3) == Decimal(3) and dec(8.6) == Decimal("8.6") and dec("0.9") == Decimal("0.9")
    assert dec("") == 0 and dec(None) == 0
    raw = french_orders()[0]
    for item in raw["line_items"]:
        item["subtotal"], item["total"] = float(item["subtotal"]), float(item["total"])
    raw["total"] = 71.99
    order = map_order(raw, OPTS)
    assert order.total == Decimal("71.99") and check_order(order) == []
    with pytest.raises(MappingError, match="total"):
        map_order({**raw, "total": "abc"}, OPTS)


def test_rate_derived_when_tax_lines_lack_rate_percent() -> None:
    raw = french_orders()[0]
    for tl in raw["tax_lines"]:
        del tl["rate_percent"]
    assert missing_rate_ids(raw) == {1, 2}
    order = map_order(raw, OPTS)
    assert [t.rate for ln in order.lines for t in ln.taxes] == [
        Decimal("5.5"),
        Decimal("20"),
        Decimal("20"),
    ]
    # rates learnt from /taxes/<id> win over derivation
    known = map_order(raw, MappingOptions(shop="wc", known_rates={2: Decimal("5.5")}))
    assert known.lines[0].taxes[0].rate == Decimal("5.5")


def test_derive_rate_snaps_to_known_rates() -> None:
    assert derive_rate(Decimal("0.06"), Decimal("1.00")) == Decimal("5.5")  # 6 % ± rounding
    assert derive_rate(Decimal("2.00"), Decimal("10.00")) == Decimal("20")
    assert derive_rate(Decimal("1"), Decimal("0")) is None


def test_unknown_tax_rate_id_is_a_mapping_error() -> None:
    raw = french_orders()[0]
    raw["tax_lines"] = raw["tax_lines"][:1]  # rate 2 missing, but rate 1 kept with percent
    order = map_order(raw, OPTS)  # rate 2 derived from amounts
    assert order.lines[0].taxes[0].rate == Decimal("5.5")


def test_wcpdf_number_detected() -> None:
    raw = french_orders()[0]
    assert wcpdf_invoice_number(raw) == ""
    raw["meta_data"].append({"id": 9, "key": "_wcpdf_invoice_number", "value": "42"})
    assert wcpdf_invoice_number(raw) == "42"
    assert wcpdf_invoice_number({"wpo_wcpdf_invoice_number": "INV-7"}) == "INV-7"


def test_not_an_order() -> None:
    with pytest.raises(MappingError):
        map_order({"foo": 1}, OPTS)


def test_seeded_orders_follow_the_sandbox_clock() -> None:
    from connectors.woocommerce.sandbox import WooSandbox

    moment = datetime.now(UTC).replace(microsecond=0) - timedelta(days=400)
    with WooSandbox(clock=lambda: moment) as sandbox:
        created = [
            datetime.fromisoformat(o["date_created_gmt"]).replace(tzinfo=UTC)
            for o in sandbox.orders.values()
        ]
    assert created
    assert all(moment - timedelta(hours=3) <= at <= moment for at in created)


def test_buyer_electronic_address_from_meta() -> None:
    raw = french_orders()[1]
    raw["meta_data"].append(
        {"id": 2, "key": "_billing_electronic_address", "value": " 0225:552100554_COMPTA "}
    )
    assert map_order(raw, OPTS).customer.electronic_address == "0225:552100554_COMPTA"
