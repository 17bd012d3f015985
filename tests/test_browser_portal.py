"""The customer's side in a real Chromium: from the receipt email's links to the portal, a
download, the survey, and the owner's statistics.

One shop, issued and emailed by the real pipeline to a real SMTP server; the real app served
by uvicorn on loopback; Chromium from the OS. Screenshots of every page at phone and desktop
widths go to test-results/screenshots/.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import structlog
import time_machine
from typer.testing import CliRunner

from bridge.cli import app as cli_app
from bridge.config import load_settings
from bridge.demo import sample_orders
from bridge.devsmtp import CaptureSMTPServer
from bridge.pipeline import submit_order
from bridge.services import Services
from bridge.web.app import create_app
from bridge.worker import work
from connectors.woocommerce.sandbox import WooSandbox
from tests.support.app import AppServer
from tests.support.browser import VIEWPORTS, screenshot
from tests.support.config import toml_text, write_config
from tests.support.shops import woo_shop

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = [
    pytest.mark.browser,
    pytest.mark.filterwarnings("ignore:'imghdr' is deprecated:DeprecationWarning"),
]

SHOP = "boutique"
HUGO, EMILY, LEA = "hugo@example.fr", "emily@example.ie", "lea@example.fr"
NINA, OMAR = "nina@example.fr", "omar@example.fr"


class LateApp:
    """An ASGI app set after the server is listening: the service's public URL must name the
    port, which is known only once the socket is bound."""

    app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


@dataclass
class Shop:
    svc: Services
    config: Path
    url: str
    emails: dict[str, list[str]]  # address → the plain text of each email sent there

    def links(self, address: str, pattern: str) -> list[str]:
        return [m for text in self.emails[address] for m in re.findall(pattern, text)]

    def portal_link(self, address: str) -> str:
        return self.links(address, rf"{re.escape(self.url)}/portal/\S+")[-1]

    def survey_link(self, address: str, score: int) -> str:
        return self.links(address, rf"{re.escape(self.url)}/survey/\S+score={score}")[-1]

    def survey_of(self, address: str) -> Any:
        [invoice] = [
            doc
            for doc in self.svc.store.customer_documents(self.customer(address).id)
            if doc.kind == "invoice"
        ][:1]
        return self.svc.store.survey(invoice.id)

    def customer(self, address: str) -> Any:
        customer = self.svc.store.customer(SHOP, address)
        assert customer is not None
        return customer


def order_for(order_id: str, email: str, first_name: str) -> Any:
    base = sample_orders()[0][1]
    customer = base.customer.model_copy(update={"email": email, "first_name": first_name})
    return base.model_copy(
        update={"shop": SHOP, "order_id": order_id, "reference": f"#{order_id}",
                "customer": customer}
    )  # fmt: skip


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    tmp = tmp_path_factory.mktemp("browser-portal")
    late = LateApp()
    with CaptureSMTPServer() as smtp, AppServer(late) as server, WooSandbox(seed=False) as woo:
        config = write_config(
            tmp / "quittance.toml",
            smtp_port=smtp.port,
            server={"public_url": server.url, "link_secret": "browser-tests-link-secret"},
            shops=[woo_shop(SHOP, woo)],  # the attach-back writes to the sandbox shop
        )
        with config.open("a", encoding="utf-8") as file:
            file.write(toml_text({"surveys": [{"shop": SHOP, "scale": 5}]}))
        svc = Services.from_settings(load_settings(config, environ={}))
        late.app = create_app(svc)
        orders = [("2001", HUGO, "Hugo"), ("2002", HUGO, "Hugo"), ("2003", EMILY, "Emily"),
                  ("2004", LEA, "Léa"), ("2005", NINA, "Nina"), ("2006", OMAR, "Omar")]  # fmt: skip
        for order_id, email, name in orders:
            woo.add_order({"id": int(order_id), "status": "processing", "line_items": [],
                           "meta_data": []}, notify=False)  # fmt: skip
            submit_order(svc, order_for(order_id, email, name))
        work(svc, once=True)
        emails: dict[str, list[str]] = {}
        for received in smtp.received:
            message = received.message()
            text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
            emails.setdefault(str(message["To"]).rpartition("<")[2].strip(">"), []).append(text)
        try:
            yield Shop(svc, config, server.url, emails)
        finally:
            svc.close()


def stats(config: Path) -> dict[str, Any]:
    result = CliRunner().invoke(cli_app, ["stats", "--json", "--shop", SHOP, "-c", str(config)])
    structlog.reset_defaults()  # the CLI configured structlog on the runner's closed stderr
    assert result.exit_code == 0, result.output
    [report] = json.loads(result.stdout)["shops"]
    return report


def screenshots(page: Page, name: str) -> None:
    for width in VIEWPORTS:
        assert screenshot(page, name, width).stat().st_size > 0


def test_the_emails_portal_link_lists_the_customers_documents(shop: Shop, page: Page) -> None:
    page.goto(shop.portal_link(HUGO))
    rows = page.locator("table.documents tbody tr")
    numbers = [doc.number for doc in shop.svc.store.customer_documents(shop.customer(HUGO).id)]
    assert rows.count() == 2
    assert all(page.get_by_text(number, exact=True).count() >= 1 for number in numbers)
    assert page.get_by_text("Emily").count() == 0  # another customer's documents stay theirs
    screenshots(page, "portal-documents")


def test_a_document_downloads_from_the_portal_as_the_archived_pdf(shop: Shop, page: Page) -> None:
    page.goto(shop.portal_link(HUGO))
    newest = shop.svc.store.customer_documents(shop.customer(HUGO).id)[0]
    with page.expect_download() as download:
        page.locator("a.download").first.click()
    saved = Path(download.value.path())
    assert saved.read_bytes() == shop.svc.archive.read(newest.pdf_sha256 or "")
    assert shop.svc.store.downloads_of(newest.id) >= 1


def test_the_survey_link_preselects_its_score_and_records_nothing(shop: Shop, page: Page) -> None:
    page.goto(shop.survey_link(HUGO, 4))
    assert page.locator("input[name=score][value='4']").is_checked()
    screenshots(page, "survey-form")
    assert shop.survey_of(HUGO).score is None


def test_submitting_the_survey_records_it_and_the_statistics_change(shop: Shop, page: Page) -> None:
    before = stats(shop.config)
    page.goto(shop.survey_link(EMILY, 2))
    page.fill("textarea[name=comment]", "Le colis est arrivé abîmé.")
    with page.expect_navigation():
        page.locator("button[type=submit]").click()
    screenshots(page, "survey-thanks")
    after = stats(shop.config)
    assert shop.survey_of(EMILY).score == 2
    assert after["answered"] == before["answered"] + 1
    assert [c["comment"] for c in after["comments"]] == ["Le colis est arrivé abîmé."]


def test_the_survey_can_be_answered_with_the_keyboard_alone(shop: Shop, page: Page) -> None:
    page.goto(shop.survey_link(LEA, 5))
    page.locator("input[name=score][value='5']").focus()
    page.keyboard.press("ArrowLeft")  # radio group: arrows move and select
    page.locator("button[type=submit]").focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert shop.survey_of(LEA).score == 4


def test_an_expired_portal_link_offers_a_new_one_sent_to_the_address_on_file(
    shop: Shop, page: Page
) -> None:
    link = shop.portal_link(HUGO)
    with time_machine.travel(datetime.now(UTC) + timedelta(days=91), tick=True):
        response = page.goto(link)
        assert response is not None and response.status == 410
        screenshots(page, "portal-expired")
        with page.expect_navigation():
            page.locator("button[type=submit]").click()
        screenshots(page, "portal-new-link-sent")
    jobs = [job for job in shop.svc.store.list_jobs(("pending",)) if job.kind == "portal_link"]
    assert [job.payload["customer_id"] for job in jobs] == [shop.customer(HUGO).id]


def test_two_surveys_opened_from_a_webmail_in_two_tabs_both_submit(shop: Shop, page: Page) -> None:
    """A click in a webmail is a cross-site navigation: the second tab must not void the
    first tab's form (its CSRF cookie is shared, and sent on such a navigation)."""
    tabs = [page, page.context.new_page()]
    for tab, (address, score) in zip(tabs, [(NINA, 4), (OMAR, 2)], strict=True):
        tab.set_content(f'<a id="link" href="{shop.survey_link(address, score)}">avis</a>')
        with tab.expect_navigation():
            tab.click("#link")
    for tab in tabs:
        with tab.expect_navigation():
            tab.locator("button[type=submit]").click()
    assert (shop.survey_of(NINA).score, shop.survey_of(OMAR).score) == (4, 2)
