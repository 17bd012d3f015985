"""Shopify end to end: sandbox shop → signed webhooks to the real app (uvicorn) → worker →
invoice, metafields on the order, one email. Polling catches what webhooks miss."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from bridge.invoicing.snapshot import DocumentKind
from bridge.polling import poll_shop
from connectors.shopify.sandbox_orders import seed_orders
from tests.support.bridges import SHOP, Bridge, shopify_bridge
from tests.support.shops import PREVIOUS_SHOPIFY_SECRET


def deliver(b: Bridge, order_id: int | str, **kwargs: object) -> list[int]:
    return b.shopify.deliver_webhook(b.webhook_url, order_id, **kwargs)  # type: ignore[arg-type]


def test_duplicate_webhooks_and_poll_make_one_invoice_one_metafield_set_one_email(
    tmp_path: Path,
) -> None:
    with shopify_bridge(tmp_path, seed=False) as b:
        (first,) = [n for n in seed_orders() if n["name"] == "#1001"]
        b.shopify.add_order(first)
        assert deliver(b, 5001, event_id="evt-1", duplicate=3) == [200, 200, 200]
        assert b.shopify.calls == []  # answered at once, read later by the ingest job
        assert deliver(b, 5001, event_id="", webhook_id="wh-9", duplicate=2) == [200, 200]
        b.work()
        b.work()
        report = poll_shop(b.svc, SHOP)
        # already invoiced: listed, but neither re-read nor queued again
        assert report.seen_paid == 0 and report.new_orders == 0
        b.work()
        (invoice,) = b.invoices()
        assert invoice.order_id == "5001" and invoice.snapshot.buyer.email == "camille@example.fr"
        assert b.shopify.calls.count("QuittanceMetafieldsSet") == 1
        assert b.shopify.metafield(5001, "invoice_number") == invoice.number
        assert b.shopify.metafield(5001, "invoice_url").startswith(
            "https://factures.latheiere.example.fr/invoices/"
        )
        assert len(b.smtp.received) == 1
        assert b.smtp.received[0].rcpt_tos == ["camille@example.fr"]
        assert b.svc.store.job_counts()["dead"] == 0


PAID = ["5001", "5002", "5003", "5004", "5005", "5006", "5007", "5008", "5009"]
REFUNDS = 5  # the seeds' refunds: one on 5006, two on 5007, one on 5008, one on 5009


def documents(b: Bridge, kind: DocumentKind) -> list[Any]:
    return [d for d in b.invoices() if d.snapshot.kind is kind]


def test_missed_webhooks_are_caught_by_polling(tmp_path: Path) -> None:
    with shopify_bridge(tmp_path) as b:
        report = poll_shop(b.svc, SHOP)
        assert (report.pages, report.seen_paid, report.new_orders) == (1, 9, 9)
        assert report.errors == []
        state = b.svc.store.poll_state(SHOP)
        newest = max(datetime.fromisoformat(n["updatedAt"]) for n in b.shopify.orders.values())
        assert state is not None and state.cursor == newest
        b.work()
        invoices = {i.order_id: i for i in documents(b, DocumentKind.invoice)}
        assert sorted(invoices) == PAID
        counts = b.svc.store.job_counts()
        assert counts["dead"] == 0 and counts["skipped"] == 0, counts
        usd = invoices["5003"].snapshot
        assert usd.currency == "USD" and usd.totals.total_incl == 90
        assert usd.totals.shop_currency_total_incl is not None
        sent = len(PAID) + REFUNDS  # one email per invoice and per credit note
        assert len(b.smtp.received) == sent
        assert all(b.shopify.metafield(oid, "invoice_number") for oid in invoices)
        # A late webhook and a second poll change nothing.
        assert deliver(b, 5002) == [200]
        b.work()
        assert poll_shop(b.svc, SHOP).new_orders == 0
        b.work()
        assert len(b.invoices()) == sent and len(b.smtp.received) == sent
        assert b.shopify.calls.count("QuittanceMetafieldsSet") == sent
        assert b.shopify.money_calls == []


def test_full_refund_missed_by_webhook_is_credited_by_polling(tmp_path: Path) -> None:
    with shopify_bridge(tmp_path) as b:
        poll_shop(b.svc, SHOP)
        b.work()
        (credit,) = [c for c in documents(b, DocumentKind.credit_note) if c.order_id == "5006"]
        assert credit.snapshot.totals.total_incl == Decimal("62.80")
        notes = json.loads(b.shopify.metafield(5006, "credit_notes") or "[]")
        assert [n["number"] for n in notes] == [credit.number]


def test_refund_webhook_brings_one_credit_note_and_duplicates_change_nothing(
    tmp_path: Path,
) -> None:
    with shopify_bridge(tmp_path, seed=False) as b:
        (first,) = [n for n in seed_orders() if n["name"] == "#1001"]
        b.shopify.add_order(first)
        assert deliver(b, 5001) == [200]
        b.work()
        b.shopify.subscriptions.append(
            {"id": "gid://shopify/WebhookSubscription/1", "topic": "REFUNDS_CREATE",
             "uri": b.webhook_url}
        )  # fmt: skip
        refund_id = b.shopify.add_refund(5001, lines=[(1, 1)], reason="Fêlée")
        assert b.shopify.deliveries == [("refunds/create", b.webhook_url, 200)]
        assert deliver(b, 5001, topic="refunds/create", refund_id=refund_id,
                       event_id="evt-refund", duplicate=3) == [200, 200, 200]  # fmt: skip
        b.work()
        (credit,) = documents(b, DocumentKind.credit_note)
        assert credit.snapshot.totals.total_incl == Decimal("40.50")
        notes = json.loads(b.shopify.metafield(5001, "credit_notes") or "[]")
        assert [n["number"] for n in notes] == [credit.number]
        assert b.shopify.money_calls == []


def test_webhook_then_payment_order_paid_later_via_poll(tmp_path: Path) -> None:
    """orders/paid arrives but the order reads as unpaid (replica lag): the poll catches it."""
    with shopify_bridge(tmp_path, seed=False) as b:
        from connectors.shopify.sandbox_orders import Item, build_order

        b.shopify.add_order(build_order(8001, "#8001", [Item("Thé noir", "9.90", 2, rate="5.5")],
                                        paid=False))  # fmt: skip
        assert deliver(b, 8001) == [200]
        b.work()
        assert b.invoices() == []
        b.shopify.mark_paid(8001)
        poll_shop(b.svc, SHOP, since=datetime.now(UTC) - timedelta(hours=1))
        b.work()
        (invoice,) = b.invoices()
        assert invoice.order_id == "8001"


def test_bad_signature_wrong_domain_and_rotation_over_http(tmp_path: Path) -> None:
    with shopify_bridge(tmp_path, seed=False) as b:
        (first,) = [n for n in seed_orders() if n["name"] == "#1001"]
        b.shopify.add_order(first)
        assert deliver(b, 5001, secret="not-the-secret") == [401]
        assert deliver(b, 5001, tamper=True) == [401]
        assert deliver(b, 5001, shop_domain="other-shop.myshopify.com") == [401]
        assert sum(b.svc.store.job_counts().values()) == 0  # nothing stored, nothing queued
        # the previous secret still verifies during a rotation
        assert deliver(b, 5001, secret=PREVIOUS_SHOPIFY_SECRET) == [200]
        b.work()
        assert len(b.invoices()) == 1


def test_throttling_and_order_note_through_the_worker(tmp_path: Path) -> None:
    with shopify_bridge(tmp_path, seed=False, order_note=True) as b:
        (first,) = [n for n in seed_orders() if n["name"] == "#1001"]
        b.shopify.add_order(first)
        b.shopify.throttle_next(1, mode="200")
        b.shopify.throttle_next(1, mode="429")
        assert deliver(b, 5001) == [200]
        b.work()
        (invoice,) = b.invoices()
        assert b.shopify.note(5001).startswith(f"Facture {invoice.number} : https://")
