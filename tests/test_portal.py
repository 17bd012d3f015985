"""The customer's portal through the real public app: documents issued by the real pipeline,
emailed to a real SMTP server on loopback, written back to a WooCommerce sandbox, over a real
SQLite database. Links expire and are revoked, a new one goes to the address on file only,
the forms answer the same whatever the address, the rate limits live in the database, and
nothing a customer is shown may be kept, indexed or leaked through a Referer."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
import structlog
import time_machine
from fastapi.testclient import TestClient

from bridge.devsmtp import CaptureSMTPServer, Received
from bridge.links import invoice_token
from bridge.logs import configure_logging
from bridge.store import InvoiceRecord
from bridge.store.records import CustomerRecord
from bridge.web.app import create_app
from bridge.worker import work
from connectors.woocommerce.sandbox import WooSandbox
from tests.support.config import SERVER
from tests.support.portal import (
    LINK_SECRET,
    PUBLIC_URL,
    Bridge,
    assert_private,
    hidden,
    html_of,
    links_in,
    moved,
    new_email,
    order_for,
    page,
    path_of,
    portal_link,
    portal_links,
    sample,
    text_of,
    visible_text,
    visitor,
)

LINK_DAYS = 90  # [portal] defaults
RENEWAL_DAYS = 7
NEXT_SECRET = "the-next-link-secret-0123456789abcdef"


@pytest.fixture(scope="module", autouse=True)
def _json_logs() -> Iterator[None]:
    configure_logging("WARNING", "json")  # the console renderer is slow and noisy
    yield
    structlog.reset_defaults()


@pytest.fixture(scope="module")
def bridge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bridge]:
    """A WooCommerce shop's bridge whose rate limits no test of this module reaches (the
    limits are tested on a bridge of their own)."""
    with CaptureSMTPServer() as smtp, WooSandbox(seed=False) as woo:
        started = Bridge.start(
            tmp_path_factory.mktemp("portal"),
            smtp,
            woo=woo,
            portal={"requests_per_minute": 100_000, "new_links_per_hour": 1_000},
        )
        try:
            yield started
        finally:
            started.close()


@dataclass(frozen=True)
class Customer:
    email: str
    invoices: list[InvoiceRecord]
    link: str  # the portal link of the first receipt

    @property
    def first(self) -> InvoiceRecord:
        return self.invoices[0]


def customer_of(bridge: Bridge, *prefixes: str) -> Customer:
    """A new customer of the shop, with one order per sample prefix, each one emailed."""
    email = new_email()
    invoices = [bridge.issue_for(email, prefix) for prefix in prefixes or ("01",)]
    return Customer(email, invoices, portal_link(bridge.receipt(invoices[0].number)))


def record_of(bridge: Bridge, customer: Customer) -> CustomerRecord:
    found = bridge.store.customer(bridge.shop, customer.email)
    assert found is not None
    return found


@pytest.fixture(scope="module")
def returning(bridge: Bridge) -> Customer:
    """A customer with two orders (a card one, then a bank transfer), read-only."""
    return customer_of(bridge, "01", "02")


@pytest.fixture(scope="module")
def neighbour(bridge: Bridge, returning: Customer) -> Customer:
    """Another customer of the same shop, issued after `returning`."""
    return customer_of(bridge, "01")


def rows(html: str) -> dict[str, dict[str, str]]:
    """The documents table by number: each column's text, and the download link."""
    found = {}
    for tr in page(html).xpath("//table//tbody/tr"):
        cells = [" ".join(c.text_content().replace("\u00a0", " ").split()) for c in tr]
        (href,) = tr.xpath(".//a/@href")
        found[cells[0]] = {"kind": cells[1], "date": cells[2], "amount": cells[3], "url": href}
    return found


def euros(amount: Decimal) -> str:
    return f"{amount:.2f}".replace(".", ",") + " €"


def portal_jobs(bridge: Bridge, customer: CustomerRecord) -> int:
    return sum(1 for job in bridge.jobs("portal_link") if job.payload["customer_id"] == customer.id)


def request_link(bridge: Bridge, email: str, client: TestClient | None = None) -> httpx.Response:
    """What a customer does on the "send me a link" page: open it, type the address, send."""
    client = client or bridge.visitor()
    form = client.get(f"/portal/request/{bridge.shop}")
    assert form.status_code == 200
    return client.post(
        f"/portal/request/{bridge.shop}", data={"email": email, "csrf": hidden(form.text, "csrf")}
    )


def renew(client: TestClient, expired: httpx.Response) -> httpx.Response:
    """Press "send me a new link" on an expired-link page."""
    fields = {name: hidden(expired.text, name) for name in ("token", "csrf")}
    (action,) = page(expired.text).xpath("//form/@action")
    return client.post(action, data=fields)


# -- the receipt's link and the documents page ---------------------------------------------


def test_the_receipt_links_to_the_customers_portal(bridge: Bridge, returning: Customer) -> None:
    message = bridge.receipt(returning.first.number)
    (link,) = portal_links(message)
    assert link in links_in(html_of(message))


def test_the_portal_lists_every_document_of_the_customer(
    bridge: Bridge, returning: Customer
) -> None:
    answer = bridge.visitor().get(path_of(returning.link))
    assert answer.status_code == 200
    assert set(rows(answer.text)) == {i.number for i in returning.invoices}


def test_the_portal_shows_each_documents_date_and_amount(
    bridge: Bridge, returning: Customer
) -> None:
    shown = rows(bridge.visitor().get(path_of(returning.link)).text)
    orders = {"01": sample("01"), "02": sample("02")}
    for invoice, prefix in zip(returning.invoices, ("01", "02"), strict=True):
        row = shown[invoice.number]
        assert row["date"] == f"{invoice.snapshot.issue_date:%d/%m/%Y}"
        assert row["amount"] == euros(orders[prefix].total)


def test_the_portal_lists_the_newest_document_first(bridge: Bridge, returning: Customer) -> None:
    shown = rows(bridge.visitor().get(path_of(returning.link)).text)
    assert list(shown) == [i.number for i in reversed(returning.invoices)]


def test_the_portal_does_not_list_another_customers_documents(
    bridge: Bridge, returning: Customer, neighbour: Customer
) -> None:
    answer = bridge.visitor().get(path_of(returning.link))
    assert neighbour.first.number not in answer.text


def test_a_portal_download_is_the_archived_pdf(bridge: Bridge, returning: Customer) -> None:
    client = bridge.visitor()
    shown = rows(client.get(path_of(returning.link)).text)
    for invoice in returning.invoices:
        pdf = client.get(shown[invoice.number]["url"])
        assert pdf.status_code == 200
        assert pdf.headers["content-type"] == "application/pdf"
        assert pdf.content == bridge.svc.archive.read(invoice.pdf_sha256 or "")


def test_each_portal_download_is_logged(bridge: Bridge, returning: Customer) -> None:
    client = bridge.visitor()
    url = rows(client.get(path_of(returning.link)).text)[returning.first.number]["url"]
    before = bridge.store.downloads_of(returning.first.id)
    for _ in range(2):
        assert client.get(url).status_code == 200
    assert bridge.store.downloads_of(returning.first.id) == before + 2


def test_another_customers_document_is_404_through_this_portal(
    bridge: Bridge, returning: Customer, neighbour: Customer
) -> None:
    before = bridge.store.downloads_of(neighbour.first.id)
    answer = bridge.visitor().get(
        f"{path_of(returning.link)}/documents/{neighbour.first.number}.pdf"
    )
    assert answer.status_code == 404
    assert b"%PDF" not in answer.content
    assert bridge.store.downloads_of(neighbour.first.id) == before


def test_a_link_we_did_not_sign_is_404(bridge: Bridge, returning: Customer) -> None:
    token = path_of(returning.link).removeprefix("/portal/")
    forged = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    assert bridge.visitor().get(f"/portal/{forged}").status_code == 404


def test_the_document_link_on_the_shops_order_downloads_the_archived_pdf(
    bridge: Bridge, returning: Customer
) -> None:
    link = bridge.document_link_on_order(returning.first.order_id)
    before = bridge.store.downloads_of(returning.first.id)
    pdf = bridge.visitor().get(path_of(link))
    assert pdf.status_code == 200
    assert pdf.content == bridge.svc.archive.read(returning.first.pdf_sha256 or "")
    assert bridge.store.downloads_of(returning.first.id) == before + 1


def test_the_portals_new_link_page_opens_for_a_shop_without_a_shops_entry(
    bridge: Bridge,
) -> None:
    """Documents issued by `quittance issue` or an import (the demo's samples) have customers
    too: the documents page links them to the request form of their shop."""
    invoice = bridge.issue(order_for(new_email(), shop="demo"))
    client = bridge.visitor()
    documents = client.get(path_of(portal_link(bridge.receipt(invoice.number))))
    assert documents.status_code == 200
    (request_url,) = [u for u in page(documents.text).xpath("//a/@href") if "/request/" in u]
    assert client.get(request_url).status_code == 200


# -- expiry and renewal --------------------------------------------------------------------


def test_a_portal_link_opens_until_its_last_day(bridge: Bridge, returning: Customer) -> None:
    with moved(days=LINK_DAYS - 1):
        assert bridge.visitor().get(path_of(returning.link)).status_code == 200


def test_an_expired_portal_link_answers_410_offering_a_new_link(
    bridge: Bridge, returning: Customer
) -> None:
    with moved(days=LINK_DAYS + 1):
        answer = bridge.visitor().get(path_of(returning.link))
    assert answer.status_code == 410
    assert returning.first.number not in answer.text
    assert page(answer.text).xpath("//form[@method='post']/@action") == ["/portal/renew"]
    assert hidden(answer.text, "csrf") and hidden(answer.text, "token")


@dataclass(frozen=True)
class Renewal:
    customer: Customer
    at: datetime  # when the expired link was renewed
    jobs: int  # "portal_link" jobs of the customer once the button was pressed
    mails: list[Received]  # what the SMTP server received when the job ran


@pytest.fixture(scope="module")
def renewal(bridge: Bridge) -> Renewal:
    """A customer who opens their receipt's link after it expired and asks for a new one."""
    customer = customer_of(bridge, "01")
    at = datetime.now(UTC) + timedelta(days=LINK_DAYS + 1)
    with time_machine.travel(at, tick=False):
        client = bridge.visitor()
        assert renew(client, client.get(path_of(customer.link))).status_code == 200
        jobs = portal_jobs(bridge, record_of(bridge, customer))
        mails_before = len(bridge.smtp.received)
        work(bridge.svc, once=True)
    return Renewal(customer, at, jobs, bridge.smtp.received[mails_before:])


def test_renewing_an_expired_link_queues_one_link_to_send(renewal: Renewal) -> None:
    assert renewal.jobs == 1


def test_renewing_an_expired_link_emails_the_address_on_file_only(renewal: Renewal) -> None:
    assert [m.rcpt_tos for m in renewal.mails] == [[renewal.customer.email]]


def test_a_renewed_link_opens_the_portal(bridge: Bridge, renewal: Renewal) -> None:
    fresh = portal_link(renewal.mails[0].message())
    with time_machine.travel(renewal.at + timedelta(minutes=5), tick=False):
        answer = bridge.visitor().get(path_of(fresh))
    assert answer.status_code == 200
    assert renewal.customer.first.number in rows(answer.text)


def test_a_renewed_link_opens_for_the_renewal_days_only(bridge: Bridge, renewal: Renewal) -> None:
    fresh = path_of(portal_link(renewal.mails[0].message()))
    with time_machine.travel(renewal.at + timedelta(days=RENEWAL_DAYS - 1), tick=False):
        assert bridge.visitor().get(fresh).status_code == 200
    with time_machine.travel(renewal.at + timedelta(days=RENEWAL_DAYS + 1), tick=False):
        assert bridge.visitor().get(fresh).status_code == 410


def test_a_renewal_without_the_forms_csrf_pair_sends_nothing(
    bridge: Bridge, returning: Customer
) -> None:
    record = record_of(bridge, returning)
    before = portal_jobs(bridge, record)
    with moved(days=LINK_DAYS + 1):
        client = bridge.visitor()
        expired = client.get(path_of(returning.link))
        answer = client.post("/portal/renew", data={"token": hidden(expired.text, "token")})
    assert answer.status_code == 410
    assert portal_jobs(bridge, record) == before


# -- revocation ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Revoked:
    customer: Customer
    document_link: str  # the PDF link written onto the shop's order
    legacy_path: str  # a bare-signature PDF link of before


@pytest.fixture(scope="module")
def revoked(bridge: Bridge) -> Revoked:
    """A customer whose links all opened, then revoked (their email leaked, say)."""
    customer = customer_of(bridge, "01")
    held = Revoked(
        customer,
        bridge.document_link_on_order(customer.first.order_id),
        legacy_path(customer.first),
    )
    client = bridge.visitor()
    for url in (customer.link, held.document_link, held.legacy_path):
        assert client.get(path_of(url)).status_code == 200, url
    assert bridge.store.revoke_customer_links(bridge.shop, customer.email) == 1
    return held


def test_revoking_a_customer_stops_their_portal_link(bridge: Bridge, revoked: Revoked) -> None:
    answer = bridge.visitor().get(path_of(revoked.customer.link))
    assert answer.status_code == 410
    assert revoked.customer.first.number not in answer.text


def test_revoking_a_customer_stops_their_document_link(bridge: Bridge, revoked: Revoked) -> None:
    answer = bridge.visitor().get(path_of(revoked.document_link))
    assert answer.status_code == 410
    assert b"%PDF" not in answer.content


def test_revoking_a_customer_stops_their_legacy_link(bridge: Bridge, revoked: Revoked) -> None:
    answer = bridge.visitor().get(revoked.legacy_path)
    assert answer.status_code == 410
    assert b"%PDF" not in answer.content


def test_after_a_revocation_a_new_link_opens_the_portal(bridge: Bridge, revoked: Revoked) -> None:
    assert request_link(bridge, revoked.customer.email).status_code == 200
    work(bridge.svc, once=True)
    fresh = portal_link(bridge.mails_to(revoked.customer.email)[-1])
    assert fresh != revoked.customer.link
    assert bridge.visitor().get(path_of(fresh)).status_code == 200


# -- the bare-signature links sent before links expired ------------------------------------


def legacy_path(invoice: InvoiceRecord, secret: str = LINK_SECRET) -> str:
    return f"/invoices/{invoice.number}.pdf?t={invoice_token(secret, invoice.number)}"


def test_a_legacy_link_opens_the_archived_pdf(bridge: Bridge, returning: Customer) -> None:
    pdf = bridge.visitor().get(legacy_path(returning.first))
    assert pdf.status_code == 200
    assert pdf.content == bridge.svc.archive.read(returning.first.pdf_sha256 or "")


def test_a_legacy_link_opens_until_the_last_day_set(bridge: Bridge, returning: Customer) -> None:
    last_day = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()
    replica = bridge.replica("sunset-ahead", portal={"legacy_links_until": last_day})
    assert visitor(create_app(replica)).get(legacy_path(returning.first)).status_code == 200


def test_legacy_links_stop_after_the_last_day_set(bridge: Bridge, returning: Customer) -> None:
    last_day = (datetime.now(UTC) - timedelta(days=2)).date().isoformat()
    replica = bridge.replica("sunset-past", portal={"legacy_links_until": last_day})
    answer = visitor(create_app(replica)).get(legacy_path(returning.first))
    assert answer.status_code == 410
    assert b"%PDF" not in answer.content


@pytest.mark.parametrize("wrong", ["zeros", "another_number", "another_secret"])
def test_a_wrong_legacy_signature_is_403(
    bridge: Bridge, returning: Customer, neighbour: Customer, wrong: str
) -> None:
    number = returning.first.number
    token = {
        "zeros": "0" * 32,
        "another_number": invoice_token(LINK_SECRET, neighbour.first.number),
        "another_secret": invoice_token("not-our-secret", number),
    }[wrong]
    assert bridge.visitor().get(f"/invoices/{number}.pdf?t={token}").status_code == 403


# -- key rotation: a new [server] link_secret, the former one in previous_link_secrets -----


@pytest.fixture(scope="module")
def rotated(bridge: Bridge) -> TestClient:
    server = {**SERVER, "link_secret": NEXT_SECRET, "previous_link_secrets": [LINK_SECRET]}
    return visitor(create_app(bridge.replica("rotated", server=server)))


def test_a_portal_link_sent_before_a_key_rotation_opens(
    rotated: TestClient, returning: Customer
) -> None:
    assert rotated.get(path_of(returning.link)).status_code == 200


def test_a_legacy_link_signed_with_a_previous_secret_opens(
    rotated: TestClient, returning: Customer
) -> None:
    assert rotated.get(legacy_path(returning.first)).status_code == 200


def test_a_link_signed_with_a_retired_secret_is_404(bridge: Bridge, returning: Customer) -> None:
    replica = bridge.replica("retired", server={**SERVER, "link_secret": NEXT_SECRET})
    assert visitor(create_app(replica)).get(path_of(returning.link)).status_code == 404


# -- "send me a link" ----------------------------------------------------------------------


@dataclass(frozen=True)
class Requested:
    customer: Customer
    known: httpx.Response  # the answer to the customer's own address
    unknown: httpx.Response  # the answer to an address the shop never saw
    jobs_after_unknown: int  # "portal_link" jobs of every customer, before and after
    jobs_before: int
    customer_jobs: int  # the customer's, once both were sent
    mails: list[Received]  # what the SMTP server received when the jobs ran


@pytest.fixture(scope="module")
def requested(bridge: Bridge) -> Requested:
    """The form sent with an unknown address, then with a customer's (in capitals)."""
    customer = customer_of(bridge, "01")
    jobs_before = len(bridge.jobs("portal_link"))
    unknown = request_link(bridge, new_email("stranger"))
    jobs_after_unknown = len(bridge.jobs("portal_link"))
    known = request_link(bridge, customer.email.upper())  # addresses compare without case
    customer_jobs = portal_jobs(bridge, record_of(bridge, customer))
    mails_before = len(bridge.smtp.received)
    work(bridge.svc, once=True)
    return Requested(
        customer, known, unknown, jobs_after_unknown, jobs_before, customer_jobs,
        bridge.smtp.received[mails_before:],
    )  # fmt: skip


def test_the_request_form_answers_a_known_and_an_unknown_address_alike(
    requested: Requested,
) -> None:
    known, unknown = requested.known, requested.unknown
    assert known.status_code == unknown.status_code == 200
    assert known.content == unknown.content


def test_the_request_form_sends_nothing_for_an_unknown_address(requested: Requested) -> None:
    assert requested.jobs_after_unknown == requested.jobs_before


def test_the_request_form_sends_a_link_to_a_known_address(requested: Requested) -> None:
    assert requested.customer_jobs == 1
    assert [m.rcpt_tos for m in requested.mails] == [[requested.customer.email]]
    assert portal_link(requested.mails[0].message())


@pytest.mark.parametrize("missing", ["cookie", "field"])
def test_the_request_form_without_its_csrf_pair_is_refused_and_sends_nothing(
    bridge: Bridge, returning: Customer, missing: str
) -> None:
    record = record_of(bridge, returning)
    before = portal_jobs(bridge, record)
    client = bridge.visitor()
    form = client.get(f"/portal/request/{bridge.shop}")
    fields = {"email": returning.email, "csrf": hidden(form.text, "csrf")}
    if missing == "cookie":
        client.cookies.clear()
    else:
        del fields["csrf"]
    answer = client.post(f"/portal/request/{bridge.shop}", data=fields)
    assert answer.status_code == 400
    assert page(answer.text).xpath("//form//input[@name='email']")
    assert portal_jobs(bridge, record) == before


@pytest.mark.parametrize("address", ["no-at-sign.example.fr", "marie@localhost", "a b@example.fr"])
def test_the_request_form_refuses_an_invalid_address(bridge: Bridge, address: str) -> None:
    answer = request_link(bridge, address)
    assert answer.status_code == 400
    assert page(answer.text).xpath("//form//input[@name='email']")


def test_the_request_form_of_an_unknown_shop_is_404(bridge: Bridge) -> None:
    assert bridge.visitor().get("/portal/request/no-such-shop").status_code == 404


def test_a_second_new_link_within_the_hour_sends_nothing_and_answers_the_same(
    bridge: Bridge, neighbour: Customer
) -> None:
    """`[portal] new_links_per_hour = 1`, on a replica of the bridge."""
    app = create_app(bridge.replica("one-link-an-hour", portal={"new_links_per_hour": 1}))
    record = record_of(bridge, neighbour)
    before = portal_jobs(bridge, record)
    first = request_link(bridge, neighbour.email, visitor(app))
    assert portal_jobs(bridge, record) == before + 1
    with moved(minutes=2):  # another minute: not the same job again
        second = request_link(bridge, neighbour.email, visitor(app))
    assert portal_jobs(bridge, record) == before + 1
    assert (second.status_code, second.content) == (first.status_code, first.content)


# -- rate limits, counted in the database --------------------------------------------------


@pytest.fixture(scope="module")
def limits(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bridge]:
    """A bridge allowing 3 requests a minute per client address (no documents needed: the
    limit is counted before the link is read)."""
    with CaptureSMTPServer() as smtp:
        started = Bridge.start(
            tmp_path_factory.mktemp("limits"), smtp, portal={"requests_per_minute": 3}
        )
        try:
            yield started
        finally:
            started.close()


def test_the_fourth_request_of_a_minute_is_429_with_retry_after(limits: Bridge) -> None:
    client = limits.visitor()
    answers = [client.get("/portal/not-a-token") for _ in range(4)]
    assert [a.status_code for a in answers] == [404, 404, 404, 429]
    assert int(answers[-1].headers["Retry-After"]) > 0


def test_one_client_over_its_limit_does_not_slow_another(limits: Bridge) -> None:
    first = limits.visitor()
    for _ in range(4):
        first.get("/portal/not-a-token")
    assert limits.visitor().get("/portal/not-a-token").status_code == 404


def test_a_client_over_its_limit_is_served_again_the_next_minute(limits: Bridge) -> None:
    client = limits.visitor()
    for _ in range(4):
        client.get("/portal/not-a-token")
    with moved(minutes=1, seconds=1):
        assert client.get("/portal/not-a-token").status_code == 404


def test_two_replicas_on_one_database_share_the_count(limits: Bridge) -> None:
    replicas = [create_app(limits.svc), create_app(limits.replica("second-replica"))]
    address = ("192.0.2.10", 50000)
    clients = [TestClient(app, base_url=PUBLIC_URL, client=address) for app in replicas]
    statuses = [clients[n % 2].get("/portal/not-a-token").status_code for n in range(4)]
    assert statuses == [404, 404, 404, 429]


# -- what every answer to a customer carries -----------------------------------------------


Answer = Callable[[Bridge, Customer, Bridge], httpx.Response]


def _documents(b: Bridge, c: Customer, _: Bridge) -> httpx.Response:
    return b.visitor().get(path_of(c.link))


def _portal_pdf(b: Bridge, c: Customer, _: Bridge) -> httpx.Response:
    return b.visitor().get(f"{path_of(c.link)}/documents/{c.first.number}.pdf")


def _linked_pdf(b: Bridge, c: Customer, _: Bridge) -> httpx.Response:
    return b.visitor().get(path_of(b.document_link_on_order(c.first.order_id)))


def _invalid(b: Bridge, c: Customer, _: Bridge) -> httpx.Response:
    return b.visitor().get("/portal/not-a-token")


def _foreign(b: Bridge, c: Customer, _: Bridge) -> httpx.Response:
    return b.visitor().get(f"{path_of(c.link)}/documents/FA-0000-000000.pdf")


def _wrong_signature(b: Bridge, c: Customer, _: Bridge) -> httpx.Response:
    return b.visitor().get(f"/invoices/{c.first.number}.pdf?t={'0' * 32}")


def _expired(b: Bridge, c: Customer, _: Bridge) -> httpx.Response:
    with moved(days=LINK_DAYS + 1):
        return b.visitor().get(path_of(c.link))


def _slow_down(_: Bridge, __: Customer, limits: Bridge) -> httpx.Response:
    client = limits.visitor()
    for _ in range(3):
        client.get("/portal/not-a-token")
    return client.get("/portal/not-a-token")


def _request_form(b: Bridge, c: Customer, _: Bridge) -> httpx.Response:
    return b.visitor().get(f"/portal/request/{b.shop}")


def _sent(b: Bridge, c: Customer, _: Bridge) -> httpx.Response:
    return request_link(b, new_email("stranger"))


def _refused_form(b: Bridge, c: Customer, _: Bridge) -> httpx.Response:
    return b.visitor().post(f"/portal/request/{b.shop}", data={"email": c.email})


ANSWERS: dict[str, tuple[Answer, int]] = {
    "documents": (_documents, 200),
    "portal_pdf": (_portal_pdf, 200),
    "linked_pdf": (_linked_pdf, 200),
    "invalid": (_invalid, 404),
    "foreign_document": (_foreign, 404),
    "wrong_signature": (_wrong_signature, 403),
    "expired": (_expired, 410),
    "slow_down": (_slow_down, 429),
    "request_form": (_request_form, 200),
    "sent": (_sent, 200),
    "refused_form": (_refused_form, 400),
    "framework_405": (lambda b, _c, _l: b.visitor().head("/portal/not-a-token"), 405),
}


@pytest.mark.parametrize("name", ANSWERS)
def test_every_answer_to_a_customer_is_private(
    bridge: Bridge, returning: Customer, limits: Bridge, name: str
) -> None:
    answer, status = ANSWERS[name]
    response = answer(bridge, returning, limits)
    assert response.status_code == status
    assert_private(response)


# -- a shop whose links cannot be signed ---------------------------------------------------


@pytest.mark.parametrize(
    "server",
    [
        pytest.param(None, id="no_server_table"),
        pytest.param({"public_url": PUBLIC_URL}, id="no_link_secret"),
    ],
)
def test_without_public_url_and_link_secret_the_receipt_goes_without_links(
    tmp_path_factory: pytest.TempPathFactory, server: dict[str, str] | None
) -> None:
    with CaptureSMTPServer() as smtp:
        plain = Bridge.start(tmp_path_factory.mktemp("no-links"), smtp, server=server)
        try:
            email = new_email()
            invoice = plain.issue_for(email)
            (message,) = plain.mails_to(email)
        finally:
            plain.close()
    assert invoice.number in str(message["Subject"])
    for body in (text_of(message), html_of(message)):
        assert "/portal/" not in body and "/invoices/" not in body
    assert "Toutes vos factures" not in visible_text(html_of(message))
