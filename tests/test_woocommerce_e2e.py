"""End to end: sandbox shop → signed webhooks / polling → our FastAPI app → worker → invoice,
email, note and meta back on the order. Exactly once, whatever the deliveries do."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from bridge.polling import poll_shop
from bridge.service import poll_tick
from connectors.woocommerce.connector import META_NUMBER, META_URL
from connectors.woocommerce.sandbox_orders import Item, make_order
from tests.support.bridges import SHOP, Bridge, woo_bridge


def _sales_invoices(b: Bridge) -> list:
    """The invoices of sales, not the credit notes of the seeded refunds."""
    return [i for i in b.invoices() if i.kind == "invoice"]


def _invoice_for(b: Bridge, order_id: int):
    found = [i for i in _sales_invoices(b) if i.order_id == str(order_id)]
    assert len(found) <= 1
    return found[0] if found else None


def _poll(b: Bridge):
    return poll_shop(b.svc, SHOP)


def test_same_paid_event_three_times_plus_poll_gives_one_of_everything(tmp_path: Path) -> None:
    with woo_bridge(tmp_path) as b:
        results = b.wc.deliver_webhook(b.webhook_url, 1001, duplicate=3)
        assert [r.status for r in results] == [200, 200, 200]
        assert '"duplicate":true' in results[1].body.replace(" ", "")
        # a later, distinct delivery of the same paid order (another queue run)
        b.wc.touch(1001, notify=False)
        b.wc.deliver_webhook(b.webhook_url, 1001, hook_id=2)
        b.work()
        report = _poll(b)
        # 1001 is invoiced with no refund: not read again; 1004 and the refunded 1007-1009 are
        assert report.seen_paid == 4 and report.new_orders == 4
        b.work()
        invoice = _invoice_for(b, 1001)
        assert invoice is not None and len(_sales_invoices(b)) == 5  # 1001, 1004, 1007-1009
        assert len(b.wc.our_notes(1001)) == 1
        note = b.wc.our_notes(1001)[0]
        assert invoice.number in note["note"] and note["customer_note"] is False
        meta = b.wc.meta(1001)
        assert meta[META_NUMBER] == invoice.number
        assert meta[META_URL].startswith("https://factures.latheiere.example.fr/invoices/")
        to_marie = [m for m in b.smtp.received if "marie.dupont@example.fr" in m.rcpt_tos]
        assert len(to_marie) == 1
        # the attach-back PUT made WooCommerce send order.updated again: still one of each
        b.wc.touch(1001)
        b.wc.deliver_webhook(b.webhook_url, 1001, hook_id=3)
        _poll(b)
        b.work()
        assert (
            len(b.wc.our_notes(1001)) == 1
            and len([m for m in b.smtp.received if "marie" in m.rcpt_tos[0]]) == 1
        )
        assert b.wc.refund_posts == 0


def test_lost_webhook_is_caught_by_the_next_poll(tmp_path: Path) -> None:
    with woo_bridge(tmp_path) as b:
        _poll(b)  # the service's regular poll: cursor stored
        b.work()
        assert _invoice_for(b, 1002) is None
        state = b.svc.store.poll_state(SHOP)
        assert state is not None and state.cursor is not None
        b.wc.set_status(1002, "processing")  # the owner saw the transfer
        b.wc.flush_webhooks(lose=True)  # …and the webhook never arrives
        report = _poll(b)  # one interval later
        assert report.new_orders == 1
        b.work()
        assert _invoice_for(b, 1002) is not None


def test_order_paid_while_down_is_caught_on_start(tmp_path: Path) -> None:
    with woo_bridge(tmp_path) as b:
        _poll(b)
        b.work()
        b.svc.close()  # service down…
        b.wc.set_status(1003, "completed")  # cash on delivery collected meanwhile
        b.wc.flush_webhooks()  # nobody registered / nobody listening
        b.restart()  # …service starts: the scheduler's first tick polls at once
        report = poll_tick(b.svc, SHOP, "test-owner")
        assert report is not None and report.new_orders == 1
        b.work()
        assert _invoice_for(b, 1003) is not None


def test_bank_transfer_on_hold_then_processing(tmp_path: Path) -> None:
    with woo_bridge(tmp_path) as b:
        b.svc.connector(SHOP).install_webhooks(b.base_url)
        b.wc.add_order(
            make_order(
                3001,
                items=[Item("Thé vert Sencha", "12.00", 2, rate_id=2)],
                shipping=("Colissimo", "5.00", 1),
                status="on-hold",
                payment_method="bacs",
                payment_method_title="Virement bancaire",
                paid=False,
                billing={
                    "first_name": "Anne",
                    "last_name": "Roux",
                    "email": "anne@example.fr",
                    "address_1": "1 rue Neuve",
                    "postcode": "75001",
                    "city": "Paris",
                },
            )
        )
        assert all(r.status == 200 for r in b.wc.flush_webhooks())  # order.created
        b.work()
        assert _invoice_for(b, 3001) is None
        ingest = [j for j in b.svc.store.list_jobs(("done",)) if j.kind == "ingest"]
        assert ingest and ingest[-1].result == {
            "paid": False,
            "reason": ingest[-1].result["reason"],
        }
        assert "on-hold" in ingest[-1].result["reason"]
        b.wc.set_status(3001, "processing")
        assert [r.status for r in b.wc.flush_webhooks()] == [200]
        b.work()
        invoice = _invoice_for(b, 3001)
        assert invoice is not None
        paid = datetime.fromisoformat(b.wc.order(3001)["date_paid_gmt"]).replace(tzinfo=UTC)
        assert invoice.snapshot.payment.paid_at == paid
        assert invoice.snapshot.payment.method_label.lower() == "virement bancaire"


def test_cash_on_delivery_processing_then_completed(tmp_path: Path) -> None:
    with woo_bridge(tmp_path) as b:
        b.wc.deliver_webhook(b.webhook_url, 1003)  # COD, processing
        b.work()
        assert _invoice_for(b, 1003) is None
        b.wc.set_status(1003, "completed")
        b.wc.deliver_webhook(b.webhook_url, 1003)
        b.work()
        assert _invoice_for(b, 1003) is not None


def test_out_of_order_stale_payload_is_only_a_trigger(tmp_path: Path) -> None:
    with woo_bridge(tmp_path) as b:
        stale = b.wc.payload(1002)  # built while on-hold
        b.wc.set_status(1002, "processing")
        b.wc.deliver_webhook(b.webhook_url, 1002)  # the fresh one first
        b.wc.deliver_webhook(b.webhook_url, 1002, body=stale)  # then the stale one
        b.work()
        assert _invoice_for(b, 1002) is not None
        assert len(b.wc.our_notes(1002)) == 1


def test_backfill_archives_without_email(tmp_path: Path) -> None:
    with woo_bridge(tmp_path) as b:
        old = b.svc.store.clock() - timedelta(days=300)  # long before the first poll's window
        b.wc.add_order(
            make_order(
                2500,
                items=[Item("Bouilloire", "50.00", 1)],
                created=old,
                paid_at=old,
                billing={
                    "first_name": "Luc",
                    "last_name": "Blanc",
                    "email": "luc@example.fr",
                    "address_1": "3 rue Haute",
                    "postcode": "21000",
                    "city": "Dijon",
                },
            ),
            notify=False,
        )
        since = old - timedelta(days=30)
        report = poll_shop(b.svc, SHOP, since=since, send_email=False)
        assert report.new_orders == 6  # 1001, 1004, the refunded 1007-1009 and the old one
        b.work()
        assert b.svc.store.list_quarantined() == []
        assert _invoice_for(b, 2500) is not None and b.smtp.received == []
        assert len(b.wc.our_notes(2500)) == 1  # archived and attached back, not emailed


def test_polling_pages_and_cursor(tmp_path: Path) -> None:
    with woo_bridge(tmp_path, seed=False, send_email=False) as b:
        start = datetime.now(UTC) - timedelta(hours=5)
        for n in range(230):
            when = start + timedelta(seconds=n)
            b.wc.add_order(
                make_order(
                    4000 + n,
                    items=[Item("Thé", "10.00", 1)],
                    created=when,
                    paid_at=when,
                    status="processing" if n % 10 else "on-hold",
                    paid=bool(n % 10),
                ),
                notify=False,
            )
        report = _poll(b)
        assert report.pages == 3 and report.seen_paid == 207 and report.skipped == 23
        cursor = b.svc.store.poll_state(SHOP).cursor
        assert cursor == (start + timedelta(seconds=229)).replace(microsecond=0)
        pages = [q for m, p, q in b.wc.requests if p.endswith("/orders")]
        assert {q["per_page"] for q in pages} == {"100"}
        assert all(q["dates_are_gmt"] == "true" and q["orderby"] == "modified" for q in pages)
        # next poll starts from the cursor minus the overlap: re-reads, creates nothing new
        again = _poll(b)
        assert again.new_orders == 0
        last = [q for m, p, q in b.wc.requests if p.endswith("/orders")][-1]
        assert last["modified_after"] == (cursor - timedelta(seconds=600)).strftime(
            "%Y-%m-%dT%H:%M:%S"
        )


def test_api_401_kills_the_job_with_a_message_naming_the_shop(tmp_path: Path) -> None:
    with woo_bridge(tmp_path) as b:
        b.wc.consumer_secret = "rotated-on-the-shop"
        b.wc.deliver_webhook(b.webhook_url, 1001)
        b.work()
        dead = b.svc.store.list_jobs(("dead",))
        assert len(dead) == 1 and dead[0].kind == "ingest"
        assert SHOP in dead[0].last_error and "consumer_key" in dead[0].last_error


def test_api_429_then_200_during_ingest(tmp_path: Path) -> None:
    with woo_bridge(tmp_path) as b:
        b.wc.fail_next(1, 429, retry_after=1, path="/orders/1001")
        b.wc.fail_next(1, 500, path="/orders/1001")
        b.wc.deliver_webhook(b.webhook_url, 1001)
        b.work()
        assert _invoice_for(b, 1001) is not None
        assert b.svc.store.list_jobs(("dead", "retry")) == []


def test_webhooks_install_ping_and_doctor_sees_disabled(tmp_path: Path) -> None:
    with woo_bridge(tmp_path) as b:
        conn = b.svc.connector(SHOP)
        lines = conn.install_webhooks(b.base_url)
        assert len(lines) == 2 and all(line.startswith("created") for line in lines)
        assert len(b.wc.webhooks) == 2
        for _ in range(50):  # the creation pings (async in the sandbox)
            if len(b.wc.pings) == 2:
                break
            __import__("time").sleep(0.05)
        assert [status for _, status in b.wc.pings] == [200, 200]
        assert all(c.ok for c in conn.check() if c.name.startswith("webhook"))
        # the endpoint breaks (e.g. wrong secret after a rotation): 5 failures → disabled
        for hook in b.wc.webhooks.values():
            hook["secret"] = "wrong"
        for _ in range(5):
            b.wc.touch(1001)
            b.wc.flush_webhooks()
        assert {h["status"] for h in b.wc.webhooks.values() if h["topic"] == "order.updated"} == {
            "disabled"
        }
        bad = [c for c in conn.check() if c.name == "webhook order.updated"]
        assert not bad[0].ok and "DISABLED" in bad[0].detail and "webhooks install" in bad[0].detail
        # reinstall: same hooks updated (secret, active), not duplicated
        lines = conn.install_webhooks(b.base_url)
        assert all(line.startswith("updated") for line in lines) and len(b.wc.webhooks) == 2
        assert all(c.ok for c in conn.check() if c.name.startswith("webhook"))
        b.wc.touch(1001)
        assert [r.status for r in b.wc.flush_webhooks()] == [200]


def test_a_scheduled_poll_records_when_it_won_the_shop_lease(tmp_path: Path) -> None:
    with woo_bridge(tmp_path) as b:
        assert poll_tick(b.svc, SHOP, "test-owner") is not None
        (done,) = b.svc.store.events(10, "poll.done")
        state = b.svc.store.poll_state(SHOP)
        assert state is not None and state.last_poll_at is not None
        assert datetime.fromisoformat(done.detail["claimed_at"]) == state.last_poll_at
        assert poll_tick(b.svc, SHOP, "another-replica") is None  # not due again yet
