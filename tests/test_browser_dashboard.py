"""The owner's dashboard in a real Chromium: signing in, finding a document and downloading
its archived PDF, retrying a failed job, sending a document again, checking the archive's
integrity, the customers' answers to the survey, the accountant's ZIP, and what an accountant
is not offered.

One bridge of a WooCommerce sandbox shop asking its satisfaction survey, its documents issued
and emailed by the real pipeline to a real SMTP server (two customers' invoices, a credit
note), two customers answering the survey through the real public pages, and one email job
killed by the real worker: a second service on the same database sends through an SMTP server
that refuses every message with a 550. The dashboard app is served by uvicorn on loopback;
Chromium comes from the OS. Screenshots of every page at phone and desktop widths go to
test-results/screenshots/.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest

from bridge.corrections import credit_document
from bridge.dashboard.accounts import add_user
from bridge.dashboard.app import create_dashboard_app
from bridge.dashboard.views.documents import document_href
from bridge.dashboard.wording import COMMON
from bridge.devsmtp import CaptureSMTPServer
from bridge.model import Order
from bridge.pipeline import submit_order
from bridge.services import Services
from bridge.store import InvoiceRecord, JobRecord
from bridge.survey.stats import SurveyStats, period_bounds, shop_reports
from bridge.worker import work
from connectors.woocommerce.sandbox import WooSandbox
from tests.support.app import AppServer
from tests.support.browser import VIEWPORTS, screenshot
from tests.support.dashboard import PASSWORD
from tests.support.portal import (
    PUBLIC_URL,
    Bridge,
    hidden,
    order_for,
    path_of,
    text_of,
)
from tests.support.smtp import ScriptedHandler, SMTPServer
from tests.support.waiting import HANG

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

pytestmark = [
    pytest.mark.browser,
    pytest.mark.filterwarnings("ignore:'imghdr' is deprecated:DeprecationWarning"),
]

OWNER, ACCOUNTANT = "patronne", "comptable"
HUGO, EMILY, ZOE = "hugo@example.fr", "emily@example.ie", "zoe@example.fr"
REFUSED = "550 5.1.1 Mailbox unavailable"
SURVEY = {"scale": 5}  # the [[surveys]] defaults otherwise: asked in every receipt
PRAISE = "Carnet superbe, livré en deux jours."  # Emily's comment: she is satisfied
CAP_MS = HANG * 1000  # Playwright's waits: long enough to catch only a hang


@dataclass
class Dashboard:
    bridge: Bridge
    refusing: Services  # the same database, sending through an SMTP server that says 550
    url: str
    hugo: list[InvoiceRecord]  # his two invoices, oldest first
    credit_note: InvoiceRecord  # on Hugo's first invoice
    emily: InvoiceRecord  # she answered the survey 5/5, with PRAISE
    zoe: InvoiceRecord  # her receipt's email job is dead
    # Hugo answered the survey of his second invoice 2/5, without a comment.

    @property
    def svc(self) -> Services:
        return self.bridge.svc

    def dead_job(self) -> JobRecord:
        (job,) = [j for j in self.svc.store.list_jobs(("dead",)) if j.invoice_id == self.zoe.id]
        return job

    def documents(self) -> list[InvoiceRecord]:
        return sorted(self.svc.store.iter_invoices(), key=lambda doc: doc.id)

    def documents_of(self, email: str) -> list[InvoiceRecord]:
        return [doc for doc in self.documents() if doc.snapshot.buyer.email == email]

    def page_of(self, doc: InvoiceRecord) -> str:
        return self.url + document_href(doc.number)

    def today(self) -> date:
        """Today in the seller's time zone: the dashboard's days are the seller's."""
        return self.svc.store.clock().astimezone(self.svc.settings.seller.zoneinfo).date()

    def survey_stats(self, first: date, last: date) -> SurveyStats:
        """What `quittance stats` computes (bridge/survey/stats.py) for the shop and the
        seller's days `first`..`last`, as the satisfaction page reads them."""
        zone = self.svc.settings.seller.zoneinfo
        since, until = period_bounds(first, last, today=self.today(), zone=zone)
        shop = self.bridge.shop
        records = self.svc.store.surveys_between(since, until, shop=shop)
        (report,) = shop_reports(self.svc.settings, records, shop)
        return report.stats


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    folder = tmp_path_factory.mktemp("browser-dashboard")
    refusals = ScriptedHandler()
    refusals.reject_all(REFUSED)
    with (
        CaptureSMTPServer() as smtp,
        SMTPServer(refusals) as refusing_smtp,
        WooSandbox(seed=False) as woo,
    ):
        bridge = Bridge.start(folder, smtp, woo=woo, surveys=[{"shop": "boutique", **SURVEY}])
        try:
            hugo = [bridge.issue_for(HUGO), bridge.issue_for(HUGO)]
            emily = bridge.issue_for(EMILY)
            done = credit_document(bridge.svc, hugo[0], reason="Retour du carnet A5")
            work(bridge.svc, once=True)  # the credit note rendered and emailed
            (credit_note,) = done.documents
            # Two customers answer the survey their receipt asked, through the real pages.
            answer_survey(bridge, emily, 5, PRAISE)
            answer_survey(bridge, hugo[1], 2)
            work(bridge.svc, once=True)  # the owner's alert of Hugo's low score
            # The same bridge, but its SMTP server refuses for good: Zoé's receipt dies.
            refusing = bridge.replica("refusing", email={"port": refusing_smtp.port})
            submit_order(refusing, in_the_shop(bridge, order_for(ZOE, shop=bridge.shop)))
            work(refusing, once=True)
            (zoe,) = [d for d in bridge.store.iter_invoices() if d.snapshot.buyer.email == ZOE]
            add_user(bridge.store, OWNER, PASSWORD, "owner", "en")
            add_user(bridge.store, ACCOUNTANT, PASSWORD, "accountant", "en")
            with AppServer(create_dashboard_app(bridge.svc)) as server:
                ready = Dashboard(bridge, refusing, server.url, hugo, credit_note, emily, zoe)
                assert ready.dead_job().last_error and "550" in ready.dead_job().last_error
                yield ready
        finally:
            bridge.close()


# --------------------------------------------------------------------------- helpers


def in_the_shop(bridge: Bridge, order: Order) -> Order:
    """`order`, placed in the sandbox shop too: the bridge writes its document back there
    (what `Bridge.issue` does before submitting)."""
    assert bridge.woo is not None
    raw = {"id": int(order.order_id), "status": "processing", "line_items": [], "meta_data": []}
    bridge.woo.add_order(raw, notify=False)
    return order


def answer_survey(bridge: Bridge, invoice: InvoiceRecord, score: int, comment: str = "") -> None:
    """What the customer does: click the score's link in the receipt, then send the page's
    form (its CSRF pair) with the comment, through the public app."""
    text = text_of(bridge.receipt(invoice.number))
    link = re.findall(rf"{re.escape(PUBLIC_URL)}/survey/\S+score={score}\b", text)[-1]
    client = bridge.visitor()
    form = client.get(path_of(link))
    assert form.status_code == 200, form.text
    fields = {"score": str(score), "comment": comment, "csrf": hidden(form.text, "csrf")}
    thanks = client.post(urlsplit(link).path, data=fields)
    assert thanks.status_code == 200, thanks.text
    survey = bridge.store.survey(invoice.id)
    assert survey is not None and (survey.score, survey.comment or "") == (score, comment)


def sees(locator: Locator, text: str) -> None:
    from playwright.sync_api import expect  # here: without Playwright, the module still loads

    expect(locator).to_contain_text(text, timeout=CAP_MS)


def shown(locator: Locator) -> None:
    from playwright.sync_api import expect

    expect(locator).to_be_visible(timeout=CAP_MS)


def sign_in(page: Page, dashboard: Dashboard, username: str, password: str = PASSWORD) -> None:
    """Through the form, as a person does: type, then press the button."""
    page.goto(dashboard.url + "/login")
    page.locator("#username").fill(username)
    page.locator("#password").fill(password)
    with page.expect_navigation(timeout=CAP_MS):
        page.locator("form[action='/login'] button[type=submit]").click()


# What reaches past the viewport's right edge: elements, and text overflowing its element
# (a long unbroken word), named by their element and the start of their text.
_PAST_THE_EDGE = """() => {
  const edge = window.innerWidth + 1, found = [];
  const name = (e, text) => `<${e.localName}${e.className ? "." + e.className : ""}> `
    + text.trim().slice(0, 60);
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const range = document.createRange();
    range.selectNodeContents(node);
    if (node.textContent.trim() && range.getBoundingClientRect().right > edge)
      found.push(name(node.parentElement, node.textContent));
  }
  for (const e of document.querySelectorAll("body *"))
    if (!e.children.length && !e.textContent.trim() && e.getBoundingClientRect().right > edge)
      found.push(name(e, ""));
  return found.slice(0, 3);
}"""


def sideways_at_a_phone(page: Page) -> list[str]:
    """What makes the page scroll sideways at the phone's width (nothing: it fits)."""
    page.set_viewport_size(VIEWPORTS["phone"])
    try:
        if page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"):
            return []
        return list(page.evaluate(_PAST_THE_EDGE)) or ["(no element named)"]
    finally:
        page.set_viewport_size(VIEWPORTS["desktop"])


def screenshots(page: Page, name: str) -> None:
    for width in VIEWPORTS:
        assert screenshot(page, f"dashboard-{name}", width).stat().st_size > 0


def row_of(page: Page, text: str) -> Locator:
    return page.locator("table.list tbody tr", has_text=text)


def check_now(page: Page) -> None:
    """Press "Check now", then wait while the page reloads itself: its button is back once
    the check is over (it is shown only while none runs)."""
    button = page.get_by_role("button", name="Check now")
    with page.expect_navigation(timeout=CAP_MS):
        button.click()
    shown(button)


@contextmanager
def tampered(dashboard: Dashboard, doc: InvoiceRecord) -> Iterator[Path]:
    """One byte of `doc`'s archived PDF flipped, as someone with the disk would; put back
    afterwards, so that the other tests read the PDF as it was issued."""
    assert doc.pdf_sha256
    pdf = dashboard.svc.archive.path_for(doc.pdf_sha256)
    original, mode = pdf.read_bytes(), pdf.stat().st_mode
    pdf.chmod(0o644)  # the archive keeps its files read-only
    flipped = bytearray(original)
    flipped[len(flipped) // 2] ^= 0xFF  # one byte, in the middle
    pdf.write_bytes(bytes(flipped))
    try:
        yield pdf
    finally:
        pdf.write_bytes(original)
        pdf.chmod(mode)


def listed_numbers(page: Page) -> set[str]:
    return set(page.locator("table.list tbody th[scope=row] a").all_inner_texts())


def fact(within: Page | Locator, term: str) -> Locator:
    """The <dd> after the <dt> that says `term`."""
    return within.locator(f"xpath=//dt[normalize-space()='{term}']/following-sibling::dd[1]")


# --------------------------------------------------------------------------- the tests


def test_signing_in_through_the_form_lands_on_the_overview_with_todays_invoices(
    dashboard: Dashboard, page: Page
) -> None:
    sign_in(page, dashboard, OWNER)
    assert page.url == dashboard.url + "/"
    card = page.locator("section.card", has=page.locator("h3", has_text=dashboard.bridge.shop))
    sees(card, dashboard.bridge.shop)
    zone = dashboard.svc.settings.seller.zoneinfo
    today = dashboard.svc.store.clock().astimezone(zone).date()
    invoices_today = [
        doc
        for doc in dashboard.documents()
        if doc.kind == "invoice" and doc.issued_at.astimezone(zone).date() == today
    ]
    assert fact(card, "Invoices issued").inner_text().strip() == str(len(invoices_today))


def test_a_wrong_password_shows_the_error_and_stays_on_the_sign_in_page(
    dashboard: Dashboard, page: Page
) -> None:
    sign_in(page, dashboard, OWNER, "not the password")
    locale = page.locator("html").get_attribute("lang") or "fr"
    sees(page.locator("p.error[role=alert]"), COMMON[locale]["login_failed"])
    assert page.url.startswith(dashboard.url + "/login")
    assert page.locator("#password").count() == 1


def test_documents_are_found_by_customer_email_and_by_number_and_open(
    dashboard: Dashboard, page: Page
) -> None:
    sign_in(page, dashboard, OWNER)
    page.goto(dashboard.url + "/documents")
    page.locator("#customer").fill(HUGO)
    with page.expect_navigation(timeout=CAP_MS):
        page.locator("form[role=search] button[type=submit]").click()
    hugos = {doc.number for doc in dashboard.documents_of(HUGO)}
    assert len(hugos) == 3  # two invoices and the credit note
    assert listed_numbers(page) == hugos
    assert dashboard.emily.number not in page.locator("table.list").inner_text()

    page.locator("#customer").fill("")
    page.locator("#number").fill(dashboard.emily.number)
    with page.expect_navigation(timeout=CAP_MS):
        page.locator("form[role=search] button[type=submit]").click()
    assert listed_numbers(page) == {dashboard.emily.number}
    with page.expect_navigation(timeout=CAP_MS):
        page.get_by_role("link", name=dashboard.emily.number, exact=True).click()
    sees(page.locator("h1"), dashboard.emily.number)
    sees(page.locator("main"), EMILY)


def test_the_pdf_downloads_from_the_document_page_as_the_archived_file(
    dashboard: Dashboard, page: Page
) -> None:
    doc = dashboard.hugo[1]
    assert doc.pdf_sha256
    sign_in(page, dashboard, OWNER)
    page.goto(dashboard.page_of(doc))
    with page.expect_download(timeout=CAP_MS) as download:
        page.get_by_role("link", name="Download the PDF").click()
    data = Path(download.value.path()).read_bytes()
    assert data.startswith(b"%PDF")
    assert data == dashboard.svc.archive.path_for(doc.pdf_sha256).read_bytes()


def test_retry_on_the_failures_page_puts_the_dead_job_back_in_the_queue(
    dashboard: Dashboard, page: Page
) -> None:
    dead = dashboard.dead_job()
    sign_in(page, dashboard, OWNER)
    page.goto(dashboard.url + "/failures")
    row = row_of(page, dashboard.zoe.number)
    sees(row, "failed")
    with page.expect_navigation(timeout=CAP_MS):
        row.get_by_role("button", name="Retry").click()
    sees(page.locator("p.notice[role=status]"), f"Queued again: {dashboard.zoe.number}")
    job = dashboard.svc.store.get_job(dead.id)
    assert job is not None and job.state == "pending"

    # Back as the other tests expect it: the refusing SMTP server kills it once more.
    work(dashboard.refusing, once=True)
    assert dashboard.dead_job().id == dead.id


def test_sending_a_document_again_from_its_page_emails_the_customer_once_more(
    dashboard: Dashboard, page: Page
) -> None:
    doc = dashboard.emily
    before = len(dashboard.bridge.mails_to(EMILY))
    sign_in(page, dashboard, OWNER)
    page.goto(dashboard.page_of(doc))
    with page.expect_navigation(timeout=CAP_MS):
        page.get_by_role("button", name="Send again").click()
    sees(page.locator("p.notice[role=status]"), f"Sending queued to {EMILY}")
    assert len(dashboard.bridge.mails_to(EMILY)) == before  # the worker sends it, not the page
    work(dashboard.svc, once=True)
    after = dashboard.bridge.mails_to(EMILY)
    assert len(after) == before + 1
    assert doc.number in str(after[-1]["Subject"])


def test_the_integrity_check_turns_green_then_red_naming_a_tampered_pdf(
    dashboard: Dashboard, page: Page
) -> None:
    documents = dashboard.documents()
    sign_in(page, dashboard, OWNER)
    page.goto(dashboard.url + "/integrity")
    check_now(page)
    sees(page.locator("p.good"), f"Numbering and archive intact: {len(documents)} document(s)")

    altered = dashboard.hugo[1]
    with tampered(dashboard, altered):
        check_now(page)
        sees(page.locator("p.bad[role=alert]"), f"1 problem(s) found in {len(documents)}")
    sees(row_of(page, altered.number), "the archived PDF was changed since it was issued")
    named = page.locator("table.list").inner_text()
    assert [doc.number for doc in documents if doc.number in named] == [altered.number]


def test_an_accountant_is_offered_no_retry_and_no_resend(dashboard: Dashboard, page: Page) -> None:
    sign_in(page, dashboard, ACCOUNTANT)
    page.goto(dashboard.url + "/failures")
    sees(row_of(page, dashboard.zoe.number), "failed")  # the failure is shown…
    assert page.get_by_role("button", name="Retry").count() == 0  # …not its button
    page.goto(dashboard.page_of(dashboard.emily))
    sees(page.locator("h1"), dashboard.emily.number)
    assert page.get_by_role("link", name="Download the PDF").count() == 1
    assert page.get_by_role("button", name="Send again").count() == 0
    assert page.get_by_role("button", name="Issue the credit note").count() == 0
    assert page.locator("form[action$='/resend'], form[action$='/credit']").count() == 0


def test_the_satisfaction_page_shows_the_answers_and_comments(
    dashboard: Dashboard, page: Page
) -> None:
    sign_in(page, dashboard, OWNER)
    page.goto(dashboard.url + "/satisfaction")
    # The period the figures are of: the form shows it, its default filled in.
    first = date.fromisoformat(page.locator("#since").input_value())
    last = date.fromisoformat(page.locator("#until").input_value())
    assert first <= dashboard.today() <= last
    expected = dashboard.survey_stats(first, last)
    assert (expected.answered, expected.low_scores) == (2, 1)  # Emily's 5/5, Hugo's 2/5
    assert [c.comment for c in expected.comments] == [PRAISE]

    shop = dashboard.bridge.shop
    report = page.locator("section.card", has=page.locator("h2", has_text=shop))
    sees(report, shop)

    def figure(name: str) -> str:
        return report.locator(f"dd[data-figure={name}]").inner_text().strip()

    counts = {name: figure(name) for name in ("invited", "answered", "low_scores")}
    assert counts == {
        "invited": str(expected.invited),
        "answered": str(expected.answered),
        "low_scores": str(expected.low_scores),
    }
    assert percent_shown(figure("response_rate")) == expected.response_rate
    assert percent_shown(figure("csat")) == expected.csat == Decimal("50.0")
    for score, count in expected.distribution[5].items():
        row = report.locator(f"tr[data-scale='5'][data-score='{score}']")
        assert row.locator("td.num").inner_text().strip() == str(count), score
    (comment,) = expected.comments
    row = report.locator("table.list tbody tr", has_text=PRAISE)
    sees(row, comment.number)
    sees(row, f"{comment.score}/{comment.scale}")
    assert report.get_by_text(PRAISE).count() == 1


def test_the_accountants_zip_downloads_from_the_exports_page(
    dashboard: Dashboard, page: Page
) -> None:
    today = dashboard.today()
    first, last = today - timedelta(days=6), today
    sign_in(page, dashboard, ACCOUNTANT)
    page.goto(dashboard.url + "/exports")
    page.locator("#first").fill(first.isoformat())
    page.locator("#last").fill(last.isoformat())
    screenshots(page, "exports-filled")
    with page.expect_download(timeout=CAP_MS) as download:
        page.get_by_role("button", name="Download the ZIP").click()
    assert download.value.suggested_filename == f"quittance-{first}-{last}.zip"

    zone = dashboard.svc.settings.seller.zoneinfo
    invoices = [
        doc
        for doc in dashboard.documents()
        if doc.kind == "invoice" and first <= doc.issued_at.astimezone(zone).date() <= last
    ]
    assert {dashboard.hugo[0].id, dashboard.emily.id, dashboard.zoe.id} <= {d.id for d in invoices}
    with zipfile.ZipFile(download.value.path()) as archive:
        names = archive.namelist()
        pdfs = {n.rsplit("/", 1)[-1]: n for n in names if n.rsplit("/", 2)[-2:-1] == ["factures"]}
        assert set(pdfs) == {f"{doc.number.replace('/', '%2F')}.pdf" for doc in invoices}
        for doc in invoices:
            assert doc.pdf_sha256
            data = archive.read(pdfs[f"{doc.number.replace('/', '%2F')}.pdf"])
            assert data == dashboard.svc.archive.path_for(doc.pdf_sha256).read_bytes()
        # one FEC per fiscal year an entry falls in (a payment may precede its invoice's year)
        fec = [n for n in names if "FEC" in n.rsplit("/", 1)[-1] and n.endswith(".txt")]
        assert fec, names
        encoding = dashboard.svc.settings.accounting.fec_encoding
        text = "".join(archive.read(name).decode(encoding) for name in fec)
    assert all(doc.number in text for doc in invoices)


def test_every_page_is_screenshotted_and_none_scrolls_sideways_on_a_phone(
    dashboard: Dashboard, page: Page
) -> None:
    sideways: dict[str, list[str]] = {}

    def shoot(name: str) -> None:
        shown(page.locator("main h1").first)
        if past_the_edge := sideways_at_a_phone(page):
            sideways[name] = past_the_edge
        screenshots(page, name)

    page.goto(dashboard.url + "/login")
    shoot("login")
    sign_in(page, dashboard, OWNER)
    pages: list[tuple[str, str]] = [
        ("overview", "/"),
        ("documents", "/documents"),
        ("document", document_href(dashboard.hugo[0].number)),
        ("credit-note", document_href(dashboard.credit_note.number)),
        ("failures", "/failures"),
        ("deliveries", "/deliveries"),
        ("satisfaction", "/satisfaction"),
        ("exports", "/exports"),
        ("audit", "/audit"),
    ]
    for name, path in pages:
        response = page.goto(dashboard.url + path)
        assert response is not None and response.status == 200, (name, path, _status(response))
        shoot(name)
    page.goto(dashboard.url + "/integrity")
    check_now(page)
    shown(page.locator("p.good"))
    shoot("integrity-green")
    with tampered(dashboard, dashboard.emily):
        check_now(page)
        shown(page.locator("p.bad[role=alert]"))
    shoot("integrity-red")
    assert sideways == {}, f"scroll sideways at {VIEWPORTS['phone']['width']} px: {sideways}"


def percent_shown(text: str) -> Decimal | None:
    """A percentage as the page shows it in English ("66.7 %", "—" for none)."""
    if text == "—":
        return None
    assert text.endswith(" %"), text
    return Decimal(text.removesuffix(" %").replace(",", ""))


def _status(response: Any) -> int | None:
    return None if response is None else int(response.status)
