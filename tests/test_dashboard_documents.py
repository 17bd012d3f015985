"""The dashboard's documents pages through the real app: a search over documents issued by
the real pipeline (real SQLite, a real SMTP server on loopback), each document's page, its
archived PDF, and the owner's resend and credit forms going through bridge/corrections.py."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from html import unescape
from urllib.parse import quote, unquote

import pytest
import structlog
import time_machine
from fastapi.testclient import TestClient
from httpx import Response

from bridge import corrections
from bridge.dashboard.views import documents
from bridge.devsmtp import CaptureSMTPServer
from bridge.failures import StepError
from bridge.logs import configure_logging
from bridge.model import Order
from bridge.store import InvoiceRecord
from bridge.store.search import DocumentQuery
from bridge.worker import work
from tests.support.dashboard import csrf_of, signed_in
from tests.support.portal import Bridge, new_email, order_for, visible_text

EARLIER_DAYS = 3  # the document issued before the others, for the date searches
_ROW_LINK = re.compile(r'href="/documents/([^"/?]+)"')


@pytest.fixture(scope="module", autouse=True)
def _json_logs() -> Iterator[None]:
    configure_logging("WARNING", "json")  # the console renderer is slow and noisy
    yield
    structlog.reset_defaults()


@pytest.fixture(scope="module")
def bridge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bridge]:
    with CaptureSMTPServer() as smtp:
        started = Bridge.start(tmp_path_factory.mktemp("dashboard-documents"), smtp)
        try:
            yield started
        finally:
            started.close()


@dataclass(frozen=True)
class Issued:
    """The documents the searches look for: no test changes them (refused corrections only)."""

    earlier: InvoiceRecord  # issued EARLIER_DAYS ago
    alice: InvoiceRecord
    bob: InvoiceRecord  # a business buyer (sample 02)


@pytest.fixture(scope="module")
def issued(bridge: Bridge) -> Issued:
    # The earlier one first: a series' numbers only move forward in time (a year turning
    # in between starts a new period, never goes back to the old one).
    back = datetime.now(UTC) - timedelta(days=EARLIER_DAYS)
    with time_machine.travel(back):
        earlier = bridge.issue(placed(new_email("earlier"), "Lenoir", paid_at=back))
    alice = bridge.issue(placed(new_email("alice"), "Martin-Aliénor"))
    bob = bridge.issue(placed(new_email("bob"), "Bernard", prefix="02"))
    return Issued(earlier, alice, bob)


@pytest.fixture(scope="module")
def owner(bridge: Bridge) -> TestClient:
    return signed_in(bridge.svc, "owner")


@pytest.fixture(scope="module")
def accountant(bridge: Bridge) -> TestClient:
    return signed_in(bridge.svc, "accountant")


@pytest.fixture(scope="module")
def french(bridge: Bridge) -> TestClient:
    client = signed_in(bridge.svc, "owner", "proprietaire")
    client.cookies.set("quittance_dashboard_lang", "fr")
    return client


def placed(
    email: str, last_name: str, *, prefix: str = "01", paid_at: datetime | None = None
) -> Order:
    """A sample order of the demo shop by a buyer of our own (`paid_at`: before that)."""
    order = order_for(email, shop="demo", prefix=prefix)
    customer = order.customer.model_copy(update={"last_name": last_name})
    if paid_at is None:
        return order.model_copy(update={"customer": customer})
    payment = order.payment.model_copy(update={"paid_at": paid_at - timedelta(minutes=5)})
    return order.model_copy(
        update={
            "customer": customer,
            "payment": payment,
            "created_at": paid_at - timedelta(minutes=10),
        }
    )


def fresh(bridge: Bridge) -> InvoiceRecord:
    """An invoice of its own, for a test that changes what it has (credits, deliveries)."""
    return bridge.issue(placed(new_email("fresh"), "Durand"))


def href(doc: InvoiceRecord, tail: str = "") -> str:
    return "/documents/" + quote(doc.number, safe="") + tail


def numbers_found(client: TestClient, **search: str) -> set[str]:
    """The numbers the search lists (its rows link to "/documents/<number, encoded>")."""
    answer = client.get("/documents", params=search)
    assert answer.status_code == 200, answer.text
    return {unquote(found) for found in _ROW_LINK.findall(answer.text)}


def local_day(moment: datetime, bridge: Bridge) -> str:
    return moment.astimezone(bridge.svc.settings.seller.zoneinfo).date().isoformat()


def post(client: TestClient, url: str, page_url: str, **form: str) -> Response:
    """A form posted as a browser does: with the CSRF token of the page it is on."""
    csrf = csrf_of(client.get(page_url).text)
    return client.post(url, data={"csrf": csrf, **form}, follow_redirects=False)


def deliveries_of(bridge: Bridge, doc: InvoiceRecord) -> list[tuple[str, str, str]]:
    return [(d.channel, d.target, d.status) for d in bridge.store.deliveries_for([doc.id])]


def audited(bridge: Bridge, action: str, number: str) -> list[dict[str, object]]:
    """The details of the audit trail's `action` lines about `number`, newest first."""
    return [
        e.detail
        for e in bridge.store.audit_trail(limit=500)
        if e.kind == f"dashboard.{action}" and e.invoice_number == number
    ]


# --------------------------------------------------------------------------- the search


def test_search_by_number_finds_that_document(owner: TestClient, issued: Issued) -> None:
    assert numbers_found(owner, number=issued.alice.number) == {issued.alice.number}


def test_search_by_part_of_a_number_in_another_case_finds_it(
    owner: TestClient, issued: Issued
) -> None:
    tail = issued.bob.number[-4:].lower()
    assert issued.bob.number in numbers_found(owner, number=tail)


def test_search_by_customer_email_finds_only_their_documents(
    owner: TestClient, issued: Issued
) -> None:
    email = issued.alice.snapshot.buyer.email
    assert numbers_found(owner, customer=email.upper()) == {issued.alice.number}


def test_search_by_customer_name_finds_only_their_documents(
    owner: TestClient, issued: Issued
) -> None:
    assert numbers_found(owner, customer="lenoir") == {issued.earlier.number}


def test_search_by_customer_takes_an_underscore_literally(
    owner: TestClient, issued: Issued
) -> None:
    # "_" is LIKE's any-character: unescaped, "e_rlier" would find "earlier.…@example.fr"
    assert numbers_found(owner, customer="e_rlier") == set()


def test_search_by_order_finds_that_orders_documents(owner: TestClient, issued: Issued) -> None:
    assert numbers_found(owner, order=issued.bob.order_id) == {issued.bob.number}
    assert numbers_found(owner, order="#" + issued.bob.order_id) == {issued.bob.number}


def test_search_by_date_range_finds_the_documents_of_those_local_days(
    owner: TestClient, issued: Issued, bridge: Bridge
) -> None:
    day = local_day(issued.earlier.issued_at, bridge)
    assert numbers_found(owner, since=day, until=day) == {issued.earlier.number}
    today = numbers_found(owner, since=local_day(issued.alice.issued_at, bridge))
    assert {issued.alice.number, issued.bob.number} <= today
    assert issued.earlier.number not in today


def test_search_by_kind_lists_only_that_kind(owner: TestClient, issued: Issued) -> None:
    assert numbers_found(owner, kind="credit_note", customer="bernard") == set()
    assert numbers_found(owner, kind="invoice", customer="bernard") == {issued.bob.number}


def test_search_lists_newest_first_with_amount_and_customer(
    owner: TestClient, issued: Issued
) -> None:
    text = visible_text(owner.get("/documents").text)
    assert text.index(issued.bob.number) < text.index(issued.alice.number)
    assert text.index(issued.alice.number) < text.index(issued.earlier.number)
    assert issued.bob.snapshot.buyer.name in text
    assert "€" in text and "delivered" in text


def test_search_pages_newest_first_with_an_older_link(
    owner: TestClient, issued: Issued, bridge: Bridge, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(documents, "PAGE_SIZE", 2)  # else 51 documents to issue
    first = owner.get("/documents").text
    older = re.search(r'<a href="([^"]+)" rel="next">', first)
    assert older, "no link to older documents"
    second = owner.get(unescape(older.group(1))).text
    shown = [unquote(n) for n in _ROW_LINK.findall(first) + _ROW_LINK.findall(second)]
    newest = bridge.store.find_documents(DocumentQuery(), limit=4)
    assert shown == [d.number for d in newest][: len(shown)] and len(shown) >= 3
    assert "Newest" in second


def test_a_date_that_is_not_a_date_is_shown_naming_the_field(owner: TestClient) -> None:
    answer = owner.get("/documents", params={"since": "2025-02-30", "until": "demain"})
    assert answer.status_code == 400
    text = visible_text(answer.text)
    assert "“From” field is not a date" in text and "“To” field is not a date" in text


def test_a_date_range_backwards_is_shown(owner: TestClient) -> None:
    today = date.today()
    since, until = (today + timedelta(days=1)).isoformat(), today.isoformat()
    answer = owner.get("/documents", params={"since": since, "until": until})
    assert answer.status_code == 400 and "swap them" in answer.text


def test_the_search_speaks_french_to_a_french_reader(french: TestClient) -> None:
    answer = french.get("/documents", params={"until": "hier"})
    assert "Le champ « Au » n'est pas une date" in visible_text(answer.text)


# --------------------------------------------------------------------------- a document


def test_document_page_shows_its_lines_buyer_and_totals(owner: TestClient, issued: Issued) -> None:
    doc = issued.alice
    text = visible_text(owner.get(href(doc)).text)
    for line in doc.snapshot.lines:
        assert line.description in text
    assert doc.snapshot.buyer.name in text and doc.snapshot.buyer.email in text
    assert doc.snapshot.buyer.billing_lines[0] in text
    assert f"€{doc.snapshot.totals.total_incl}" in text and "Left to credit" in text


def test_document_page_speaks_french_to_a_french_reader(french: TestClient, issued: Issued) -> None:
    text = visible_text(french.get(href(issued.alice)).text)
    assert f"Facture {issued.alice.number}" in text
    assert "Renvoyer le document" in text and "Établir un avoir" in text


def test_document_page_shows_its_deliveries(owner: TestClient, issued: Issued) -> None:
    text = visible_text(owner.get(href(issued.bob)).text)
    assert f"email {issued.bob.snapshot.buyer.email} sent" in text


def test_document_page_answers_its_number_unencoded_too(owner: TestClient, issued: Issued) -> None:
    answer = owner.get("/documents/" + issued.bob.number)
    assert answer.status_code == 200 and issued.bob.number in answer.text


def test_an_unknown_number_is_404(owner: TestClient) -> None:
    answer = owner.get("/documents/" + quote("FA-1999/000001", safe=""))
    assert answer.status_code == 404 and "Not found" in answer.text
    assert owner.get("/documents/FA-1999-000001/pdf").status_code == 404


# --------------------------------------------------------------------------- the PDF


def test_pdf_download_returns_the_archived_bytes_and_is_audited(
    owner: TestClient, issued: Issued, bridge: Bridge
) -> None:
    doc = issued.alice
    answer = owner.get(href(doc, "/pdf"))
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/pdf"
    assert answer.content == bridge.svc.archive.path_for(str(doc.pdf_sha256)).read_bytes()
    filename = doc.number.replace("/", "_") + ".pdf"
    assert answer.headers["content-disposition"] == f'attachment; filename="{filename}"'
    assert answer.headers["cache-control"] == "no-store"
    assert audited(bridge, "document.download", doc.number)[0]["user"] == "owner"


def test_a_missing_archived_pdf_is_a_page_pointing_to_integrity(
    owner: TestClient, bridge: Bridge
) -> None:
    doc = fresh(bridge)
    path = bridge.svc.archive.path_for(str(doc.pdf_sha256))
    path.chmod(0o600)  # the archive files are read-only
    path.unlink()
    answer = owner.get(href(doc, "/pdf"))
    assert answer.status_code == 404
    assert "missing from the archive" in answer.text and 'href="/integrity"' in answer.text


def test_accountant_can_download(accountant: TestClient, issued: Issued, bridge: Bridge) -> None:
    answer = accountant.get(href(issued.bob, "/pdf"))
    assert answer.status_code == 200 and answer.content.startswith(b"%PDF")
    assert audited(bridge, "document.download", issued.bob.number)[0]["user"] == "accountant"


def test_accountant_sees_no_correction_forms(accountant: TestClient, issued: Issued) -> None:
    html = accountant.get(href(issued.bob)).text
    assert "/resend" not in html and "/credit" not in html


def test_accountant_resend_is_refused_and_queues_nothing(
    accountant: TestClient, issued: Issued, bridge: Bridge
) -> None:
    before = deliveries_of(bridge, issued.bob)
    answer = post(accountant, href(issued.bob, "/resend"), href(issued.bob), channel="email")
    assert answer.status_code == 403
    assert deliveries_of(bridge, issued.bob) == before


# --------------------------------------------------------------------------- resending


def test_resend_queues_one_email_that_the_worker_sends(owner: TestClient, bridge: Bridge) -> None:
    doc = fresh(bridge)
    to = new_email("compta")
    answer = post(owner, href(doc, "/resend"), href(doc), channel="email", to=to)
    assert answer.status_code == 303
    assert answer.headers["location"] == href(doc, f"?done=resent&what={quote(to)}")
    assert [d for d in deliveries_of(bridge, doc) if d[2] == "pending"] == [
        ("email", to, "pending")
    ]
    work(bridge.svc, once=True)
    [mail] = bridge.mails_to(to)
    assert doc.number in str(mail["Subject"])
    assert ("email", to, "sent") in deliveries_of(bridge, doc)
    assert audited(bridge, "document.resend", doc.number)[0]["target"] == to


def test_resend_notice_names_where_it_goes(owner: TestClient, bridge: Bridge) -> None:
    doc = fresh(bridge)
    answer = post(owner, href(doc, "/resend"), href(doc), channel="email")
    text = visible_text(owner.get(answer.headers["location"]).text)
    assert f"Sending queued to {doc.snapshot.buyer.email}" in text


def test_resend_without_csrf_is_400_and_queues_nothing(
    owner: TestClient, bridge: Bridge, issued: Issued
) -> None:
    doc = issued.alice  # refused: nothing of it changes
    before = deliveries_of(bridge, doc)
    answer = owner.post(href(doc, "/resend"), data={"channel": "email"}, follow_redirects=False)
    assert answer.status_code == 400
    assert deliveries_of(bridge, doc) == before


def test_resend_refused_shows_the_document_with_why(
    owner: TestClient, bridge: Bridge, issued: Issued
) -> None:
    doc = issued.alice  # refused: nothing of it changes
    answer = post(owner, href(doc, "/resend"), href(doc), channel="email", to="pas-une-adresse")
    assert answer.status_code == 400
    assert "is not an email address" in visible_text(answer.text)
    assert [d for d in deliveries_of(bridge, doc) if d[2] == "pending"] == []


# --------------------------------------------------------------------------- crediting


def test_credit_in_full_issues_a_credit_note_and_shows_it(
    owner: TestClient, bridge: Bridge
) -> None:
    doc = fresh(bridge)
    answer = post(owner, href(doc, "/credit"), href(doc), reason="Retour complet", scope="all")
    assert answer.status_code == 303
    [note] = bridge.store.credit_notes_of(doc.id)
    assert note.snapshot.totals.total_incl == doc.snapshot.totals.total_incl
    assert answer.headers["location"] == href(note, f"?done=credited&what={quote(note.number)}")
    html = owner.get(answer.headers["location"]).text
    assert f"Credit note issued: {note.number}" in visible_text(html)
    assert "Retour complet" in html and f'href="{href(doc)}"' in html  # the invoice it credits
    assert audited(bridge, "document.credit", doc.number)[0]["issued"] == [note.number]
    work(bridge.svc, once=True)
    assert doc.snapshot.buyer.email in str(bridge.receipt(note.number)["To"])


def test_credited_invoice_shows_its_credit_note_and_nothing_left(
    owner: TestClient, bridge: Bridge
) -> None:
    doc = fresh(bridge)
    post(owner, href(doc, "/credit"), href(doc), reason="Annulation", scope="all")
    [note] = bridge.store.credit_notes_of(doc.id)
    html = owner.get(href(doc)).text
    assert f'href="{href(note)}"' in html and "fully credited" in html
    listed = visible_text(owner.get("/documents", params={"number": doc.number}).text)
    assert "fully credited" in listed


def test_credit_of_an_amount_without_refund_or_email(owner: TestClient, bridge: Bridge) -> None:
    doc = fresh(bridge)
    answer = post(
        owner, href(doc, "/credit"), href(doc), reason="Geste commercial", scope="amount",
        amount="2,50", no_refund="1", no_email="1",
    )  # fmt: skip
    assert answer.status_code == 303
    [note] = bridge.store.credit_notes_of(doc.id)
    assert note.snapshot.totals.total_incl == Decimal("2.50")
    assert note.snapshot.payment.method == "none", note.snapshot.payment
    work(bridge.svc, once=True)
    mails = bridge.mails_to(doc.snapshot.buyer.email)
    assert [m for m in mails if note.number in str(m["Subject"])] == []


def test_credit_over_what_is_left_is_refused_with_the_message(
    owner: TestClient, bridge: Bridge, issued: Issued
) -> None:
    doc = issued.alice  # refused: nothing of it changes
    beyond = doc.snapshot.totals.total_incl + Decimal("0.01")
    answer = post(
        owner, href(doc, "/credit"), href(doc), reason="Geste", scope="amount", amount=str(beyond)
    )
    assert answer.status_code == 400
    text = visible_text(answer.text)
    assert "Not done:" in text and "would exceed it" in text
    assert f'value="{beyond}"' in answer.text  # the form as it was typed
    assert bridge.store.credit_notes_of(doc.id) == []


def test_credit_without_a_reason_is_refused(
    owner: TestClient, bridge: Bridge, issued: Issued
) -> None:
    doc = issued.bob  # refused: nothing of it changes
    answer = post(owner, href(doc, "/credit"), href(doc), reason=" ", scope="all")
    assert answer.status_code == 400 and "must say why" in answer.text
    assert bridge.store.credit_notes_of(doc.id) == []


def test_accountant_credit_is_refused(
    accountant: TestClient, bridge: Bridge, issued: Issued
) -> None:
    doc = issued.bob  # refused: nothing of it changes
    answer = post(accountant, href(doc, "/credit"), href(doc), reason="Geste", scope="all")
    assert answer.status_code == 403
    assert bridge.store.credit_notes_of(doc.id) == []


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("before", ["²", "9" * 23], ids=["superscript", "beyond-64-bits"])
def test_a_before_that_is_not_a_row_id_lists_the_newest(
    owner: TestClient, bridge: Bridge, issued: Issued, before: str
) -> None:
    answer = owner.get("/documents", params={"before": before})
    assert answer.status_code == 200
    [newest] = bridge.store.find_documents(DocumentQuery(), limit=1)
    assert f'href="{href(newest)}"' in answer.text


@pytest.mark.parametrize(
    ("name", "day", "label"),
    [("since", "0001-01-01", "From"), ("until", "9999-12-31", "To")],
    ids=["first-day-of-the-calendar", "last-day-of-the-calendar"],
)
def test_a_day_no_sale_can_be_on_is_shown_naming_the_field(
    owner: TestClient, name: str, day: str, label: str
) -> None:
    answer = owner.get("/documents", params={name: day})
    assert answer.status_code == 400
    assert f"“{label}” field is not a date" in visible_text(answer.text)


def test_credit_of_an_amount_of_400_digits_is_refused_with_the_message(
    owner: TestClient, bridge: Bridge, issued: Issued
) -> None:
    doc = issued.alice  # refused: nothing of it changes
    answer = post(
        owner, href(doc, "/credit"), href(doc), reason="Geste", scope="amount", amount="9" * 400
    )
    assert answer.status_code == 400
    assert "is not a number such as 12.50" in visible_text(answer.text)
    assert bridge.store.credit_notes_of(doc.id) == []


def test_resend_to_an_address_of_5000_characters_is_refused_naming_the_field(
    owner: TestClient, bridge: Bridge, issued: Issued
) -> None:
    doc = issued.alice  # refused: nothing of it changes
    to = "a" * 4990 + "@example.fr"
    answer = post(owner, href(doc, "/resend"), href(doc), channel="email", to=to)
    assert answer.status_code == 400
    assert "to is 5001 characters long" in visible_text(answer.text)
    assert [d for d in deliveries_of(bridge, doc) if d[2] == "pending"] == []


# --------------------------------------------------------------------------- double submits


def request_id_of(html: str, form: str) -> str:
    """The hidden request id of the form posting to ".../<form>" on the page."""
    found = re.search(
        rf'action="[^"]*/{form}">\s*<input[^>]*name="csrf"[^>]*>\s*'
        r'<input type="hidden" name="request_id" value="([^"]+)">',
        html,
    )
    assert found, f"no request id in the {form} form"
    return found.group(1)


def test_each_showing_of_the_forms_carries_a_new_request_id(
    owner: TestClient, issued: Issued
) -> None:
    first, second = owner.get(href(issued.alice)).text, owner.get(href(issued.alice)).text
    assert request_id_of(first, "credit") != request_id_of(second, "credit")
    assert request_id_of(first, "resend") != request_id_of(second, "resend")


def test_a_credit_posted_twice_issues_one_credit_note(owner: TestClient, bridge: Bridge) -> None:
    doc = fresh(bridge)
    request_id = request_id_of(owner.get(href(doc)).text, "credit")
    form = {"reason": "Geste", "scope": "amount", "amount": "2", "request_id": request_id}
    for _ in range(2):
        assert post(owner, href(doc, "/credit"), href(doc), **form).status_code == 303
    [note] = bridge.store.credit_notes_of(doc.id)
    assert note.snapshot.totals.total_incl == Decimal("2.00")
    assert note.source == f"manual:{request_id}"


def test_a_credit_posted_again_shows_the_first_credit_note(
    owner: TestClient, bridge: Bridge
) -> None:
    doc = fresh(bridge)
    request_id = request_id_of(owner.get(href(doc)).text, "credit")
    form = {"reason": "Retour complet", "scope": "all", "request_id": request_id}
    first = post(owner, href(doc, "/credit"), href(doc), **form)
    again = post(owner, href(doc, "/credit"), href(doc), **form)
    [note] = bridge.store.credit_notes_of(doc.id)
    assert again.status_code == 303
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["location"] == href(note, f"?done=credited&what={quote(note.number)}")


def test_a_credit_whose_pdf_failed_posted_again_archives_its_note_not_a_second(
    owner: TestClient, bridge: Bridge, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = fresh(bridge)
    request_id = request_id_of(owner.get(href(doc)).text, "credit")
    form = {"reason": "Geste", "scope": "amount", "amount": "1", "request_id": request_id}

    def unarchived(*_: object) -> bytes:
        raise StepError("the archive is full")

    monkeypatch.setattr(corrections, "ensure_pdf", unarchived)
    refused = post(owner, href(doc, "/credit"), href(doc), **form)
    assert refused.status_code == 400 and "its PDF was not archived" in refused.text
    # The form shown again is the same request: the owner posting it again is answered
    # with the note it issued, archived this time.
    assert request_id_of(refused.text, "credit") == request_id
    monkeypatch.undo()
    again = post(owner, href(doc, "/credit"), href(doc), **form)
    [note] = bridge.store.credit_notes_of(doc.id)
    assert again.headers["location"] == href(note, f"?done=credited&what={quote(note.number)}")
    archived = bridge.store.get_invoice(note.number)
    assert archived is not None and archived.pdf_sha256


def test_a_resend_posted_twice_queues_one_delivery(owner: TestClient, bridge: Bridge) -> None:
    doc = fresh(bridge)
    to = new_email("twice")
    request_id = request_id_of(owner.get(href(doc)).text, "resend")
    for _ in range(2):
        answer = post(
            owner, href(doc, "/resend"), href(doc), channel="email", to=to, request_id=request_id
        )
        assert answer.status_code == 303
        assert answer.headers["location"] == href(doc, f"?done=resent&what={quote(to)}")
    assert [d for d in deliveries_of(bridge, doc) if d[1] == to] == [("email", to, "pending")]


# --------------------------------------------------------------------------- the overview


def todays_link(owner: TestClient, label: str) -> str:
    """The overview's link on the demo shop's count of today's `label`."""
    page = owner.get("/")
    assert page.status_code == 200
    found = re.search(
        rf'<section[^>]*>\s*<h3[^>]*>demo\b.*?<dt>{label}</dt><dd><a href="([^"]+)">',
        page.text,
        re.S,
    )
    assert found, f"no link on {label}"
    return unescape(found.group(1))


def test_the_overview_links_todays_invoices_to_the_invoices_only(
    owner: TestClient, bridge: Bridge
) -> None:
    doc = fresh(bridge)
    post(owner, href(doc, "/credit"), href(doc), reason="Geste", scope="amount", amount="1")
    [note] = bridge.store.credit_notes_of(doc.id)
    listed = owner.get(todays_link(owner, "Invoices issued")).text
    assert f'href="{href(doc)}"' in listed and f'href="{href(note)}"' not in listed


def test_the_overview_links_todays_credit_notes_to_the_credit_notes_only(
    owner: TestClient, bridge: Bridge
) -> None:
    doc = fresh(bridge)
    post(owner, href(doc, "/credit"), href(doc), reason="Geste", scope="amount", amount="1")
    [note] = bridge.store.credit_notes_of(doc.id)
    listed = owner.get(todays_link(owner, "Credit notes issued")).text
    assert f'href="{href(note)}"' in listed and f'href="{href(doc)}"' not in listed
