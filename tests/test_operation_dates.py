"""The date of the operation (CGI art. 242 nonies A, I-7°): a line property the shop dates the
operation with, read by the connector, kept by the snapshot, and printed on the PDF only when
it is not the issue date — once for the document when every line shares it, else on each line.

Orders come from the platforms' sandboxes through their connectors; the PDFs are rendered and
read back. Dates are relative to the sandbox's clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bridge.config import SellerConfig, load_settings
from bridge.demo import DEMO_CONFIG
from bridge.invoicing.build import Numbering, build_invoice
from bridge.invoicing.snapshot import InvoiceSnapshot
from bridge.model import Order
from bridge.render import format_date, render_pdf
from connectors.registry import connector_for
from connectors.shopify.sandbox import ShopifySandbox
from connectors.shopify.sandbox_orders import Item as ShopifyItem
from connectors.shopify.sandbox_orders import build_order
from connectors.shopify.settings import ShopifyShop
from connectors.woocommerce.sandbox import WooSandbox
from connectors.woocommerce.sandbox_orders import Item, make_order, make_product
from connectors.woocommerce.settings import WooCommerceShop
from tests.support.bridges import woo_bridge
from tests.support.documents import pdf_text
from tests.support.shops import shopify_shop, woo_shop

NUMBERING = Numbering(series="FA", number="FA-2026-000001", sequence=1)
BUYER = {
    "first_name": "Camille", "last_name": "Roux", "address_1": "3 rue Mercière",
    "postcode": "69002", "city": "Lyon", "country": "FR", "email": "camille.roux@example.fr",
}  # fmt: skip
WORKSHOP = 800


@pytest.fixture(scope="module")
def seller() -> SellerConfig:
    return load_settings(DEMO_CONFIG, environ={}).seller


@pytest.fixture
def wc() -> Iterator[WooSandbox]:
    with WooSandbox(seed=False) as sandbox:
        sandbox.add_product(make_product(WORKSHOP, "Atelier", virtual=True))
        yield sandbox


def flat(text: str) -> str:
    """PDF text with every run of spaces (no-break ones too) as one space."""
    return " ".join(text.split())


def fr(day: date) -> str:
    return day.strftime("%d/%m/%Y")


class Shop:
    """One WooCommerce sale: when it is paid, when its invoice is issued (an hour later)."""

    def __init__(self, wc: WooSandbox, seller: SellerConfig) -> None:
        self.wc, self.seller = wc, seller
        self.paid_at = wc.now() - timedelta(hours=2)
        self.issued_at = self.paid_at + timedelta(hours=1)
        self.issue_date = self.issued_at.astimezone(ZoneInfo(seller.timezone)).date()

    def order(self, *items: Item, order_id: int = 4100) -> Order:
        raw = make_order(
            order_id, items=list(items), billing=BUYER,
            created=self.paid_at - timedelta(minutes=1), paid_at=self.paid_at,
        )  # fmt: skip
        self.wc.add_order(raw, notify=False)
        shop = WooCommerceShop.model_validate(woo_shop("wc", self.wc))
        fetched = connector_for(shop).fetch_order(str(order_id))
        assert fetched.order is not None
        return fetched.order

    def invoice(self, order: Order) -> InvoiceSnapshot:
        return build_invoice(order, self.seller, NUMBERING, issued_at=self.issued_at)

    def pdf(self, *items: Item) -> str:
        return flat(pdf_text(render_pdf(self.invoice(self.order(*items)))))


@pytest.fixture
def shop(wc: WooSandbox, seller: SellerConfig) -> Shop:
    return Shop(wc, seller)


def workshop(day: date | str, name: str = "Atelier") -> Item:
    written = day if isinstance(day, str) else fr(day)
    return Item(name, "45.00", product_id=WORKSHOP, meta={"Date": written})


# ------------------------------------------------------------- one date for the document


def test_a_date_of_the_operation_after_the_issue_date_is_printed(shop) -> None:
    day = shop.issue_date + timedelta(days=30)
    assert f"Date de l'opération : {fr(day)}" in shop.pdf(workshop(day))


def test_a_date_of_the_operation_on_the_issue_date_is_not_printed(shop) -> None:
    assert "Date de l'opération" not in shop.pdf(workshop(shop.issue_date))


def test_lines_sharing_a_date_print_it_once_for_the_document(shop) -> None:
    day = shop.issue_date + timedelta(days=30)
    text = shop.pdf(workshop(day, "Atelier thé"), workshop(day, "Atelier café"))
    assert text.count(fr(day)) == 1


def test_the_shared_date_is_kept_by_the_snapshot(shop) -> None:
    day = shop.issue_date + timedelta(days=30)
    assert shop.invoice(shop.order(workshop(day))).operation_date == day


def test_the_date_property_is_not_printed_again_as_an_attribute(shop) -> None:
    day = shop.issue_date + timedelta(days=30)
    assert f"Date : {fr(day)}" not in shop.pdf(workshop(day))


# ------------------------------------------------------------------- dates line by line


def test_lines_with_different_dates_each_print_their_own(shop) -> None:
    first, second = shop.issue_date + timedelta(days=30), shop.issue_date + timedelta(days=37)
    text = shop.pdf(workshop(first, "Atelier thé"), workshop(second, "Atelier café"))
    assert f"Atelier thé (prestation du {fr(first)})" in text
    assert f"Atelier café (prestation du {fr(second)})" in text


def test_lines_with_different_dates_print_no_date_for_the_document(shop) -> None:
    first, second = shop.issue_date + timedelta(days=30), shop.issue_date + timedelta(days=37)
    text = shop.pdf(workshop(first, "Atelier thé"), workshop(second, "Atelier café"))
    assert "Date de l'opération" not in text


def test_a_dated_line_beside_an_undated_one_prints_its_date_on_its_line(shop) -> None:
    day = shop.issue_date + timedelta(days=30)
    text = shop.pdf(workshop(day), Item("Théière", "40.00"))
    assert f"Atelier (prestation du {fr(day)})" in text and "Date de l'opération" not in text


def test_a_dated_goods_line_says_it_is_delivered_that_day(shop) -> None:
    day = shop.issue_date + timedelta(days=60)  # a pre-order
    text = shop.pdf(
        Item("Théière", "40.00", meta={"Date de livraison": fr(day)}), Item("Tasse", "9.00")
    )
    assert f"Théière (livraison du {fr(day)})" in text


def test_a_line_dated_on_the_issue_date_prints_no_date_on_its_line(shop) -> None:
    later = shop.issue_date + timedelta(days=30)
    text = shop.pdf(workshop(shop.issue_date, "Atelier thé"), workshop(later, "Atelier café"))
    assert "Atelier thé (" not in text


# --------------------------------------------------------------------------- the snapshot


def test_an_undated_invoice_hashes_as_before_the_field_existed(shop) -> None:
    snapshot = shop.invoice(shop.order(Item("Théière", "40.00")))
    assert snapshot.operation_date is None
    assert '"operation_date"' not in snapshot.canonical_json()


def test_a_dated_invoice_keeps_its_date_in_what_is_hashed(shop) -> None:
    day = shop.issue_date + timedelta(days=30)
    snapshot = shop.invoice(shop.order(workshop(day)))
    assert f'"operation_date":"{day.isoformat()}"' in snapshot.canonical_json()


# ------------------------------------------------------------------------- Shopify, English


def test_a_shopify_line_property_dates_the_operation_in_english(seller) -> None:
    with ShopifySandbox(seed=False) as sandbox:
        paid_at = sandbox.now() - timedelta(hours=2)
        issued_at = paid_at + timedelta(hours=1)
        day = issued_at.astimezone(ZoneInfo(seller.timezone)).date() + timedelta(days=30)
        item = ShopifyItem(
            "Tea workshop", "45.00", requires_shipping=False, properties={"Date": day.isoformat()}
        )
        sandbox.add_order(build_order(6100, "#6100", [item], locale="en", created_at=paid_at))
        shop = ShopifyShop.model_validate(shopify_shop("s", sandbox))
        order = connector_for(shop).fetch_order("6100").order
    assert order is not None
    snapshot = build_invoice(order, seller, NUMBERING, issued_at=issued_at)
    text = flat(pdf_text(render_pdf(snapshot)))
    assert f"Date of supply: {format_date(day, 'en')}" in text


# ---------------------------------------------------------------------------- end to end


@pytest.fixture
def training_pdf(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """The seeded shop's B2B training (a virtual product, dated a month ahead) once the bank
    transfer arrives: its webhook, the worker, the archived PDF's text; and the date as the
    shop wrote it on the line."""
    with woo_bridge(tmp_path) as b:
        (written,) = [
            m["value"] for m in b.wc.order(1006)["line_items"][0]["meta_data"] if m["key"] == "Date"
        ]
        b.wc.set_status(1006, "processing", paid=True, notify=False)
        assert [r.status for r in b.wc.deliver_webhook(b.webhook_url, 1006)] == [200]
        b.work()
        (invoice,) = [i for i in b.invoices() if i.order_id == "1006"]
        yield flat(pdf_text(b.svc.archive.read(invoice.pdf_sha256))), written


def test_the_seeded_training_is_invoiced_as_a_supply_of_services(training_pdf) -> None:
    text, _ = training_pdf
    assert "Prestation de services" in text and "Livraison de biens" not in text


def test_the_seeded_training_prints_its_date_of_the_operation(training_pdf) -> None:
    text, written = training_pdf
    assert f"Date de l'opération : {written}" in text
