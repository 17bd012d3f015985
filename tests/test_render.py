"""Invoice rendering: snapshot → PDF, read back with pypdf, every legal value checked.

Snapshots are built by hand here (`snap`), so each test states exactly what it prints.
Extracted text is compared after collapsing whitespace (`norm`): cells come out one per line,
and the no-break spaces of "1 234,56 €" come out as U+00A0 — both become single spaces.
"""

from __future__ import annotations

import struct
import subprocess
import sys
import zlib
from datetime import UTC, date, datetime
from decimal import Decimal
from io import BytesIO
from pathlib import Path

import pytest
from pypdf import PdfReader

from bridge.invoicing.snapshot import (
    BuyerSnapshot,
    DocumentKind,
    InvoiceLine,
    InvoiceSnapshot,
    OrderRef,
    PaymentSnapshot,
    SellerSnapshot,
    Totals,
    VatBucket,
    VatRegime,
)
from bridge.render import (
    TemplateCheckError,
    Templates,
    default_templates_dir,
    format_date,
    format_money,
    format_quantity,
    format_rate,
    render_html,
    render_pdf,
)
from bridge.render import pdf as pdf_mod
from tests.support.paths import ROOT as REPO

D = Decimal

# --------------------------------------------------------------------------- helpers


def line(desc: str, qty: str, unit: str, rate: str, *, sku: str = "", discount: str = "0"):
    total = D(qty) * D(unit) - D(discount)
    vat = (total * D(rate) / 100).quantize(D("0.01"))
    return InvoiceLine(
        kind="product",
        description=desc,
        sku=sku,
        quantity=D(qty),
        unit_price_excl=D(unit),
        discount_excl=D(discount),
        total_excl=total,
        vat_rate=D(rate),
        vat_amount=vat,
        total_incl=total + vat,
    )


DEFAULT_LINES = [
    line("Théière en fonte « Œuvre »", "1", "1000.00", "20", sku="TP-FON-08"),
    line("Thé vert Sencha bio", "3", "8.50", "5.5", sku="TH-SEN-100"),
    line("Coffret façon crème brûlée", "2", "24.90", "5.5", sku="CF-DEC-01", discount="4.98"),
]


def snap(
    *,
    lines: list[InvoiceLine] | None = None,
    locale: str = "fr",
    currency: str = "EUR",
    regime: VatRegime = VatRegime.normal,
    shipping: list[str] | None = None,
    mentions: list[str] | None = None,
    kind: DocumentKind = DocumentKind.invoice,
    seller: dict | None = None,
    buyer: dict | None = None,
    **overrides,
) -> InvoiceSnapshot:
    """A consistent snapshot: totals and the VAT breakdown are computed from `lines`."""
    lines = DEFAULT_LINES if lines is None else lines
    franchise = regime is VatRegime.franchise
    if franchise:
        lines = [
            x.model_copy(update={"vat_rate": D(0), "vat_amount": D(0), "total_incl": x.total_excl})
            for x in lines
        ]
    buckets: dict[Decimal, list[Decimal]] = {}
    for x in lines:
        b = buckets.setdefault(x.vat_rate, [D(0), D(0)])
        b[0] += x.total_excl
        b[1] += x.vat_amount
    total_excl = sum((x.total_excl for x in lines), D(0))
    total_vat = sum((x.vat_amount for x in lines), D(0))
    seller_fields = {
        "legal_name": "Les Thés de Léonie SAS",
        "legal_form": "SAS",
        "share_capital": "10 000 €",
        "address_lines": ["12 rue de la Paix", "75002 Paris"],
        "siren": "123456789",
        "siret": "12345678900012",
        "rcs_city": "Paris",
        "vat_number": "FR32123456789",
        "vat_regime": regime,
        "email": "bonjour@leonie.example",
        "phone": "+33 1 23 45 67 89",
        **(seller or {}),
    }
    buyer_fields = {
        "name": "François Lefèvre",
        "company": "Garçon & Cie",
        "billing_lines": ["3 place du Marché", "69001 Lyon"],
        "billing_country": "FR",
        "shipping_lines": ["Entrepôt Nord", "59000 Lille"] if shipping is None else shipping,
        "shipping_country": "FR",
        **(buyer or {}),
    }
    fields = {
        "kind": kind,
        "series": "FA",
        "number": "FA-2026-000042",
        "sequence": 42,
        "issued_at": datetime(2026, 11, 28, 8, 0, tzinfo=UTC),
        "issue_date": date(2026, 11, 28),
        "timezone": "Europe/Paris",
        "locale": locale,
        "currency": currency,
        "seller": SellerSnapshot(**seller_fields),
        "buyer": BuyerSnapshot(**buyer_fields),
        "order": OrderRef(
            shop="leonie",
            platform="woocommerce",
            order_id="1042",
            reference="#1042",
            # 23:30 UTC on the 25th is 00:30 on the 26th in Paris: the local date is printed
            ordered_at=datetime(2026, 11, 25, 23, 30, tzinfo=UTC),
        ),
        "lines": lines,
        "vat_breakdown": []
        if franchise
        else [VatBucket(rate=r, base=b, amount=a) for r, (b, a) in sorted(buckets.items())],
        "totals": Totals(
            discount_excl=sum((x.discount_excl for x in lines), D(0)),
            total_excl=total_excl,
            total_vat=total_vat,
            total_incl=total_excl + total_vat,
            amount_paid=total_excl + total_vat,
            amount_due=D("0.00"),
        ),
        "payment": PaymentSnapshot(
            method="stripe",
            method_label="carte bancaire" if locale == "fr" else "credit card",
            paid_at=datetime(2026, 11, 27, 9, 41, tzinfo=UTC),
            paid_on=date(2026, 11, 27),
            reference="ch_3PqA2B",
        ),
        "nature": "goods",
        "mentions": mentions if mentions is not None else ["Pas d'escompte pour paiement anticipé"],
        **overrides,
    }
    return InvoiceSnapshot(**fields)


def norm(text: str) -> str:
    return " ".join(text.split())  # str.split() also splits on U+00A0 / U+202F


def pages_text(pdf: bytes) -> list[str]:
    return [norm(p.extract_text()) for p in PdfReader(BytesIO(pdf)).pages]


def text_of(pdf: bytes) -> str:
    return " ".join(pages_text(pdf))


def tiny_png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = b"".join(b"\x00" + b"\x1f\x3a\x5f" * 4 for _ in range(4))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


@pytest.fixture(scope="module")
def fr_pdf() -> bytes:
    return render_pdf(snap())


@pytest.fixture(scope="module")
def fr_text(fr_pdf: bytes) -> str:
    return text_of(fr_pdf)


# --------------------------------------------------------------------------- formatting


def test_format_money_french_uses_renderable_no_break_spaces():
    assert format_money(D("1234.56"), "EUR", "fr") == "1\u00a0234,56\u00a0€"
    assert "\u202f" not in format_money(D("1234567.5"), "EUR", "fr")
    assert format_money(D("1234.56"), "EUR", "en") == "€1,234.56"
    assert format_money(D("1234.56"), "USD", "en") == "$1,234.56"
    assert "$" in format_money(D("5"), "USD", "fr")


def test_format_date_rate_quantity():
    d = date(2026, 11, 27)
    assert format_date(d, "fr") == "27/11/2026"
    assert format_date(d, "en") == "27 Nov 2026"
    assert format_date(d, "fr", long=True) == "27 novembre 2026"
    assert format_date(d, "en", long=True) == "27 November 2026"
    assert format_rate(D("20.00"), "fr") == "20\u00a0%"
    assert format_rate(D("5.5"), "fr") == "5,5\u00a0%"
    assert format_rate(D("5.5"), "en") == "5.5%"
    assert format_quantity(D("3.000"), "fr") == "3"
    assert format_quantity(D("1.5"), "fr") == "1,5"


# --------------------------------------------------------------------------- legal content


def test_seller_identity(fr_text: str):
    for expected in (
        "Les Thés de Léonie SAS",
        "SAS au capital de 10 000 €",
        "12 rue de la Paix",
        "75002 Paris",
        "SIREN 123456789",
        "SIRET 12345678900012",
        "RCS Paris",
        "FR32123456789",
        "bonjour@leonie.example",
    ):
        assert expected in fr_text, expected


def test_rcs_given_in_full_is_not_doubled():
    text = text_of(render_pdf(snap(seller={"rcs_city": "RCS Lyon"})))
    assert "RCS Lyon" in text and "RCS RCS" not in text


def test_buyer_billing_and_delivery_addresses(fr_text: str):
    for expected in (
        "Facturé à",
        "François Lefèvre",
        "Garçon & Cie",
        "3 place du Marché",
        "69001 Lyon",
        "Livré à",
        "Entrepôt Nord",
        "59000 Lille",
    ):
        assert expected in fr_text, expected


def test_no_delivery_block_when_delivery_is_the_billing_address():
    text = text_of(render_pdf(snap(shipping=[])))
    assert "Livré à" not in text and "69001 Lyon" in text


def test_business_buyer_ids_and_foreign_country():
    text = text_of(
        render_pdf(
            snap(
                buyer={
                    "vat_number": "DE123456789",
                    "siren": "",
                    "is_business": True,
                    "billing_country": "DE",
                    "billing_lines": ["Hauptstr. 1", "10115 Berlin"],
                }
            )
        )
    )
    assert "N° TVA DE123456789" in text
    assert "Allemagne" in text


def test_number_dates_and_order_reference(fr_text: str):
    assert "FACTURE" in fr_text
    assert "N° FA-2026-000042" in fr_text
    assert "Date d'émission : 28/11/2026" in fr_text
    assert "Commande : #1042" in fr_text
    assert "Date de commande : 26/11/2026" in fr_text  # Paris date, not the UTC one
    assert "Date de paiement : 27/11/2026" in fr_text
    assert "Livraison de biens" in fr_text


def test_each_line_with_its_amounts(fr_text: str):
    assert "Désignation Réf. Qté PU HT Remise HT TVA Total HT" in fr_text
    assert "Théière en fonte « Œuvre » TP-FON-08 1 1 000,00 € 20 % 1 000,00 €" in fr_text
    assert "Thé vert Sencha bio TH-SEN-100 3 8,50 € 5,5 % 25,50 €" in fr_text
    assert "Coffret façon crème brûlée CF-DEC-01 2 24,90 € -4,98 € 5,5 % 44,82 €" in fr_text


def test_vat_breakdown_per_rate(fr_text: str):
    assert "Détail de la TVA Base HT Montant TVA" in fr_text
    assert "Taux 5,5 % 70,32 € 3,87 €" in fr_text  # 25,50 + 44,82; 1,40 + 2,47 (line-rounded)
    assert "Taux 20 % 1 000,00 € 200,00 €" in fr_text


def test_totals_and_receipt(fr_text: str):
    assert "Dont remises HT -4,98 €" in fr_text
    assert "Total HT 1 070,32 €" in fr_text
    assert "Total TVA 203,87 €" in fr_text
    assert "Total TTC 1 274,19 €" in fr_text
    assert "Montant payé 1 274,19 €" in fr_text
    assert "Reste à payer 0,00 €" in fr_text
    assert "FACTURE ACQUITTÉE — payée le 27/11/2026 par carte bancaire (réf. ch_3PqA2B)" in fr_text


def test_french_money_format_survives_extraction(fr_pdf: bytes):
    raw = " ".join(p.extract_text() for p in PdfReader(BytesIO(fr_pdf)).pages)
    assert "1\u00a0000,00\u00a0€" in raw or "1 000,00 €" in raw
    assert "1 274,19 €" in text_of(fr_pdf)


def test_legal_mentions_in_footer(fr_text: str):
    assert "Pas d'escompte pour paiement anticipé" in fr_text


def test_accents_oe_and_euro_survive(fr_text: str):
    for ch in ("é", "è", "ç", "Œ", "«", "»", "—", "€", "É"):
        assert ch in fr_text, ch


def test_english_locale_labels_and_money():
    text = text_of(render_pdf(snap(locale="en", mentions=["No discount for early payment"])))
    for expected in (
        "INVOICE",
        "No. FA-2026-000042",
        "Issue date: 28 Nov 2026",
        "Bill to",
        "Ship to",
        "Description",
        "Unit price excl. VAT",
        "VAT breakdown",
        "Total excl. VAT €1,070.32",
        "Total incl. VAT €1,274.19",
        "Balance due €0.00",
        "PAID INVOICE — paid on 27 Nov 2026 by credit card (ref. ch_3PqA2B)",
        "No discount for early payment",
        "Page 1/1",
    ):
        assert expected in text, expected
    assert "FACTURE" not in text and "Total TTC" not in text


def test_foreign_currency_usd():
    text = text_of(render_pdf(snap(locale="en", currency="USD")))
    assert "Total incl. VAT $1,274.19" in text
    assert "€1" not in text


def test_franchise_has_no_vat_column_nor_vat_totals():
    text = text_of(
        render_pdf(
            snap(regime=VatRegime.franchise, mentions=["TVA non applicable, art. 293 B du CGI"])
        )
    )
    assert "TVA non applicable, art. 293 B du CGI" in text
    for absent in ("PU HT", "Total HT", "Total TVA", "Total TTC", "Détail de la TVA", "20 %"):
        assert absent not in text, absent
    assert "Désignation Réf. Qté Prix unitaire Remise Total" in text
    assert "Total 1 070,32 €" in text and "Reste à payer 0,00 €" in text


def test_credit_note_title_and_reference():
    text = text_of(
        render_pdf(
            snap(
                kind=DocumentKind.credit_note,
                number="AV-2026-000003",
                credited_number="FA-2026-000042",
                credited_issue_date=date(2026, 11, 28),
            )
        )
    )
    assert "AVOIR" in text and "AV-2026-000003" in text
    assert "Avoir sur la facture n° FA-2026-000042 du 28/11/2026" in text
    assert "FACTURE ACQUITTÉE" not in text


# --------------------------------------------------------------------------- pages and PDF


@pytest.fixture(scope="module")
def long_pdf() -> bytes:
    lines = [
        line(f"Article numéro {i:03d}", "1", "2.00", "20", sku=f"SKU-{i:03d}")
        for i in range(1, 101)
    ]
    return render_pdf(snap(lines=lines))


def test_hundred_lines_span_pages_with_header_and_page_numbers(long_pdf: bytes):
    pages = pages_text(long_pdf)
    n = len(pages)
    assert n >= 3
    for i, page in enumerate(pages, start=1):
        assert "Désignation Réf. Qté PU HT TVA Total HT" in page, f"header missing on page {i}"
        assert f"Page {i}/{n}" in page
    text = " ".join(pages)
    for i in (1, 50, 100):
        assert f"Article numéro {i:03d} SKU-{i:03d} 1 2,00 € 20 % 2,00 €" in text
    assert "Total TTC 240,00 €" in pages[-1]


def test_page_count_is_right_even_when_the_guess_is_wrong(monkeypatch):
    lines = [line(f"Ligne {i}", "1", "1.00", "20") for i in range(60)]
    monkeypatch.setattr(pdf_mod, "guess_page_count", lambda snapshot: 7)
    pages = pages_text(render_pdf(snap(lines=lines)))
    assert len(pages) != 7
    assert f"Page 1/{len(pages)}" in pages[0]


def test_fonts_are_embedded_truetype_only(fr_pdf: bytes):
    reader = PdfReader(BytesIO(fr_pdf))
    seen = 0
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            seen += 1
            assert font["/Subtype"] == "/TrueType", font["/BaseFont"]
            assert "/FontFile2" in font["/FontDescriptor"].get_object(), font["/BaseFont"]
            assert "Helvetica" not in font["/BaseFont"]
    assert seen >= 2  # regular and bold


def test_same_snapshot_same_bytes(fr_pdf: bytes):
    assert render_pdf(snap()) == fr_pdf


def test_same_bytes_in_another_process(fr_pdf: bytes, tmp_path: Path):
    snapshot_file = tmp_path / "s.json"
    snapshot_file.write_text(snap().canonical_json(), encoding="utf-8")
    code = (
        "import sys; from pathlib import Path;"
        "from bridge.invoicing.snapshot import InvoiceSnapshot;"
        "from bridge.render import render_pdf;"
        "s = InvoiceSnapshot.from_json(Path(sys.argv[1]).read_text(encoding='utf-8'));"
        "sys.stdout.buffer.write(render_pdf(s))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(snapshot_file)], cwd=REPO, capture_output=True, check=True
    )
    assert out.stdout == fr_pdf


def test_logo_is_drawn_when_the_file_exists(tmp_path: Path):
    logo = tmp_path / "logo.png"
    logo.write_bytes(tiny_png())
    pdf = render_pdf(snap(seller={"logo_path": str(logo)}))
    xobjects = PdfReader(BytesIO(pdf)).pages[0]["/Resources"].get("/XObject", {})
    assert any(x.get_object()["/Subtype"] == "/Image" for x in xobjects.values())


@pytest.mark.parametrize("content", [None, b"not an image at all", b"\x89PNG\r\n\x1a\ntruncated"])
def test_missing_or_bad_logo_never_crashes(tmp_path: Path, content: bytes | None):
    logo = tmp_path / "logo.png"
    if content is not None:
        logo.write_bytes(content)
    try:
        pdf = render_pdf(snap(seller={"logo_path": str(logo)}))
    except pdf_mod.RenderError:
        pytest.fail("a bad logo must be left out, not fail the render")
    assert "Les Thés de Léonie SAS" in text_of(pdf)


def test_brand_color_is_used_and_validated():
    assert "#7a3b2e" in render_html(snap(seller={"brand_color": "#7a3b2e"}))
    html = render_html(snap(seller={"brand_color": "red; } body { display: none"}))
    assert "display: none" not in html and "#1f3a5f" in html


def test_text_is_escaped_not_interpreted():
    lines = [line("<b>Gras</b> & <script>x</script>", "1", "1.00", "20")]
    html = render_html(snap(lines=lines))
    assert "&lt;b&gt;Gras&lt;/b&gt; &amp; &lt;script&gt;" in html
    assert "<b>Gras</b> & <script>x</script>" in text_of(render_pdf(snap(lines=lines)))


# --------------------------------------------------------------------------- templates


def test_default_templates_dir_is_the_repo_templates():
    assert default_templates_dir() == REPO / "templates"
    assert Templates().check()  # every shipped template compiles


def test_override_file_wins(tmp_path: Path):
    (tmp_path / "invoice.html").write_text(
        "<html><body><p>Facture maison {{ doc.number }} — {{ doc.seller_name }}</p></body></html>",
        encoding="utf-8",
    )
    text = text_of(render_pdf(snap(), Templates(tmp_path)))
    assert text == "Facture maison FA-2026-000042 — Les Thés de Léonie SAS"


def test_missing_override_files_fall_back_to_ours(tmp_path: Path):
    # only the stylesheet is overridden: our invoice.html includes the shop's invoice.css
    (tmp_path / "invoice.css").write_text("body { font-family: QuittanceSans; }", encoding="utf-8")
    templates = Templates(tmp_path)
    html = render_html(snap(), templates)
    assert "body { font-family: QuittanceSans; }" in html and "pdf:pagenumber" in html
    assert "N° FA-2026-000042" in text_of(render_pdf(snap(), templates))


def test_override_may_use_its_own_images_but_not_other_files(tmp_path: Path):
    (tmp_path / "stamp.png").write_bytes(tiny_png())
    (tmp_path / "invoice.html").write_text(
        '<html><body><img src="stamp.png"><p>{{ doc.number }}</p></body></html>',
        encoding="utf-8",
    )
    pdf = render_pdf(snap(), Templates(tmp_path))
    xobjects = PdfReader(BytesIO(pdf)).pages[0]["/Resources"].get("/XObject", {})
    assert any(x.get_object()["/Subtype"] == "/Image" for x in xobjects.values())

    outside = tmp_path.parent / f"{tmp_path.name}-secret.png"
    outside.write_bytes(tiny_png())
    (tmp_path / "invoice.html").write_text(
        f'<html><body><img src="{outside}"><p>{{{{ doc.number }}}}</p></body></html>',
        encoding="utf-8",
    )
    pdf = render_pdf(snap(), Templates(tmp_path))
    assert "/XObject" not in PdfReader(BytesIO(pdf)).pages[0]["/Resources"]


def test_broken_override_names_file_and_line(tmp_path: Path):
    (tmp_path / "invoice.html").write_text(
        "<html>\n<body>\n<p>{{ doc.number }</p>\n</body>\n</html>\n", encoding="utf-8"
    )
    with pytest.raises(TemplateCheckError) as err:
        Templates(tmp_path)
    assert str(tmp_path / "invoice.html") in str(err.value)
    assert err.value.lineno == 3 and ":3:" in str(err.value)


def test_missing_override_dir_is_a_clear_error(tmp_path: Path):
    with pytest.raises(TemplateCheckError, match="does not exist"):
        Templates(tmp_path / "nope")


def test_undefined_variable_in_a_template_fails_loudly(tmp_path: Path):
    (tmp_path / "invoice.html").write_text("<p>{{ doc.no_such_field }}</p>", encoding="utf-8")
    with pytest.raises(Exception, match="no_such_field"):
        render_html(snap(), Templates(tmp_path))
