"""Refunds through the durable pipeline: one credit note per refund, in its own series, after
its invoice, emailed with its PDF, logged as deliveries; real SQLite / PostgreSQL, a real
SMTP server and a real alert endpoint on loopback, PDFs parsed back."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal as D
from email.utils import parseaddr
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import structlog

from bridge.crediting import issue_credit, note_deleted_refunds, predates_quittance, reissue_invoice
from bridge.failures import TransientStepError
from bridge.invoicing.build import NO_FACTS
from bridge.invoicing.credit import Credit, CreditNotIssuable
from bridge.logs import configure_logging
from bridge.model import Order, Refund, RefundLine
from bridge.pipeline import submit_order
from bridge.services import Services
from bridge.store import InvoiceRecord
from bridge.worker import run_job, work
from tests.support.config import settings_for
from tests.support.documents import attachment, pdf_text
from tests.support.hook import Hook
from tests.support.orders import make_order
from tests.support.smtp import SMTPServer

pytestmark = pytest.mark.filterwarnings("ignore:'imghdr' is deprecated:DeprecationWarning")


@pytest.fixture(autouse=True)
def _json_logs() -> Iterator[None]:
    configure_logging("INFO", "json")
    yield
    structlog.reset_defaults()


@pytest.fixture
def svc(db_url: str, tmp_path: Path, smtp: SMTPServer, hook: Hook) -> Iterator[Services]:
    services = Services.from_settings(
        settings_for(tmp_path, db_url, smtp_port=smtp.port, alert_url=hook.url)
    )
    yield services
    services.close()


def refund(order: Order, refund_id: str, amount: str, *, line: int | None = None) -> Refund:
    """A refund of `amount`, or of one whole product line of the order."""
    at = order.payment.paid_at + timedelta(hours=1)
    if line is None:
        return Refund(refund_id=refund_id, amount=D(amount), reason="Geste", created_at=at)
    ln = order.lines[line]
    item = RefundLine(name=ln.name, quantity=ln.quantity, amount=ln.total, taxes=ln.taxes)
    return Refund(refund_id=refund_id, amount=ln.total + ln.tax, reason="Retour", created_at=at,
                  lines=[item])  # fmt: skip


def refunded(order: Order, *refunds: Refund) -> Order:
    return order.model_copy(update={"refunds": list(refunds)})


def in_force(svc: Services, order: Order) -> InvoiceRecord:
    invoice = svc.store.current_invoice(order.shop, order.order_id)
    assert invoice is not None
    return invoice


def documents(svc: Services, order: Order) -> list[InvoiceRecord]:
    return svc.store.documents_for_order(order.shop, order.order_id)


def test_refund_seen_before_its_invoice_is_credited_after_it(svc: Services) -> None:
    order = refunded(make_order("501"), refund(make_order("501"), "r1", "5.00"))
    submit_order(svc, order)
    work(svc, once=True)
    docs = documents(svc, order)
    assert [(d.kind, d.number) for d in docs] == [
        ("invoice", docs[0].number), ("credit_note", docs[1].number),
    ]  # fmt: skip
    assert docs[0].number.startswith("FA-") and docs[1].number.startswith("AV-")
    assert docs[1].snapshot.credited_number == docs[0].number


def test_duplicate_refund_deliveries_make_one_credit_note(svc: Services) -> None:
    base = make_order("502")
    order = refunded(base, refund(base, "r1", "5.00"))
    for _ in range(3):
        submit_order(svc, order)
    work(svc, once=True)
    submit_order(svc, order)
    work(svc, once=True)
    assert [d.kind for d in documents(svc, order)] == ["invoice", "credit_note"]


def test_two_partial_refunds_are_two_credit_notes_numbered_in_their_own_series(
    svc: Services,
) -> None:
    base = make_order("503")
    submit_order(svc, refunded(base, refund(base, "r1", "", line=0)))
    work(svc, once=True)
    submit_order(
        svc, refunded(base, refund(base, "r1", "", line=0), refund(base, "r2", "", line=1))
    )
    work(svc, once=True)
    notes = [d for d in documents(svc, base) if d.kind == "credit_note"]
    assert [(n.series, n.sequence) for n in notes] == [("AV", 1), ("AV", 2)]
    assert [n.snapshot.lines[0].description for n in notes] == [
        base.lines[0].name,
        base.lines[1].name,
    ]
    assert svc.store.chain_problems() == []


def test_refunds_beyond_the_invoice_are_refused_and_the_owner_told(
    svc: Services, hook: Hook
) -> None:
    base = make_order("504")
    too_much = str(base.total - D("10.00"))
    first = refund(base, "r1", too_much)
    submit_order(svc, refunded(base, first))
    work(svc, once=True)
    submit_order(svc, refunded(base, first, refund(base, "r2", "10.01")))
    work(svc, once=True)
    notes = [d for d in documents(svc, base) if d.kind == "credit_note"]
    assert [n.snapshot.totals.total_incl for n in notes] == [D(too_much)]
    refused = [j for j in svc.store.list_jobs(("skipped",)) if j.kind == "credit"]
    assert len(refused) == 1 and "would exceed it" in (refused[0].last_error or "")
    assert any("no credit note for refund:r2" in a["title"] for a in hook.posts)


def test_credit_note_is_emailed_with_its_pdf_and_logged_as_a_delivery(
    svc: Services, smtp: SMTPServer
) -> None:
    base = make_order("505")
    submit_order(svc, refunded(base, refund(base, "r1", "12.50")))
    work(svc, once=True)
    note = documents(svc, base)[1]
    mails = [m for m in smtp.received if note.number in m["Subject"]]
    assert len(mails) == 1
    name, pdf = attachment(mails[0])
    text = pdf_text(pdf)
    assert name == f"{note.number}.pdf"
    assert "AVOIR" in text and documents(svc, base)[0].number in text
    [row] = svc.store.deliveries_for([note.id])
    assert (row.channel, row.target, row.status, row.attempts) == (
        "email", base.customer.email, "sent", 1,
    )  # fmt: skip
    assert row.external_id == mails[0]["Message-ID"]


def test_resend_adds_a_delivery_never_a_document(svc: Services, smtp: SMTPServer) -> None:
    base = make_order("506")
    submit_order(svc, base)
    work(svc, once=True)
    [invoice] = documents(svc, base)
    svc.store.enqueue_delivery(
        "email", invoice, {"to": "compta@example.fr"}, target="compta@example.fr"
    )
    work(svc, once=True)
    assert [d.id for d in documents(svc, base)] == [invoice.id]
    rows = svc.store.deliveries_for([invoice.id])
    assert [(r.target, r.status) for r in rows] == [
        (base.customer.email, "sent"), ("compta@example.fr", "sent"),
    ]  # fmt: skip
    assert parseaddr(smtp.received[-1]["To"])[1] == "compta@example.fr"


def test_invoice_without_an_address_is_sent_once_one_is_given(
    svc: Services, smtp: SMTPServer
) -> None:
    base = make_order("507")
    nobody = base.model_copy(update={"customer": base.customer.model_copy(update={"email": ""})})
    submit_order(svc, nobody)
    work(svc, once=True)
    [invoice] = documents(svc, nobody)
    assert [r.status for r in svc.store.deliveries_for([invoice.id])] == ["skipped"]
    svc.store.enqueue_delivery(
        "email", invoice, {"to": "marie@example.fr"}, target="marie@example.fr"
    )
    work(svc, once=True)
    assert [r.status for r in svc.store.deliveries_for([invoice.id])] == ["skipped", "sent"]
    assert parseaddr(smtp.received[-1]["To"])[1] == "marie@example.fr"


def test_refund_deleted_on_the_shop_alerts_and_the_credit_note_stays(
    svc: Services, hook: Hook
) -> None:
    base = make_order("508")
    submit_order(svc, refunded(base, refund(base, "r1", "5.00")))
    work(svc, once=True)
    submit_order(svc, base)  # read again: the refund is gone
    assert note_deleted_refunds(svc, base) == [documents(svc, base)[1].number]
    assert [d.kind for d in documents(svc, base)] == ["invoice", "credit_note"]
    assert any("deleted on the shop" in a["title"] for a in hook.posts)


def test_refund_on_an_order_paid_before_quittance_is_not_its_own(svc: Services) -> None:
    old = make_order("509")
    svc.store.shop_started_at(old.shop)
    paid = svc.store.clock() - timedelta(days=40)
    old = old.model_copy(
        update={"payment": old.payment.model_copy(update={"paid_at": paid}), "created_at": paid}
    )
    assert predates_quittance(svc, refunded(old, refund(old, "r1", "5.00")), timedelta(days=1))
    assert predates_quittance(svc, old, timedelta(days=1)) is None  # no refund: not asked


def test_racing_credits_of_one_refund_issue_one_credit_note(svc: Services) -> None:
    base = make_order("510")
    submit_order(svc, base)
    work(svc, once=True)
    [invoice] = documents(svc, base)
    credit = Credit(source="refund:r1", amount=D("5.00"), at=svc.store.clock())
    numbers: list[str] = []
    start = threading.Barrier(4)

    def race() -> None:
        start.wait()
        numbers.append(issue_credit(svc, invoice, credit, then=[]).invoice.number)

    threads = [threading.Thread(target=race) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(set(numbers)) == 1 and len(numbers) == 4
    assert [d.kind for d in documents(svc, base)] == ["invoice", "credit_note"]


def test_racing_refunds_never_credit_more_than_the_invoice(svc: Services) -> None:
    base = make_order("511")
    submit_order(svc, base)
    work(svc, once=True)
    [invoice] = documents(svc, base)
    half_and_more = (invoice.snapshot.totals.total_incl / 2 + D("1")).quantize(D("0.01"))
    outcomes: list[str] = []
    start = threading.Barrier(2)

    def race(source: str) -> None:
        start.wait()
        try:
            issue_credit(svc, invoice, Credit(source, half_and_more, svc.store.clock()), then=[])
            outcomes.append("issued")
        except Exception as exc:  # the loser is refused, never issued
            outcomes.append(type(exc).__name__)

    threads = [threading.Thread(target=race, args=(f"refund:{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(outcomes) == ["CreditNotIssuable", "issued"]
    assert svc.store.credited_total(invoice.id) == half_and_more


def test_a_refund_waiting_when_its_invoice_is_issued_is_credited_at_once(svc: Services) -> None:
    base = make_order("512")
    svc.store.record_order(refunded(base, refund(base, "r1", "5.00")), credit_options={})
    [job] = svc.store.claim_jobs("w", kinds=["credit"])
    assert run_job(svc, job, "w") == "retry"  # no invoice yet: back in a minute or more
    submit_order(svc, base)
    work(svc, once=True)  # the invoice is issued, and the waiting credit runs now, not later
    assert [d.kind for d in documents(svc, base)] == ["invoice", "credit_note"]


def test_a_refund_that_gave_nothing_back_makes_no_credit_note(svc: Services, hook: Hook) -> None:
    base = make_order("513")
    submit_order(svc, refunded(base, refund(base, "r1", "0.00")))
    work(svc, once=True)
    assert [d.kind for d in documents(svc, base)] == ["invoice"]
    assert not any("credit" in a["title"] for a in hook.posts)


def test_a_deleted_refund_is_told_once(svc: Services) -> None:
    base = make_order("514")
    submit_order(svc, refunded(base, refund(base, "r1", "5.00")))
    work(svc, once=True)
    for _ in range(3):
        note_deleted_refunds(svc, base)
    assert len(svc.store.events(kind="refund.deleted")) == 1


def test_reissue_credits_the_refunds_again_on_the_new_invoice(svc: Services) -> None:
    base = make_order("515")
    submit_order(svc, refunded(base, refund(base, "r1", "10.00")))
    work(svc, once=True)
    old = in_force(svc, base)
    rest = old.snapshot.totals.total_incl - D("10.00")
    issue_credit(svc, old, Credit("manual:2", rest, svc.store.clock(), method="none"), then=[])
    new = reissue_invoice(svc, old, base, then=[], credit_then=[], facts=NO_FACTS).result.invoice
    assert new is not None and new.number != old.number
    assert svc.store.current_invoice(base.shop, base.order_id) == new
    [again] = svc.store.credit_notes_of(new.id)
    assert again.snapshot.totals.total_incl == D("10.00")
    assert again.snapshot.credited_number == new.number


def test_reissue_is_refused_while_the_invoice_is_not_fully_credited(svc: Services) -> None:
    base = make_order("516")
    submit_order(svc, base)
    work(svc, once=True)
    old = in_force(svc, base)
    with pytest.raises(CreditNotIssuable, match="uncredited"):
        reissue_invoice(svc, old, base, then=[], credit_then=[], facts=NO_FACTS)


def test_a_credit_note_taken_across_new_year_waits_for_the_new_numbering_period(
    svc: Services,
) -> None:
    base = make_order("517")
    submit_order(svc, base)
    work(svc, once=True)
    invoice = svc.store.current_invoice(base.shop, base.order_id)
    assert invoice is not None
    year = svc.store.clock().year
    tz = ZoneInfo(svc.settings.seller.timezone)
    before, after = (datetime(year, 12, 31, 23, 59, 59, tzinfo=tz),
                     datetime(year + 1, 1, 1, 0, 0, 1, tzinfo=tz))  # fmt: skip
    moments = itertools.chain([before], itertools.repeat(after))
    svc.store.clock = lambda: next(moments)  # type: ignore[method-assign]
    with pytest.raises(TransientStepError, match="period changed"):
        issue_credit(svc, invoice, Credit("refund:x", D("1.00"), before), then=[])
    assert svc.store.credit_notes_of(invoice.id) == []
    retried = issue_credit(svc, invoice, Credit("refund:x", D("1.00"), before), then=[])
    assert retried.invoice.number == f"AV-{year + 1}-000001"


def test_after_a_reissue_the_refund_credited_again_is_not_taken_for_a_deleted_one(
    svc: Services, hook: Hook
) -> None:
    base = make_order("518")
    order = refunded(base, refund(base, "r1", "10.00"))
    submit_order(svc, order)
    work(svc, once=True)
    old = in_force(svc, base)
    rest = old.snapshot.totals.total_incl - D("10.00")
    issue_credit(svc, old, Credit("cancel:2", rest, svc.store.clock(), method="none"), then=[])
    reissue_invoice(svc, old, order, then=[], credit_then=[], facts=NO_FACTS)
    assert note_deleted_refunds(svc, order) == []


def test_reissue_credits_again_a_manual_credit_that_gave_money_back(svc: Services) -> None:
    base = make_order("519")
    submit_order(svc, base)
    work(svc, once=True)
    old = in_force(svc, base)
    now = svc.store.clock()
    issue_credit(svc, old, Credit("manual:1", D("7.00"), now, method="manual"), then=[])
    rest = old.snapshot.totals.total_incl - D("7.00")
    issue_credit(svc, old, Credit("cancel:2", rest, now, method="none"), then=[])
    reissue = reissue_invoice(svc, old, base, then=[], credit_then=[], facts=NO_FACTS)
    assert [n.snapshot.totals.total_incl for n in reissue.credited_again] == [D("7.00")]


def test_reissue_on_other_rates_credits_the_refund_again_as_an_amount(svc: Services) -> None:
    base = make_order("520")
    order = refunded(base, refund(base, "r1", "", line=0))  # the 5.5 % tea
    submit_order(svc, order)
    work(svc, once=True)
    old = in_force(svc, base)
    rest = old.snapshot.totals.total_incl - svc.store.credited_total(old.id)
    issue_credit(svc, old, Credit("cancel:2", rest, svc.store.clock(), method="none"), then=[])
    # the corrected order: the teapot alone (20 %), so the tea's 5.5 % no longer exists
    teapot = base.lines[1]
    single = order.model_copy(update={"lines": [teapot], "total": teapot.total + teapot.tax,
                                      "total_tax": teapot.tax, "coupons": []})  # fmt: skip
    reissue = reissue_invoice(svc, old, single, then=[], credit_then=[], facts=NO_FACTS)
    [again] = reissue.credited_again
    assert {b.rate for b in again.snapshot.vat_breakdown} == {D(20)}
    assert again.snapshot.totals.total_incl == base.lines[0].total + base.lines[0].tax


def test_a_refund_while_a_reissue_is_half_done_waits_for_the_corrected_invoice(
    svc: Services,
) -> None:
    base = make_order("521")
    submit_order(svc, base)
    work(svc, once=True)
    old = in_force(svc, base)
    whole = old.snapshot.totals.total_incl
    issue_credit(svc, old, Credit("cancel:1", whole, svc.store.clock(), method="none"), then=[])
    svc.store.record_order(refunded(base, refund(base, "r9", "3.00")), credit_options={})
    [job] = svc.store.claim_jobs("w", kinds=["credit"])
    assert run_job(svc, job, "w") == "retry"
    assert "waiting for the invoice" in (svc.store.get_job(job.id).last_error or "")  # type: ignore[union-attr]


def test_a_refund_whose_money_is_not_back_gets_no_credit_job(svc: Services) -> None:
    base = make_order("522")
    pending = refund(base, "r1", "5.00").model_copy(update={"pending": True})
    svc.store.record_order(refunded(base, pending), credit_options={})
    assert [j for j in svc.store.list_jobs(("pending",)) if j.kind == "credit"] == []


def test_a_pending_refund_still_tells_an_order_from_before_quittance(svc: Services) -> None:
    old = make_order("523")
    svc.store.shop_started_at(old.shop)
    paid = svc.store.clock() - timedelta(days=40)
    old = old.model_copy(
        update={"payment": old.payment.model_copy(update={"paid_at": paid}), "created_at": paid}
    )
    pending = refund(old, "r1", "5.00").model_copy(update={"pending": True})
    assert predates_quittance(svc, refunded(old, pending), timedelta(days=1))


def test_a_queued_email_shows_in_the_delivery_log_before_it_runs(svc: Services) -> None:
    base = make_order("524")
    submit_order(svc, base)
    for kind in ("issue", "render"):
        [job] = svc.store.claim_jobs("w", kinds=[kind])
        assert run_job(svc, job, "w") == "done"
    [invoice] = documents(svc, base)
    rows = svc.store.deliveries_for([invoice.id])
    assert [(r.channel, r.target, r.status, r.attempts) for r in rows] == [
        ("email", base.customer.email, "pending", 0)
    ]
    work(svc, once=True)
    assert [(r.status, r.attempts) for r in svc.store.deliveries_for([invoice.id])] == [("sent", 1)]
