"""WooCommerce refunds, read only: the real payloads mapped to the cent, the sandbox storing
refunds as WooCommerce does, the paid rule for refunded orders, polling that reads an invoiced
order again when its refunds change, credit notes attached beside the invoice, and never a
write to a refund."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from bridge.model import LineKind, Nature, Order
from connectors.base import PermanentConnectorError
from connectors.woocommerce.connector import META_NUMBER, WooCommerceConnector
from connectors.woocommerce.mapping import MappingOptions, map_order, paid_verdict
from connectors.woocommerce.refunds import MANUAL, RefundContext, map_refund
from connectors.woocommerce.sandbox import WooSandbox
from connectors.woocommerce.sandbox_orders import Item, make_order
from connectors.woocommerce.settings import WooCommerceShop
from connectors.woocommerce.values import MappingError
from tests.support.paths import FIXTURES
from tests.support.shops import woo_shop

WC_FIXTURES = FIXTURES / "woocommerce"
OPTS = MappingOptions(shop="wc")
PAID = ("processing", "completed")
URL = "https://q.example/a/1"


def load(name: str) -> Any:
    return json.loads((WC_FIXTURES / name).read_text(encoding="utf-8"))


@pytest.fixture
def wc() -> Iterator[WooSandbox]:
    with WooSandbox() as sandbox:  # the seeded shop, refunds included
        yield sandbox


def connect(wc: WooSandbox) -> WooCommerceConnector:
    return WooCommerceConnector(WooCommerceShop.model_validate(woo_shop("theiere", wc)))


def read(wc: WooSandbox, order_id: int) -> Order:
    fetched = connect(wc).fetch_order(str(order_id))
    assert fetched.order is not None, fetched.not_paid_reason
    return fetched.order


def polled(wc: WooSandbox, **kw: Any) -> list[Order]:
    since = wc.now() - timedelta(days=1)
    return [o for page in connect(wc).iter_paid_pages(since, **kw) for o in page.orders]


def refund_paths(wc: WooSandbox) -> list[tuple[str, str]]:
    return [(method, path) for method, path, _ in wc.requests if "/refunds" in path]


# ------------------------------------------------------------------ the real payloads


def test_a_listed_line_refund_gives_back_its_item_in_positive_figures() -> None:
    _, line_refund = load("wcdocs_v3_order_refunds_list_response.json")
    refund = map_refund(line_refund)
    (line,) = refund.lines
    assert (refund.refund_id, refund.amount) == ("724", Decimal("9.00"))
    assert (line.kind, line.name, line.sku) == (LineKind.product, "Woo Album #2", "")
    assert (line.quantity, line.amount, line.tax, line.taxes) == (
        Decimal(1), Decimal("9.00"), Decimal(0), [],
    )  # fmt: skip


def test_a_listed_line_refund_points_at_the_order_item_it_gives_back() -> None:
    _, line_refund = load("wcdocs_v3_order_refunds_list_response.json")
    assert [ln.line_ref for ln in map_refund(line_refund).lines] == ["311"]


def test_a_refund_without_items_is_amount_only() -> None:
    refund = map_refund(load("wcdocs_v3_order_refund_create_response.json"))
    assert (refund.refund_id, refund.amount, refund.lines) == ("726", Decimal("10.00"), [])


def test_a_refund_recorded_without_the_gateway_is_manual() -> None:
    listed = load("wcdocs_v3_order_refunds_list_response.json")
    assert [map_refund(r).method for r in listed] == [MANUAL, MANUAL]


def test_a_refund_through_the_gateway_names_the_gateway() -> None:
    raw = {**load("wcdocs_v3_order_refund_create_response.json"), "refunded_payment": True}
    assert map_refund(raw, RefundContext(gateway="Direct bank transfer")).method == (
        "Direct bank transfer"
    )


def test_a_refund_date_is_its_gmt_date() -> None:
    raw = load("wcdocs_v3_order_refund_create_response.json")
    gmt = datetime.fromisoformat(raw["date_created_gmt"]).replace(tzinfo=UTC)
    assert map_refund(raw).created_at == gmt != gmt.replace(hour=17)  # not the local 17:07


def test_an_order_s_refunds_are_read_oldest_first() -> None:
    _, order = load("wcdocs_v3_orders_list_response.json")
    refunds = map_order(order, OPTS, load("wcdocs_v3_order_refunds_list_response.json")).refunds
    assert [(r.refund_id, r.amount, len(r.lines)) for r in refunds] == [
        ("724", Decimal("9.00"), 1), ("726", Decimal("10.00"), 0),
    ]  # fmt: skip


def test_an_order_listing_refunds_without_their_detail_is_not_mapped() -> None:
    _, order = load("wcdocs_v3_orders_list_response.json")  # summary of 724 and 726 only
    with pytest.raises(MappingError, match=r"refunds \['724', '726'\].*GET orders/723/refunds"):
        map_order(order, OPTS)


# ------------------------------------------------------- refunds as WooCommerce writes


def _with_fee() -> dict[str, Any]:
    return make_order(5100, items=[Item("Thé", "10.00", 1)], fees=[("Emballage", "2.00", 1)])


def _fee_refund(order: dict[str, Any], **item: Any) -> dict[str, Any]:
    """A refund of the order's fee as `wc_create_refund` stores it (a negative copy)."""
    (fee,) = order["fee_lines"]
    copied = {**fee, "id": 9001, "total": "-2.00", "total_tax": "-0.40",
              "taxes": [{"id": 1, "total": "-0.40", "subtotal": ""}],
              "meta_data": [{"id": 9002, "key": "_refunded_item_id", "value": str(fee["id"])}],
              **item}  # fmt: skip
    return {"id": 9000, "amount": "2.40", "reason": "", "refunded_payment": False,
            "date_created_gmt": order["date_created_gmt"], "line_items": [],
            "shipping_lines": [], "fee_lines": [copied]}  # fmt: skip


def test_a_refunded_fee_is_a_fee_line_with_its_vat() -> None:
    order = _with_fee()
    (refund,) = map_order(order, OPTS, [_fee_refund(order)]).refunds
    (line,) = refund.lines
    assert (line.kind, line.name, line.quantity) == (LineKind.fee, "Emballage", 0)
    assert (line.amount, [(t.rate, t.amount) for t in line.taxes]) == (
        Decimal("2.00"), [(Decimal("20"), Decimal("0.40"))],
    )  # fmt: skip


def test_refund_figures_echoed_as_refund_total_are_read() -> None:
    order = _with_fee()
    echoed = _fee_refund(
        order, total=None, taxes=None, refund_total=2, refund_tax=[{"id": 1, "refund_total": 0.4}]
    )
    (line,) = map_order(order, OPTS, [echoed]).refunds[0].lines
    assert (line.amount, line.tax) == (Decimal("2"), Decimal("0.4"))


def test_a_refunded_tax_whose_rate_the_order_lost_is_derived_from_its_amounts() -> None:
    order = _with_fee()
    refund = _fee_refund(order)
    (line,) = map_refund(refund, RefundContext(percents={})).lines  # no tax_lines known
    assert [t.rate for t in line.taxes] == [Decimal("20")]


# ----------------------------------------------------------- read through the connector


def test_a_line_refund_gives_back_the_unit_price_and_its_share_of_vat(wc: WooSandbox) -> None:
    # 1001: 3 tisanes at 8,00 less 10 % = 21,60 excl. VAT, 1,19 VAT at 5,5 %
    refund_id = wc.add_refund(1001, lines=[(0, 1)], reason="Sachet ouvert")
    (refund,) = read(wc, 1001).refunds
    (line,) = refund.lines
    assert (refund.refund_id, refund.amount, refund.reason) == (
        refund_id, Decimal("7.60"), "Sachet ouvert",
    )  # fmt: skip
    assert (line.quantity, line.amount, [(t.rate, t.amount) for t in line.taxes]) == (
        Decimal(1), Decimal("7.20"), [(Decimal("5.5"), Decimal("0.40"))],
    )  # fmt: skip
    assert line.line_ref == str(wc.order(1001)["line_items"][0]["id"])


def test_a_shipping_amount_refund_is_split_at_the_shipping_rate(wc: WooSandbox) -> None:
    wc.add_refund(1001, shipping=Decimal("3.00"))  # of Colissimo's 5,00 + 1,00 VAT
    (line,) = read(wc, 1001).refunds[0].lines
    assert (line.kind, line.amount, [(t.rate, t.amount) for t in line.taxes]) == (
        LineKind.shipping, Decimal("2.50"), [(Decimal("20"), Decimal("0.50"))],
    )  # fmt: skip


def test_an_amount_only_refund_has_no_lines(wc: WooSandbox) -> None:
    wc.add_refund(1001, amount=Decimal("5.00"), reason="Geste commercial")
    (refund,) = read(wc, 1001).refunds
    assert (refund.amount, refund.lines) == (Decimal("5.00"), [])


def test_a_sandbox_refund_through_the_gateway_names_the_order_s_gateway(wc: WooSandbox) -> None:
    wc.add_refund(1001, amount=Decimal("1.00"))
    wc.add_refund(1001, amount=Decimal("1.00"), method_refunded=False)
    assert [r.method for r in read(wc, 1001).refunds] == ["Carte bancaire (Stripe)", MANUAL]


def test_a_refunded_service_keeps_its_nature(wc: WooSandbox) -> None:
    wc.set_status(1006, "processing", paid=True, notify=False)  # the training, now paid
    wc.add_refund(1006, lines=[(0, 1)], reason="Session annulée")
    (line,) = read(wc, 1006).refunds[0].lines
    assert line.nature is Nature.services


def test_an_order_without_refunds_costs_no_refunds_call(wc: WooSandbox) -> None:
    read(wc, 1001)
    assert refund_paths(wc) == []


def test_refunds_are_read_a_hundred_at_a_time(wc: WooSandbox) -> None:
    read(wc, 1008)
    assert [q["per_page"] for _, p, q in wc.requests if p.endswith("/refunds")] == ["100"]


# ---------------------------------------------------------------------- the paid rule


def test_a_refunded_order_that_was_paid_is_paid(wc: WooSandbox) -> None:
    raw = wc.order(1007)
    verdict = paid_verdict(raw, PAID)
    assert (raw["status"], verdict.paid) == ("refunded", True)
    assert verdict.paid_at == datetime.fromisoformat(raw["date_paid_gmt"]).replace(tzinfo=UTC)


def test_a_refunded_order_never_paid_is_not_paid() -> None:
    raw = make_order(5200, items=[Item("Thé", "10.00", 1)], status="refunded", paid=False)
    verdict = paid_verdict(raw, PAID)
    assert not verdict.paid and "never paid" in verdict.reason


def test_a_refunded_cash_on_delivery_never_completed_is_not_paid() -> None:
    # WooCommerce dates the payment as cash on delivery reaches processing: no cash yet
    raw = make_order(5201, items=[Item("Thé", "10.00", 1)], status="refunded",
                     payment_method="cod")  # fmt: skip
    assert raw["date_paid_gmt"] and not paid_verdict(raw, PAID).paid


def test_a_refunded_cash_on_delivery_once_completed_is_paid() -> None:
    raw = make_order(5202, items=[Item("Thé", "10.00", 1)], status="refunded",
                     payment_method="cod", paid=False)  # fmt: skip
    raw["date_completed_gmt"] = raw["date_created_gmt"]
    assert paid_verdict(raw, PAID).paid


# --------------------------------------------------------------------------- polling


def test_polling_lists_a_fully_refunded_order(wc: WooSandbox) -> None:
    assert "1007" in [o.order_id for o in polled(wc)]


def test_polling_hands_is_known_the_listed_refund_ids_as_strings(wc: WooSandbox) -> None:
    asked: dict[str, frozenset[str]] = {}

    def is_known(order_id: str, refund_ids: frozenset[str]) -> bool:
        asked[order_id] = refund_ids
        return False

    polled(wc, is_known=is_known)
    listed = frozenset(str(r["id"]) for r in wc.order(1008)["refunds"])
    assert len(listed) == 2 and asked["1008"] == listed and asked["1001"] == frozenset()


def test_polling_leaves_out_a_known_order_with_the_same_refunds(wc: WooSandbox) -> None:
    known = {"1008": frozenset(str(r["id"]) for r in wc.order(1008)["refunds"])}
    orders = polled(wc, is_known=lambda oid, ids: known.get(oid) == ids)
    assert "1008" not in [o.order_id for o in orders]


def test_polling_reads_again_an_order_whose_refund_was_deleted(wc: WooSandbox) -> None:
    ids = [str(r["id"]) for r in wc.order(1008)["refunds"]]
    known = {"1008": frozenset(ids)}
    wc.delete_refund(1008, ids[0])  # no webhook: only polling can tell
    (order,) = [o for o in polled(wc, is_known=lambda oid, s: known.get(oid) == s)
                if o.order_id == "1008"]  # fmt: skip
    assert [r.refund_id for r in order.refunds] == ids[1:]


def test_polling_reports_refunds_it_cannot_read_and_carries_on(wc: WooSandbox) -> None:
    wc.fail_next(1, 404, path="/orders/1007/refunds")  # the order was deleted meanwhile
    pages = list(connect(wc).iter_paid_pages(wc.now() - timedelta(days=1)))
    errors = [e for page in pages for e in page.errors]
    polled_ids = [o.order_id for page in pages for o in page.orders]
    assert len(errors) == 1 and "404" in errors[0]
    assert "1007" not in polled_ids and "1008" in polled_ids


# ------------------------------------------------------------------ never move money


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_the_client_refuses_to_write_a_refund(wc: WooSandbox, method: str) -> None:
    with pytest.raises(PermanentConnectorError, match=f"refusing to {method}"):
        connect(wc).client.request(method, "orders/1008/refunds/20001", data={"amount": "1"})
    assert refund_paths(wc) == [] and wc.refund_posts == 0


def test_the_refund_path_only_ever_gets_refunds(wc: WooSandbox) -> None:
    conn = connect(wc)
    for order_id in ("1007", "1008", "1009"):
        conn.fetch_order(order_id)
        conn.attach_invoice(order_id, f"FA-{order_id}", "")
        conn.attach_invoice(order_id, f"AV-{order_id}", "", kind="credit_note")
    list(conn.iter_paid_pages(wc.now() - timedelta(days=1)))
    methods = {method for method, _ in refund_paths(wc)}
    assert methods == {"GET"} and wc.refund_posts == 0


# -------------------------------------------------------------- credit notes attached


def test_a_credit_note_note_names_the_avoir_and_its_link(wc: WooSandbox) -> None:
    connect(wc).attach_invoice("1008", "AV-2026-000001", URL, kind="credit_note")
    [note] = wc.our_notes(1008)
    assert note["note"] == f"Avoir AV-2026-000001 émis par Quittance. Télécharger : {URL}"


def test_a_credit_note_retry_adds_no_note(wc: WooSandbox) -> None:
    conn = connect(wc)
    conn.attach_invoice("1008", "AV-2026-000001", URL, kind="credit_note")
    again = conn.attach_invoice("1008", "AV-2026-000001", URL, kind="credit_note")
    assert not again.attached and len(wc.our_notes(1008)) == 1


def test_a_credit_note_leaves_the_order_s_invoice_meta(wc: WooSandbox) -> None:
    conn = connect(wc)
    conn.attach_invoice("1008", "FA-2026-000001", "https://q.example/i/1")
    conn.attach_invoice("1008", "AV-2026-000001", URL, kind="credit_note")
    assert wc.meta(1008)[META_NUMBER] == "FA-2026-000001" and len(wc.our_notes(1008)) == 2


def test_a_credit_note_number_is_matched_whole(wc: WooSandbox) -> None:
    conn = connect(wc)
    conn.attach_invoice("1008", "AV-2026-10", URL, kind="credit_note")
    assert conn.attach_invoice("1008", "AV-2026-1", URL, kind="credit_note").attached


def test_an_invoice_that_replaces_another_says_so_and_becomes_the_order_s(
    wc: WooSandbox,
) -> None:
    conn = connect(wc)
    conn.attach_invoice("1008", "FA-2026-000001", "")
    conn.attach_invoice("1008", "FA-2026-000009", "", replaces="FA-2026-000001")
    newest = wc.our_notes(1008)[0]["note"]
    assert "FA-2026-000009" in newest and "remplace la facture FA-2026-000001" in newest
    assert wc.meta(1008)[META_NUMBER] == "FA-2026-000009"


def test_an_unknown_document_kind_is_refused(wc: WooSandbox) -> None:
    with pytest.raises(ValueError, match="kind"):
        connect(wc).attach_invoice("1008", "X-1", URL, kind="receipt")


# ------------------------------------------------------------------------ the sandbox


def test_a_sandbox_refund_has_the_fields_of_a_real_one(wc: WooSandbox) -> None:
    (real, *_) = load("wcdocs_v3_order_refunds_list_response.json")
    refund_id = wc.add_refund(1001, lines=[(0, 1)])
    (mine,) = connect(wc).client.get("orders/1001/refunds")
    assert set(real) <= set(mine) and str(mine["id"]) == refund_id
    assert {"shipping_lines", "fee_lines"} <= set(mine)


def test_a_sandbox_refund_stores_its_items_negative_and_its_amount_positive(
    wc: WooSandbox,
) -> None:
    wc.add_refund(1001, lines=[(0, 1)])
    (mine,) = connect(wc).client.get("orders/1001/refunds")
    (item,) = mine["line_items"]
    assert mine["amount"] == "7.60"
    assert (item["quantity"], item["total"], item["total_tax"]) == (-1, "-7.20", "-0.40")
    assert item["taxes"] == [{"id": 2, "total": "-0.40", "subtotal": "-0.40"}]


def test_a_sandbox_refund_names_the_order_item_it_gives_back(wc: WooSandbox) -> None:
    wc.add_refund(1001, lines=[(1, 1)])
    (mine,) = connect(wc).client.get("orders/1001/refunds")
    (meta,) = [m for m in mine["line_items"][0]["meta_data"] if m["key"] == "_refunded_item_id"]
    assert meta["value"] == str(wc.order(1001)["line_items"][1]["id"])


def test_a_sandbox_refund_adds_its_negative_summary_to_the_order(wc: WooSandbox) -> None:
    refund_id = wc.add_refund(1001, lines=[(0, 1)], reason="Sachet ouvert")
    assert wc.order(1001)["refunds"] == [
        {"id": int(refund_id), "reason": "Sachet ouvert", "total": "-7.60"}
    ]


def test_a_sandbox_refund_bumps_the_order_s_modification_date() -> None:
    clock = [datetime.now(UTC).replace(microsecond=0)]
    with WooSandbox(clock=lambda: clock[0]) as wc:
        clock[0] += timedelta(minutes=5)
        wc.add_refund(1001, amount=Decimal("1.00"))
        modified = wc.order(1001)["date_modified_gmt"]
    assert modified == clock[0].replace(tzinfo=None).isoformat()


def _hook(wc: WooSandbox) -> None:
    wc.webhooks[1] = {"id": 1, "status": "active", "topic": "order.updated",
                      "delivery_url": "http://127.0.0.1:9/", "secret": "s"}  # fmt: skip


def test_a_sandbox_refund_queues_order_updated(wc: WooSandbox) -> None:
    _hook(wc)
    wc.add_refund(1001, amount=Decimal("1.00"))
    assert [(d.order_id, d.topic) for d in wc.queue] == [(1001, "order.updated")]


def test_a_sandbox_refund_without_notify_queues_nothing(wc: WooSandbox) -> None:
    _hook(wc)
    wc.add_refund(1001, amount=Decimal("1.00"), notify=False)
    assert wc.queue == []


def test_a_full_refund_turns_the_order_refunded(wc: WooSandbox) -> None:
    wc.add_refund(1001, lines=[(0, 3), (1, 1)], shipping=True)
    assert wc.order(1001)["status"] == "refunded"


def test_a_partial_refund_keeps_the_order_s_status(wc: WooSandbox) -> None:
    wc.add_refund(1001, lines=[(0, 3), (1, 1)])  # the shipping is kept
    assert wc.order(1001)["status"] == "processing"


def test_refunding_more_than_is_left_is_refused(wc: WooSandbox) -> None:
    with pytest.raises(ValueError, match="Invalid refund amount"):
        wc.add_refund(1007, amount=Decimal("0.01"))  # already refunded in full


def test_deleting_a_refund_removes_it_from_the_order(wc: WooSandbox) -> None:
    refund_id = wc.add_refund(1001, amount=Decimal("1.00"))
    wc.delete_refund(1001, refund_id)
    assert wc.order(1001)["refunds"] == [] and read(wc, 1001).refunds == []


def test_deleting_a_refund_fires_no_webhook(wc: WooSandbox) -> None:
    refund_id = wc.add_refund(1001, amount=Decimal("1.00"), notify=False)
    _hook(wc)
    wc.delete_refund(1001, refund_id)
    assert wc.queue == []


def test_deleting_a_refund_leaves_the_order_s_modification_date() -> None:
    clock = [datetime.now(UTC).replace(microsecond=0)]
    with WooSandbox(clock=lambda: clock[0]) as wc:
        refund_id = wc.add_refund(1001, amount=Decimal("1.00"))
        before = wc.order(1001)["date_modified_gmt"]
        clock[0] += timedelta(minutes=5)
        wc.delete_refund(1001, refund_id)
        assert wc.order(1001)["date_modified_gmt"] == before


# ------------------------------------------------------------------------ the seeds


def test_the_seeded_shop_has_a_fully_refunded_order(wc: WooSandbox) -> None:
    order = read(wc, 1007)
    (refund,) = order.refunds
    assert wc.order(1007)["status"] == "refunded" and refund.amount == order.total
    assert [ln.kind for ln in refund.lines] == [LineKind.product, LineKind.shipping]


def test_the_seeded_shop_has_an_order_refunded_twice_line_by_line(wc: WooSandbox) -> None:
    refunds = read(wc, 1008).refunds
    assert [(r.amount, [ln.name for ln in r.lines], r.method) for r in refunds] == [
        (Decimal("14.40"), ["Tasse en grès"], "PayPal"),
        (Decimal("10.03"), ["Thé noir Assam"], MANUAL),  # 1,05 VAT on 2 bags: 0,525 → 0,53
    ]


def test_the_seeded_shop_has_a_shipping_only_refund(wc: WooSandbox) -> None:
    (refund,) = read(wc, 1009).refunds
    (line,) = refund.lines
    assert (line.kind, line.amount, line.tax, refund.amount) == (
        LineKind.shipping, Decimal("9.90"), Decimal("1.98"), Decimal("11.88"),
    )  # fmt: skip


def test_seeded_refunds_follow_the_sandbox_clock() -> None:
    moment = datetime.now(UTC).replace(microsecond=0) - timedelta(days=400)
    with WooSandbox(clock=lambda: moment) as wc:
        made = [refund["date_created_gmt"] for found in wc.refunds.values() for refund in found]
    when = [datetime.fromisoformat(at).replace(tzinfo=UTC) for at in made]
    assert len(when) == 4 and all(moment - timedelta(hours=3) <= at <= moment for at in when)


def test_seeded_refunds_are_the_same_in_every_sandbox() -> None:
    moment = datetime.now(UTC).replace(microsecond=0)
    with WooSandbox(clock=lambda: moment) as one, WooSandbox(clock=lambda: moment) as other:
        strip = [{k: v for k, v in r.items() if k != "_links"} for r in one.refunds[1008]]
        again = [{k: v for k, v in r.items() if k != "_links"} for r in other.refunds[1008]]
    assert strip == again
