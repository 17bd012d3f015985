"""Refunds end to end through the platform sandboxes: the shop refunds, Quittance credits —
the real connectors, webhooks, polling, worker, SMTP capture and PDFs parsed back."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D
from pathlib import Path

from bridge.crediting import reconcile_deleted_refunds
from bridge.invoicing.snapshot import InvoiceSnapshot
from bridge.polling import poll_shop
from bridge.store import InvoiceRecord
from connectors.woocommerce.sandbox_orders import Item, make_order
from tests.support.bridges import SHOP, Bridge, shopify_bridge, woo_bridge
from tests.support.documents import attachment, pdf_text


def credit_notes(b: Bridge, order_id: int | str) -> list[InvoiceRecord]:
    docs = b.svc.store.documents_for_order(SHOP, str(order_id))
    return [d for d in docs if d.kind == "credit_note"]


def invoice_of(b: Bridge, order_id: int | str) -> InvoiceRecord:
    (invoice,) = [
        d for d in b.svc.store.documents_for_order(SHOP, str(order_id)) if d.kind == "invoice"
    ]
    return invoice


def totals(notes: list[InvoiceRecord]) -> list[D]:
    return [n.snapshot.totals.total_incl for n in notes]


def polled(b: Bridge) -> None:
    poll_shop(b.svc, SHOP)
    b.work()


def test_a_full_refund_is_one_credit_note_of_the_whole_invoice_emailed_and_noted(
    tmp_path: Path,
) -> None:
    with woo_bridge(tmp_path) as b:
        polled(b)
        (note,) = credit_notes(b, 1007)
        invoice = invoice_of(b, 1007)
        assert note.snapshot.totals.total_incl == invoice.snapshot.totals.total_incl == D("42.70")
        assert note.snapshot.credited_number == invoice.number
        (mail,) = [m for m in (r.message() for r in b.smtp.received) if note.number in m["Subject"]]
        name, pdf = attachment(mail)
        text = pdf_text(pdf)
        assert name == f"{note.number}.pdf" and invoice.number in text and "-42,70" in text
        assert any(note.number in n["note"] for n in b.wc.our_notes(1007))


def test_two_partial_refunds_are_two_credit_notes_in_the_order_they_were_made(
    tmp_path: Path,
) -> None:
    with woo_bridge(tmp_path) as b:
        polled(b)
        notes = credit_notes(b, 1008)
        assert totals(notes) == [D("14.40"), D("10.03")]
        assert [n.sequence for n in notes] == sorted(n.sequence for n in notes)


def test_a_shipping_only_refund_credits_the_shipping_line(tmp_path: Path) -> None:
    with woo_bridge(tmp_path) as b:
        polled(b)
        (note,) = credit_notes(b, 1009)
        assert [(ln.kind, ln.total_incl) for ln in note.snapshot.lines] == [
            ("shipping", D("11.88"))
        ]


def test_a_refund_webhook_delivered_twice_makes_one_credit_note(tmp_path: Path) -> None:
    with woo_bridge(tmp_path) as b:
        b.wc.deliver_webhook(b.webhook_url, 1001)
        b.work()
        b.wc.add_refund(1001, lines=[(0, 1)], reason="Abîmé", notify=False)
        results = b.wc.deliver_webhook(b.webhook_url, 1001, duplicate=2, hook_id=7)
        assert [r.status for r in results] == [200, 200]
        b.work()
        polled(b)  # the poll that overlaps the webhook changes nothing
        assert len(credit_notes(b, 1001)) == 1
        assert b.wc.refund_posts == 0


def test_a_refund_made_before_the_invoice_is_credited_right_after_it(tmp_path: Path) -> None:
    with woo_bridge(tmp_path, seed=False) as b:
        b.wc.add_order(
            make_order(
                2101,
                items=[Item("Coffret", "30.00", 1, 2), Item("Tasse", "9.00", 2, 1)],
                billing={
                    "first_name": "Hugo",
                    "last_name": "Petit",
                    "email": "hugo@example.fr",
                    "address_1": "5 rue Sainte-Catherine",
                    "postcode": "33000",
                    "city": "Bordeaux",
                    "country": "FR",
                },
            ),
            notify=False,
        )
        b.wc.add_refund(2101, lines=[(1, 1)], reason="Tasse cassée", notify=False)
        b.wc.deliver_webhook(b.webhook_url, 2101)
        b.work()
        invoice, (note,) = invoice_of(b, 2101), credit_notes(b, 2101)
        assert invoice.id < note.id and note.snapshot.credited_number == invoice.number
        assert invoice.snapshot.totals.refunded == note.snapshot.totals.total_incl


def test_a_refund_deleted_on_the_shop_is_found_by_the_daily_pass_and_the_note_stays(
    tmp_path: Path,
) -> None:
    with woo_bridge(tmp_path) as b:
        polled(b)
        first, second = credit_notes(b, 1008)
        # no webhook, and the order's modification date left as it was: the next poll by
        # date may never list the order again; the daily pass reads it
        b.wc.delete_refund(1008, first.source.removeprefix("refund:"))
        gone, unread = reconcile_deleted_refunds(b.svc, SHOP)
        assert (gone, unread) == ([first.number], [])
        assert [d.number for d in credit_notes(b, 1008)] == [first.number, second.number]
        assert [e.invoice_number for e in b.svc.store.events(kind="refund.deleted")] == [
            first.number
        ]


def test_a_refund_in_a_foreign_currency_is_credited_in_it_with_its_vat_in_euros(
    tmp_path: Path,
) -> None:
    with shopify_bridge(tmp_path) as b:
        polled(b)
        (note,) = credit_notes(b, 5009)
        snap: InvoiceSnapshot = note.snapshot
        invoice = invoice_of(b, 5009).snapshot
        assert (snap.currency, snap.totals.total_incl) == ("USD", D("24.00"))
        assert snap.eur is not None and invoice.eur is not None
        assert snap.eur.exchange == invoice.eur.exchange


def _old_order(b: Bridge, order_id: int, days: int) -> None:
    old = b.svc.store.clock() - timedelta(days=days)
    b.wc.add_order(
        make_order(
            order_id, items=[Item("Bouilloire", "50.00", 1)], created=old, paid_at=old,
            billing={"first_name": "Luc", "last_name": "Blanc", "email": "luc@example.fr",
                     "address_1": "3 rue Haute", "postcode": "21000", "city": "Dijon"},
        ),
        notify=False,
    )  # fmt: skip
    b.wc.add_refund(order_id, amount=D("5.00"), reason="Geste", notify=False)


def test_backfill_brings_the_refunds_of_a_past_period_credited_without_email(
    tmp_path: Path,
) -> None:
    with woo_bridge(tmp_path, seed=False) as b:
        _old_order(b, 2500, days=300)
        since = b.svc.store.clock() - timedelta(days=330)
        poll_shop(b.svc, SHOP, since=since, send_email=False)
        b.work()
        assert totals(credit_notes(b, 2500)) == [D("5.00")] and b.smtp.received == []


def test_a_refund_on_an_order_paid_before_quittance_issues_nothing_and_says_so(
    tmp_path: Path,
) -> None:
    with woo_bridge(tmp_path, seed=False) as b:
        poll_shop(b.svc, SHOP)  # Quittance starts on the shop
        _old_order(b, 2600, days=300)  # refunded today: the refund brings it into the poll
        polled(b)
        assert b.svc.store.documents_for_order(SHOP, "2600") == []
        (event,) = b.svc.store.events(kind="refund.foreign")
        assert event.order_id == "2600" and "before Quittance ran" in event.detail["reason"]
