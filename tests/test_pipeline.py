"""The pipeline end to end through the durable job queue: real SQLite / PostgreSQL, a real SMTP
server and a real alert endpoint on loopback, PDFs parsed with pypdf."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from bridge.audit import verify_archive
from bridge.logs import configure_logging
from bridge.pipeline import submit_order
from bridge.services import Services
from bridge.worker import work
from tests.support.clock import Clock
from tests.support.config import settings_for
from tests.support.documents import attachment, pdf_text
from tests.support.hook import Hook
from tests.support.orders import orders_by_id
from tests.support.smtp import SMTPServer

pytestmark = pytest.mark.filterwarnings("ignore:'imghdr' is deprecated:DeprecationWarning")


@pytest.fixture(autouse=True)
def _json_logs() -> Iterator[None]:
    # production format (structlog's dev default renders Rich tracebacks: seconds per failure)
    configure_logging("INFO", "json")
    yield
    structlog.reset_defaults()


@pytest.fixture
def smtp() -> Iterator[SMTPServer]:
    with SMTPServer() as server:
        yield server


@pytest.fixture
def hook() -> Iterator[Hook]:
    with Hook() as h:
        yield h


def test_six_sample_orders_end_to_end(
    db_url: str, tmp_path: Path, smtp: SMTPServer, hook: Hook
) -> None:
    settings = settings_for(tmp_path, db_url, smtp_port=smtp.port, alert_url=hook.url)
    svc = Services.from_settings(settings)
    try:
        assert svc.store.dialect == db_url.split(":")[0].split("+")[0]
        orders = orders_by_id()
        for order in orders.values():
            assert submit_order(svc, order) is not None
        processed = work(svc, once=True)
        assert processed == 6 + 5 * 2  # issue x6, render + email for each of the 5 invoices

        invoices = list(svc.store.iter_invoices())
        assert [inv.sequence for inv in invoices] == [1, 2, 3, 4, 5]
        assert len({inv.number for inv in invoices}) == 5
        for inv in invoices:
            assert inv.number.endswith(f"{inv.sequence:06d}")
            assert inv.pdf_sha256
            assert svc.archive.path_for(inv.pdf_sha256).is_file()
            assert svc.archive.alias_for(inv.number).is_file()
        assert sorted(inv.order_id for inv in invoices) == ["1001", "1002", "1003", "1004", "1005"]
        checked, problems = verify_archive(svc.store, svc.archive)
        assert (checked, problems) == (5, [])

        # 4 emails: 1004 has no address
        assert len(smtp.received) == 4
        to = sorted(str(m["To"]) for m in smtp.received)
        assert not any("1004" in t for t in to)
        emails = {o.customer.email for o in orders.values() if o.customer.email}
        rcpts = {r for rs in smtp.handler.rcpts for r in rs}
        assert rcpts == emails - {orders["1006"].customer.email}

        counts = svc.store.job_counts()
        assert counts["done"] == 6 + 5 + 4 - 1  # issue of 1006 is skipped, email of 1004 too
        assert counts["skipped"] == 2
        assert counts["dead"] == counts["retry"] == counts["pending"] == counts["running"] == 0
        skipped = {j.order_id: j for j in svc.store.list_jobs(states=("skipped",))}
        assert skipped["1004"].kind == "email"
        assert "address" in (skipped["1004"].last_error or "")
        assert svc.store.get_invoice_for_order("demo", "1004").pdf_sha256  # issued + archived

        quarantined = svc.store.list_quarantined()
        assert [q.order_id for q in quarantined] == ["1006"]
        assert "90.00" in quarantined[0].reason and "100.00" in quarantined[0].reason
        assert skipped["1006"].kind == "issue"
        assert svc.store.get_invoice_for_order("demo", "1006") is None

        assert len(hook.posts) == 1
        alert = hook.posts[0]
        assert "1006" in alert["title"]
        assert "90.00" in alert["message"] and "100.00" in alert["message"]
    finally:
        svc.close()


def test_received_email_matches_the_invoice(tmp_path: Path, smtp: SMTPServer) -> None:
    svc = Services.from_settings(settings_for(tmp_path, smtp_port=smtp.port))
    try:
        order = orders_by_id()["1001"]
        submit_order(svc, order)
        work(svc, once=True)
        invoice = svc.store.get_invoice_for_order(order.shop, order.order_id)
        assert invoice is not None
        (message,) = smtp.received
        assert order.customer.email in str(message["To"])
        assert smtp.handler.rcpts == [[order.customer.email]]
        subject = str(message["Subject"])
        assert "Marie" in subject and invoice.number in subject

        filename, data = attachment(message)
        assert invoice.number in filename
        assert data == svc.archive.read(invoice.pdf_sha256)
        assert invoice.number in pdf_text(data)

        (email_job,) = [j for j in svc.store.list_jobs(states=("done",)) if j.kind == "email"]
        (event,) = svc.store.events(kind="email.sent")
        assert message["Message-ID"] == email_job.result["message_id"]
        assert message["Message-ID"] == event.detail["message_id"]
        assert event.invoice_number == invoice.number
    finally:
        svc.close()


def test_duplicate_submissions_give_one_invoice_and_one_email(
    tmp_path: Path, smtp: SMTPServer
) -> None:
    svc = Services.from_settings(settings_for(tmp_path, smtp_port=smtp.port))
    try:
        order = orders_by_id()["1001"]
        ids = [submit_order(svc, order) for _ in range(3)]
        assert ids[0] is not None and ids[1:] == [None, None]
        work(svc, once=True)
        submit_order(svc, order)
        assert work(svc, once=True) == 0
        assert len(list(svc.store.iter_invoices())) == 1
        assert len(smtp.received) == 1
        assert len(svc.store.events(kind="email.sent")) == 1
    finally:
        svc.close()


def test_render_failure_does_not_burn_a_number(tmp_path: Path, smtp: SMTPServer) -> None:
    """A template that fails at render time: the render job retries, the number stays, the
    next order takes the next number, and fixing the template heals the invoice."""
    broken = tmp_path / "broken-templates"
    broken.mkdir()
    (broken / "invoice.html").write_text("<html>{{ no_such_variable.oops }}</html>")
    clock = Clock()
    db = f"sqlite:///{tmp_path / 'q.db'}"
    svc = Services.from_settings(
        settings_for(tmp_path, db, smtp_port=smtp.port, templates_dir=broken), clock=clock
    )
    orders = orders_by_id()
    try:
        submit_order(svc, orders["1001"])
        work(svc, once=True)
        first = svc.store.get_invoice_for_order("demo", "1001")
        assert first is not None and first.sequence == 1 and first.pdf_sha256 is None
        waiting = {j.kind: j for j in svc.store.list_jobs(states=("retry",))}
        assert set(waiting) == {"render"}  # email is queued only once the PDF exists
        assert "no_such_variable" in (waiting["render"].last_error or "")
        assert smtp.received == []

        submit_order(svc, orders["1002"])
        work(svc, once=True)
        second = svc.store.get_invoice_for_order("demo", "1002")
        assert second is not None and second.sequence == 2
        assert svc.store.get_invoice_for_order("demo", "1001").number == first.number
    finally:
        svc.close()

    # the owner fixes the template; the retries go through, numbers unchanged
    fixed = Services.from_settings(settings_for(tmp_path, db, smtp_port=smtp.port), clock=clock)
    try:
        clock.advance(minutes=30)
        work(fixed, once=True)
        invoices = list(fixed.store.iter_invoices())
        assert [(i.order_id, i.sequence) for i in invoices] == [("1001", 1), ("1002", 2)]
        assert all(i.pdf_sha256 for i in invoices)
        assert len(smtp.received) == 2
        assert verify_archive(fixed.store, fixed.archive) == (2, [])
    finally:
        fixed.close()
