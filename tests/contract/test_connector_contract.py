"""The connector contract: what every registered platform must do, with the same test names
for each. A platform is done when it passes this suite; its own files test only what is its
own (OAuth 1.0a query signing, GraphQL cost throttling, metafield digests…).

Each platform plugs in through a small harness (`harness.py`): its sandbox, its `[[shops]]`
table, how it pays an order and signs a delivery, where an attach-back shows.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bridge.model import LineKind, Nature, Order, Refund
from bridge.polling import poll_shop
from bridge.service import poll_tick
from connectors.base import (
    Connector,
    PermanentConnectorError,
    TransientConnectorError,
    WebhookRejected,
)
from connectors.registry import PLATFORMS
from tests.contract.harness import HARNESSES, Harness, build_connector, lowercase
from tests.support.bridges import SHOP

PAID, UNPAID = 2001, 2002


@pytest.fixture(params=sorted(HARNESSES))
def harness(request: pytest.FixtureRequest) -> Harness:
    return HARNESSES[request.param]


@pytest.fixture
def shop(harness: Harness) -> Iterator[Any]:
    """The platform's sandbox, started, with one paid and one unpaid order."""
    with harness.sandbox() as sandbox:
        an_hour_ago = sandbox.now() - timedelta(hours=1)
        harness.add_order(sandbox, PAID, paid=True, modified=an_hour_ago)
        harness.add_order(sandbox, UNPAID, paid=False, modified=an_hour_ago)
        yield sandbox


@pytest.fixture
def slept() -> list[float]:
    return []


@pytest.fixture
def connector(harness: Harness, shop: Any, slept: list[float]) -> Connector:
    return build_connector(harness, shop, slept=slept)


def test_every_registered_platform_has_a_harness() -> None:
    assert sorted(p.name for p in PLATFORMS) == sorted(HARNESSES)


def test_the_registry_builds_a_connector_of_its_platform(harness, connector) -> None:
    assert isinstance(connector, Connector)
    assert (connector.platform, connector.shop) == (harness.platform, SHOP)


# --------------------------------------------------------------------------------- webhooks


def test_a_signed_delivery_is_an_event_of_its_order(harness, shop, connector) -> None:
    headers, body = harness.delivery(shop, str(PAID))
    event = connector.verify_webhook(lowercase(headers), body)
    assert not event.ping and event.event_key
    assert connector.fetch_order(event.order_ref).order.order_id == str(PAID)  # type: ignore[union-attr]


def test_a_delivery_sent_again_as_is_keeps_its_key(harness, shop, connector) -> None:
    headers, body = harness.delivery(shop, str(PAID))
    first = connector.verify_webhook(lowercase(headers), body)
    again = connector.verify_webhook(lowercase(headers), body)
    assert first.event_key == again.event_key


def test_a_delivery_signed_with_another_secret_is_refused_401(harness, shop, connector) -> None:
    headers, body = harness.delivery(shop, str(PAID), secret="not-the-shop-s-secret")
    with pytest.raises(WebhookRejected) as refused:
        connector.verify_webhook(lowercase(headers), body)
    assert refused.value.status == 401


def test_a_tampered_body_is_refused_401(harness, shop, connector) -> None:
    headers, body = harness.delivery(shop, str(PAID))
    with pytest.raises(WebhookRejected) as refused:
        # still valid JSON, one byte more: only the signature can tell
        connector.verify_webhook(lowercase(headers), body.rstrip()[:-1] + b" }")
    assert refused.value.status == 401


def test_an_unsigned_delivery_is_refused_401(harness, shop, connector) -> None:
    headers, body = harness.unsigned(harness.delivery(shop, str(PAID)))
    with pytest.raises(WebhookRejected) as refused:
        connector.verify_webhook(lowercase(headers), body)
    assert refused.value.status == 401


def test_a_ping_is_acknowledged_as_no_order_event(harness, shop, connector) -> None:
    if harness.no_ping:
        pytest.skip(harness.no_ping)
    headers, body = harness.ping(shop)
    event = connector.verify_webhook(lowercase(headers), body)
    assert event.ping and event.order_ref == ""


def test_a_topic_we_do_not_act_on_is_acknowledged_not_stored(harness, shop, connector) -> None:
    headers, body = harness.other_topic(shop, str(PAID))
    event = connector.verify_webhook(lowercase(headers), body)
    assert event.ping and event.order_ref == ""


def test_a_signed_body_that_is_not_json_is_refused_400(harness, shop, connector) -> None:
    headers, body = harness.signed(shop, b'{"id": 2001,')
    with pytest.raises(WebhookRejected) as refused:
        connector.verify_webhook(lowercase(headers), body)
    assert refused.value.status == 400 and refused.value.reason


# ----------------------------------------------------------------------------------- orders


def test_a_paid_order_is_fetched_paid_and_mapped(harness, shop, connector) -> None:
    fetched = connector.fetch_order(str(PAID))
    assert fetched.paid and fetched.order is not None
    assert (fetched.order.shop, fetched.order.order_id) == (SHOP, str(PAID))
    assert fetched.order.lines and fetched.order.total > 0


def test_an_unpaid_order_is_fetched_not_paid_with_the_reason(harness, shop, connector) -> None:
    fetched = connector.fetch_order(str(UNPAID))
    assert not fetched.paid and fetched.not_paid_reason


def test_an_unpaid_order_is_not_mapped(harness, shop, connector) -> None:
    fetched = connector.fetch_order(str(UNPAID))
    assert fetched.order is None and fetched.not_paid_reason.startswith("not paid, skipped")


def test_an_unpaid_order_with_a_bad_field_is_skipped_not_unreadable(
    harness, shop, connector
) -> None:
    order_id = harness.add_order(shop, 3100, paid=False, modified=shop.now(), country="India")
    fetched = connector.fetch_order(order_id)
    assert (fetched.paid, fetched.unreadable) == (False, False)


def test_a_paid_order_that_cannot_be_read_names_the_field(harness, shop, connector) -> None:
    order_id = harness.add_order(shop, 3101, paid=True, modified=shop.now(), country="India")
    fetched = connector.fetch_order(order_id)
    assert fetched.unreadable and fetched.order_id == order_id
    assert "country" in fetched.not_paid_reason and "'India'" in fetched.not_paid_reason
    assert "pydantic" not in fetched.not_paid_reason


def test_polling_reports_an_unreadable_paid_order_and_carries_on(harness, shop, connector) -> None:
    start = shop.now() - timedelta(minutes=10)
    bad = harness.add_order(shop, 3102, paid=True, modified=start, country="India")
    good = harness.add_order(shop, 3103, paid=True, modified=start + timedelta(minutes=1))
    pages = list(connector.iter_paid_pages(start - timedelta(seconds=1)))
    assert [u.order_id for page in pages for u in page.unreadable] == [bad]
    assert [o.order_id for page in pages for o in page.orders] == [good]


def test_an_order_paid_later_is_fetched_paid(harness, shop, connector) -> None:
    harness.pay(shop, str(UNPAID))
    assert connector.fetch_order(str(UNPAID)).paid


def test_polling_pages_every_paid_order_once_oldest_first(harness, shop, connector) -> None:
    start = shop.now() - timedelta(minutes=30)
    made = [
        harness.add_order(shop, 3000 + n, paid=n != 3, modified=start + timedelta(minutes=n))
        for n in range(6)
    ]
    connector.page_size = 2
    pages = list(connector.iter_paid_pages(start - timedelta(seconds=1)))
    assert len(pages) >= 2 and all(len(page.orders) <= 2 for page in pages)
    polled = [order.order_id for page in pages for order in page.orders]
    assert polled == [order_id for n, order_id in enumerate(made) if n != 3]


def test_polling_cursors_rise_to_the_last_modification(harness, shop, connector) -> None:
    start = shop.now() - timedelta(minutes=30)
    for n in range(5):
        harness.add_order(shop, 3000 + n, paid=True, modified=start + timedelta(minutes=n))
    connector.page_size = 2
    cursors = [page.cursor for page in connector.iter_paid_pages(start - timedelta(seconds=1))]
    assert cursors == sorted(cursors)  # type: ignore[type-var]
    assert cursors[-1] == (start + timedelta(minutes=4)).replace(microsecond=0)


def test_polling_since_a_cursor_skips_what_was_modified_before(harness, shop, connector) -> None:
    start = shop.now() - timedelta(minutes=30)
    harness.add_order(shop, 3000, paid=True, modified=start)
    harness.add_order(shop, 3001, paid=True, modified=start + timedelta(minutes=10))
    since = start + timedelta(minutes=5)
    polled = [o.order_id for page in connector.iter_paid_pages(since) for o in page.orders]
    assert polled == ["3001"]


# ------------------------------------------------------ goods or services, and their date


def _products(connector: Connector, order_id: str) -> list[Any]:
    order = connector.fetch_order(order_id).order
    assert order is not None
    return [line for line in order.lines if line.kind is LineKind.product]


def test_a_service_line_is_mapped_as_a_service(harness, shop, connector) -> None:
    order_id = harness.add_order(shop, 3200, paid=True, modified=shop.now(), service=True)
    assert [line.nature for line in _products(connector, order_id)] == [Nature.services]


def test_a_goods_line_is_mapped_as_goods(harness, shop, connector) -> None:
    order_id = harness.add_order(shop, 3201, paid=True, modified=shop.now(), service=False)
    assert [line.nature for line in _products(connector, order_id)] == [Nature.goods]


def _day(shop: Any, days: int) -> tuple[Any, str]:
    """A day relative to the shop's clock, and how a French shop writes it on a line."""
    day = (shop.now() + timedelta(days=days)).date()
    return day, day.strftime("%d/%m/%Y")


def test_a_line_dated_by_its_property_has_that_operation_date(harness, shop, connector) -> None:
    day, written = _day(shop, 30)
    order_id = harness.add_order(
        shop, 3202, paid=True, modified=shop.now(), service=True, properties={"Date": written}
    )
    assert [line.operation_date for line in _products(connector, order_id)] == [day]


def test_the_date_property_is_not_repeated_as_an_attribute(harness, shop, connector) -> None:
    _, written = _day(shop, 30)
    order_id = harness.add_order(
        shop, 3203, paid=True, modified=shop.now(), properties={"Date": written, "Gravure": "A"}
    )
    assert [line.attributes for line in _products(connector, order_id)] == [{"Gravure": "A"}]


def test_a_date_property_that_states_no_date_stays_an_attribute(harness, shop, connector) -> None:
    order_id = harness.add_order(
        shop, 3204, paid=True, modified=shop.now(), properties={"Date": "à convenir"}
    )
    (line,) = _products(connector, order_id)
    assert (line.operation_date, line.attributes) == (None, {"Date": "à convenir"})


def test_the_shop_s_own_date_property_comes_before_the_usual_names(harness, shop) -> None:
    own, own_written = _day(shop, 40)
    _, usual_written = _day(shop, 50)
    connector = build_connector(harness, shop, operation_date_property="Date de l'atelier")
    order_id = harness.add_order(
        shop, 3205, paid=True, modified=shop.now(),
        properties={"Date": usual_written, "Date de l'atelier": own_written},
    )  # fmt: skip
    assert [line.operation_date for line in _products(connector, order_id)] == [own]


# ---------------------------------------------------------------------------- refunds
# The owner refunds on the shop; the connector only reads what was given back.


def _refunds(connector: Connector, order_id: str) -> list[Refund]:
    fetched = connector.fetch_order(order_id)
    assert fetched.order is not None, fetched.not_paid_reason
    return fetched.order.refunds


def _line(connector: Connector, order_id: str, kind: LineKind) -> Any:
    order = connector.fetch_order(order_id).order
    assert order is not None
    (line,) = [ln for ln in order.lines if ln.kind is kind]
    return line


def _polled(connector: Connector, since: datetime, order_id: str, **kw: Any) -> list[Order]:
    pages = connector.iter_paid_pages(since - timedelta(seconds=1), **kw)
    return [o for page in pages for o in page.orders if o.order_id == order_id]


def test_a_partial_refund_of_one_product_line_is_read_with_its_vat(
    harness, shop, connector
) -> None:
    order_id = harness.add_order(shop, 3300, paid=True, modified=shop.now())
    sold = _line(connector, order_id, LineKind.product)  # 2 units
    refund_id = harness.refund(shop, order_id, lines=[(0, 1)], reason="Abîmé")
    (refund,) = _refunds(connector, order_id)
    (line,) = refund.lines
    assert (refund.refund_id, refund.amount) == (refund_id, (sold.total + sold.tax) / 2)
    assert (line.kind, line.quantity, line.amount + line.tax) == (
        LineKind.product, 1, refund.amount,
    )  # fmt: skip
    assert [t.rate for t in line.taxes] == [t.rate for t in sold.taxes] and line.tax > 0
    assert line.line_ref and refund.created_at is not None and refund.reason == "Abîmé"


def test_two_refunds_are_read_as_two_refunds(harness, shop, connector) -> None:
    order_id = harness.add_order(shop, 3301, paid=True, modified=shop.now())
    first = harness.refund(shop, order_id, lines=[(0, 1)])
    second = harness.refund(shop, order_id, lines=[(0, 1)])
    refunds = _refunds(connector, order_id)
    assert len(refunds) == 2 and {r.refund_id for r in refunds} == {first, second}


def test_a_shipping_only_refund_is_one_shipping_line(harness, shop, connector) -> None:
    order_id = harness.add_order(shop, 3302, paid=True, modified=shop.now(), shipped=True)
    shipped = _line(connector, order_id, LineKind.shipping)
    harness.refund(shop, order_id, shipping=True)
    (refund,) = _refunds(connector, order_id)
    (line,) = refund.lines
    assert (line.kind, line.amount, line.tax) == (LineKind.shipping, shipped.total, shipped.tax)
    assert refund.amount == shipped.total + shipped.tax


def test_a_fully_refunded_order_is_still_paid_and_polled(harness, shop, connector) -> None:
    start = shop.now() - timedelta(minutes=10)
    order_id = harness.add_order(shop, 3303, paid=True, modified=start)
    harness.refund(shop, order_id, lines=[(0, 2)], reason="Commande annulée")
    fetched = connector.fetch_order(order_id)
    assert fetched.paid and fetched.order is not None
    assert sum(r.amount for r in fetched.order.refunds) == fetched.order.total
    assert [o.order_id for o in _polled(connector, start, order_id)] == [order_id]


def test_polling_reads_again_an_invoiced_order_that_got_a_new_refund(
    harness, shop, connector
) -> None:
    start = shop.now() - timedelta(minutes=10)
    order_id = harness.add_order(shop, 3304, paid=True, modified=start)
    first = harness.refund(shop, order_id, lines=[(0, 1)])
    asked: list[frozenset[str]] = []

    def is_known(oid: str, refund_ids: frozenset[str]) -> bool:  # invoiced, with `first`
        if oid != order_id:
            return False
        asked.append(refund_ids)
        return refund_ids == frozenset({first})

    assert _polled(connector, start, order_id, is_known=is_known) == []
    second = harness.refund(shop, order_id, amount=Decimal("1.00"))
    (order,) = _polled(connector, start, order_id, is_known=is_known)
    assert {r.refund_id for r in order.refunds} == {first, second}
    assert asked == [frozenset({first}), frozenset({first, second})]


def test_attaching_a_credit_note_beside_the_invoice_is_idempotent(harness, shop, connector) -> None:
    invoice = connector.attach_invoice(str(PAID), "FA-2026-000001", "https://q.example/i/1")
    credit = connector.attach_invoice(
        str(PAID), "AV-2026-000001", "https://q.example/a/1", kind="credit_note"
    )
    again = connector.attach_invoice(
        str(PAID), "AV-2026-000001", "https://q.example/a/1", kind="credit_note"
    )
    # the credit note sits beside the invoice: the invoice is still the order's
    still = connector.attach_invoice(str(PAID), "FA-2026-000001", "https://q.example/i/1")
    assert (invoice.attached, credit.attached, again.attached, still.attached) == (
        True, True, False, False,
    )  # fmt: skip


# ------------------------------------------------------------------------ writing back


def test_attaching_an_invoice_twice_attaches_it_once(harness, shop, connector) -> None:
    first = connector.attach_invoice(str(PAID), "FA-2026-000001", "https://q.example/i/1")
    again = connector.attach_invoice(str(PAID), "FA-2026-000001", "https://q.example/i/1")
    assert (first.attached, again.attached) == (True, False)
    assert harness.attachments(shop, str(PAID)) == 1


def test_installing_webhooks_twice_installs_them_once(harness, shop, connector) -> None:
    connector.install_webhooks("https://q.example.fr")
    installed = harness.webhooks(shop)
    connector.install_webhooks("https://q.example.fr")
    assert installed > 0 and harness.webhooks(shop) == installed


def test_check_reports_working_credentials_first(harness, shop, connector) -> None:
    lines = connector.check()
    assert (lines[0].name, lines[0].ok) == ("credentials", True)


def test_check_reports_refused_credentials_naming_the_status(harness, shop) -> None:
    refused = build_connector(harness, shop, **harness.bad_credentials)
    (credentials,) = [line for line in refused.check() if line.name == "credentials"]
    assert not credentials.ok and "401" in credentials.detail


# ------------------------------------------------------------------------------- faults


def test_a_429_then_ok_is_retried_in_the_step(harness, shop, connector, slept) -> None:
    shop.fail_next(1, 429, retry_after=0)
    assert connector.fetch_order(str(PAID)).paid
    assert slept == [0.0]


def test_a_5xx_that_lasts_is_transient_and_names_the_shop(harness, shop, connector) -> None:
    shop.fail_next(20, 503)
    with pytest.raises(TransientConnectorError, match=f"shop {SHOP}"):
        connector.fetch_order(str(PAID))


def test_a_retry_after_beyond_a_minute_goes_back_to_the_job_queue(harness, shop, connector) -> None:
    shop.fail_next(1, 429, retry_after=3600)
    with pytest.raises(TransientConnectorError, match="Retry-After 3600s"):
        connector.fetch_order(str(PAID))


def test_an_unreachable_shop_is_transient_and_names_the_shop(harness) -> None:
    with harness.sandbox() as gone:
        connector = build_connector(harness, gone)
    with pytest.raises(TransientConnectorError, match=f"shop {SHOP}"):
        connector.fetch_order(str(PAID))


def test_refused_credentials_are_permanent_and_name_the_shop(harness, shop) -> None:
    refused = build_connector(harness, shop, **harness.bad_credentials)
    with pytest.raises(PermanentConnectorError, match=f"shop {SHOP}.*401"):
        refused.fetch_order(str(PAID))


# --------------------------------------------------------------------------- end to end


def test_duplicate_webhooks_and_an_overlapping_poll_give_one_of_everything(
    harness: Harness, tmp_path: Path
) -> None:
    with harness.bridge(tmp_path) as b:
        order_id = harness.add_order(
            b.sandbox, PAID, paid=True, modified=b.sandbox.now() - timedelta(minutes=5)
        )
        assert harness.deliver(b, order_id, duplicate=3) == [200, 200, 200]
        # the safety net reads the same paid order before any job ran
        report = poll_shop(b.svc, SHOP)
        b.work()
        invoices = [i for i in b.invoices() if i.order_id == order_id]
        buyer = invoices[0].snapshot.buyer.email if invoices else None
        emails = [m for m in b.smtp.received if buyer in m.rcpt_tos]
        attached = harness.attachments(b.sandbox, order_id)
    assert (report.seen_paid, len(invoices), len(emails), attached) == (1, 1, 1, 1)


def test_an_unreadable_paid_order_is_quarantined_then_issued_once_fixed(
    harness: Harness, tmp_path: Path
) -> None:
    with harness.bridge(tmp_path) as b:
        modified = b.sandbox.now() - timedelta(minutes=5)
        order_id = harness.add_order(b.sandbox, PAID, paid=True, modified=modified, country="India")
        assert harness.deliver(b, order_id, duplicate=1) == [200]
        b.work()
        quarantined = {o.order_id: o.reason for o in b.svc.store.list_quarantined()}
        dead = b.svc.store.list_jobs(states=("dead",))
        harness.set_country(b.sandbox, order_id, "FR")
        assert b.svc.store.requeue_order(SHOP, order_id)
        b.work()
        issued = [i.order_id for i in b.invoices()]
    assert "'India'" in quarantined[order_id] and not dead
    assert issued == [order_id]


def test_polling_quarantines_an_unreadable_paid_order_keeping_its_payload(
    harness: Harness, tmp_path: Path
) -> None:
    with harness.bridge(tmp_path) as b:
        modified = b.sandbox.now() - timedelta(minutes=5)
        order_id = harness.add_order(b.sandbox, PAID, paid=True, modified=modified, country="India")
        poll_shop(b.svc, SHOP)
        poll_shop(b.svc, SHOP)  # the overlap window lists it again
        quarantined = [o.order_id for o in b.svc.store.list_quarantined()]
        kept = [e.detail.get("raw") for e in b.svc.store.events(kind="order.quarantined")]
    assert quarantined == [order_id]
    assert len(kept) == 1 and kept[0]


# ------------------------------------------------------------------------- poison orders


def _three_orders(harness: Harness, sandbox: Any) -> tuple[str, str, str, datetime]:
    """Good, to-be-bad, good, a minute apart; returns their ids and the last one's time."""
    start = sandbox.now() - timedelta(minutes=10)
    made = [
        harness.add_order(sandbox, 3200 + n, paid=True, modified=start + timedelta(minutes=n))
        for n in range(3)
    ]
    return made[0], made[1], made[2], start + timedelta(minutes=2)


def _assert_polled_past(b: Any, bad: str, good: tuple[str, str], newest: datetime) -> None:
    """A poll quarantines `bad` (its raw payload kept, a reason given), records the good
    orders and moves the cursor past all three."""
    report = poll_shop(b.svc, SHOP)
    quarantined = {o.order_id: o.reason for o in b.svc.store.list_quarantined()}
    kept = [e.detail.get("raw") for e in b.svc.store.events(kind="order.quarantined")]
    recorded = [b.svc.store.get_order(SHOP, o) is not None for o in good]
    state = b.svc.store.poll_state(SHOP)
    assert list(quarantined) == [bad] and quarantined[bad].startswith("cannot read the order")
    assert len(kept) == 1 and kept[0]
    assert recorded == [True, True] and report.new_orders == 2
    assert state is not None and state.cursor == newest.replace(microsecond=0)


@pytest.mark.parametrize("error", [AttributeError, KeyError, TypeError])
def test_polling_quarantines_an_order_whose_mapping_raises_and_moves_past_it(
    harness: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: type[Exception]
) -> None:
    with harness.bridge(tmp_path) as b:
        first, bad, last, newest = _three_orders(harness, b.sandbox)
        harness.break_mapping(monkeypatch, bad, error)
        _assert_polled_past(b, bad, (first, last), newest)


def test_polling_quarantines_an_order_garbled_before_its_mapping_and_moves_past_it(
    harness: Harness, tmp_path: Path
) -> None:
    with harness.bridge(tmp_path) as b:
        first, bad, last, newest = _three_orders(harness, b.sandbox)
        harness.garble(b.sandbox, bad)
        _assert_polled_past(b, bad, (first, last), newest)


def test_a_garbled_paid_order_fetched_alone_is_unreadable_not_an_error(
    harness, shop, connector
) -> None:
    order_id = harness.add_order(shop, 3300, paid=True, modified=shop.now())
    harness.garble(shop, order_id)
    fetched = connector.fetch_order(order_id)
    assert fetched.unreadable and fetched.order_id == order_id and fetched.raw


def test_the_shop_failing_while_one_order_is_read_fails_the_poll(
    harness: Harness, tmp_path: Path
) -> None:
    with harness.bridge(tmp_path) as b:
        harness.wait_into(b.svc.connector(SHOP), lambda _seconds: None)
        modified = b.sandbox.now() - timedelta(minutes=5)
        order_id = harness.add_order(b.sandbox, PAID, paid=True, modified=modified)
        harness.refund(b.sandbox, order_id, lines=[(0, 1)])
        harness.fail_order_reads(b.sandbox)
        report = poll_tick(b.svc, SHOP, "test-owner")
        state = b.svc.store.poll_state(SHOP)
        quarantined = b.svc.store.list_quarantined()
    assert report is None and quarantined == []
    assert state is not None and state.cursor is None
    assert (state.last_error or "").startswith("TransientConnectorError")
