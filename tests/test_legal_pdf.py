"""Every legal case, rendered to PDF and read back: the mentions and amounts are really printed.

The snapshots are the preview cases (issued through `build_invoice`, so they pass every rule);
here we check the PDF a tax inspector would hold. Text is compared after collapsing whitespace.
"""

from __future__ import annotations

import shutil
from decimal import Decimal
from io import BytesIO
from pathlib import Path

import pytest
from pypdf import PdfReader

from bridge.invoicing.snapshot import InvoiceSnapshot, VatRegime
from bridge.render import format_money, format_rate, render_pdf
from bridge.render.preview import preview_cases, write_previews

D = Decimal


def norm(text: str) -> str:
    return " ".join(text.split())


def pages_of(pdf: bytes) -> list[str]:
    return [norm(p.extract_text()) for p in PdfReader(BytesIO(pdf)).pages]


@pytest.fixture(scope="module")
def snaps() -> dict[str, InvoiceSnapshot]:
    return preview_cases()


@pytest.fixture(scope="module")
def pages(snaps) -> dict[str, list[str]]:
    return {name: pages_of(render_pdf(s)) for name, s in snaps.items()}


@pytest.fixture(scope="module")
def text(pages) -> dict[str, str]:
    return {name: " ".join(p) for name, p in pages.items()}


CASES = [
    "b2c",
    "b2b",
    "franchise",
    "intra_eu",
    "export",
    "foreign_currency",
    "refunded",
    "hundred_lines",
]


@pytest.mark.parametrize("name", CASES)
def test_every_mandatory_value_of_the_snapshot_is_printed(snaps, text, name: str) -> None:
    s, t = snaps[name], text[name]
    money = lambda x: norm(format_money(x, s.currency, s.locale))  # noqa: E731
    fr = s.locale == "fr"
    expected = [
        s.seller.legal_name,
        *s.seller.address_lines,
        f"SIREN {s.seller.siren}",
        s.buyer.name,
        *s.buyer.billing_lines,
        s.number,
        *(norm(x) for x in s.mentions),
        ("FACTURE ACQUITTÉE — payée le " if fr else "PAID INVOICE — paid on "),
        s.payment.method_label,
        s.payment.reference,
        ("Montant payé " if fr else "Amount paid ") + money(s.totals.amount_paid),
        ("Reste à payer " if fr else "Balance due ") + money(D("0")),
    ]
    if s.seller.vat_regime is VatRegime.franchise:
        expected.append("Total " + money(s.totals.total_incl))
    else:
        expected += [
            s.seller.vat_number,
            ("Total HT " if fr else "Total excl. VAT ") + money(s.totals.total_excl),
            ("Total TVA " if fr else "Total VAT ") + money(s.totals.total_vat),
            ("Total TTC " if fr else "Total incl. VAT ") + money(s.totals.total_incl),
        ]
        for b in s.vat_breakdown:  # VAT per rate: base and amount for each rate
            rate = norm(format_rate(b.rate, s.locale))
            expected.append(f"{'Taux' if fr else 'Rate'} {rate} {money(b.base)} {money(b.amount)}")
    if s.seller.rcs_city:
        expected.append(f"RCS {s.seller.rcs_city}")
    if s.seller.share_capital:
        expected.append(norm(s.seller.share_capital))
    if s.buyer.shipping_lines:
        expected += ["Livré à" if fr else "Ship to", *s.buyer.shipping_lines]
    if s.buyer.siren:
        expected.append(f"SIREN {s.buyer.siren}")
    if s.buyer.vat_number:
        expected.append(s.buyer.vat_number)
    for line in s.lines:
        expected.append(norm(line.description))
    for needle in expected:
        assert norm(needle) in t, f"{name}: {needle!r} not printed"


@pytest.mark.parametrize("name", CASES)
def test_every_page_is_numbered_and_carries_the_sellers_identity(pages, snaps, name) -> None:
    n = len(pages[name])
    for i, page in enumerate(pages[name], start=1):
        assert f"{snaps[name].number} · Page {i}/{n}" in page
        assert f"SIREN {snaps[name].seller.siren}" in page


def test_b2c_french_invoice(text) -> None:
    t = text["b2c"]
    for needle in (
        "SAS au capital de 10 000 €",
        "Date d'émission : 28/11/2026",
        "Date de paiement : 27/11/2026",  # date of sale differs from the issue date
        "Opération : Livraison de biens et prestation de services",
        "Tisane verveine bio — Format : 100 g TIS-VER-100 3 8,00 € -2,40 € 5,5 % 21,60 €",
        "Livraison Colissimo 1 4,92 € 20 % 4,92 €",  # shipping, its own VAT
        "Dont remises HT -6,40 €",
        "Taux 2,1 % 6,37 € 0,13 €",
        "Total TTC 115,39 €",
        "FACTURE ACQUITTÉE — payée le 27/11/2026 par carte bancaire (réf. ch_3QxYz2Lk9P)",
        "Garantie légale de conformité",
    ):
        assert needle in t, needle
    assert "Indemnité forfaitaire" not in t  # no B2B terms for a consumer


def test_b2b_invoice_carries_buyer_ids_and_payment_terms(text) -> None:
    t = text["b2b"]
    for needle in (
        "Bistrot du Port SARL",
        "N° TVA FR96552100554 · SIREN 552100554",
        "Option pour le paiement de la taxe d'après les débits",
        "Pénalités de retard : 3 fois le taux d'intérêt légal",
        "Indemnité forfaitaire pour frais de recouvrement : 40 €",
        "Pas d'escompte pour paiement anticipé",
        "par virement bancaire (réf. VIR-20261127-0042)",
        "Formation barista (demi-journée) (prestation du 27/12/2026) FORM-BAR-H 1 250,00 € 20 %",
        "Total TTC 507,90 €",
    ):
        assert needle in t, needle


def test_franchise_invoice_has_no_vat_anywhere_and_says_293_b(text) -> None:
    t = text["franchise"]
    assert "TVA non applicable, art. 293 B du CGI" in t
    assert "Camille Roux EI" in t and "Entrepreneur individuel" in t
    for absent in ("PU HT", "Total HT", "Total TVA", "Total TTC", "Détail de la TVA", "N° TVA"):
        assert absent not in t, absent
    assert "Total 118,00 €" in t and "Reste à payer 0,00 €" in t


def test_intra_eu_invoice_in_english_with_reverse_charge(text) -> None:
    t = text["intra_eu"]
    for needle in (
        "INVOICE",
        "Teehaus Schmidt GmbH",
        "Germany",
        "VAT no. DE136695976",
        "Reverse charge (Autoliquidation)",
        "VAT exempt intra-EU supply, art. 262 ter I CGI",
        "Rate 0% €393.00 €0.00",
        "Total incl. VAT €393.00",
        "Fixed compensation for recovery costs: 40 €",
    ):
        assert needle in t, needle


def test_export_invoice_says_art_262_i(text) -> None:
    t = text["export"]
    assert "Exonération de TVA, art. 262 I du CGI" in t and "Suisse" in t
    assert "Total TTC 88,00 €" in t


def test_foreign_currency_invoice_prints_dollars_and_the_eur_vat(text) -> None:
    t = text["foreign_currency"]
    assert "Linen apron — Colour : natural APR-LIN-NAT 2 $30.00 20% $60.00" in t
    assert "Total incl. VAT $108.00" in t and "Amount paid $108.00" in t
    # the VAT in euros at the ECB rate, not the shop's own counter-value (€16.85)
    assert "1 EUR = 1.0842 USD, ECB rate of 27 Nov 2026" in t
    assert "VAT 20%: €16.60" in t and "Total VAT in euros: €16.60" in t
    assert "Equivalent in EUR" not in t
    assert "PAID INVOICE — paid on 27 Nov 2026 by PayPal (ref. 8MC58520)" in t


def test_refunded_order_shows_the_refund_and_remains_paid(text) -> None:
    t = text["refunded"]
    assert "Montant payé 115,39 € Remboursé 6,50 € Reste à payer 0,00 €" in t


def test_hundred_lines_break_across_pages_with_the_header_repeated(pages, snaps) -> None:
    p = pages["hundred_lines"]
    assert len(p) >= 3
    for page in p:
        assert "Désignation Réf. Qté PU HT TVA Total HT" in page
    t = " ".join(p)
    for line in snaps["hundred_lines"].lines:
        assert norm(line.description) in t
    assert "Association des Amateurs de Thé de Saint-Rémy-de-Provence et des Alpilles" in t
    assert "Résidence « Les Oliviers », bâtiment C, escalier 4, appartement 1207" in t
    assert "Total TTC 1 865,57 €" in p[-1]
    assert "Indemnité forfaitaire pour frais de recouvrement : 40 €" in p[-1]


def test_write_previews_makes_a_pdf_per_case_and_pngs(tmp_path: Path) -> None:
    written = write_previews(tmp_path)
    pdfs = sorted(p.stem for p in written if p.suffix == ".pdf")
    assert pdfs == sorted([*CASES, "credit_note"])
    for path in written:
        assert path.is_file() and path.stat().st_size > 1000
    if shutil.which("pdftoppm"):
        pngs = [p for p in written if p.suffix == ".png"]
        assert {p.name.rsplit("-", 1)[0] for p in pngs} == {*CASES, "credit_note"}
        assert all(p.read_bytes().startswith(b"\x89PNG") for p in pngs)
