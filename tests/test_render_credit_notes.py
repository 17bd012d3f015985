"""Credit notes (avoirs) rendered: the PDF read back, the text check on it, the email.

The credit notes are built from the preview cases' invoices (`tests/support/credit_notes.py`):
amounts stored positive, shown negative. Expected strings are derived from the snapshot and
the formatting helpers, never from a calendar; extracted text is compared after collapsing
whitespace (`norm`), as the other render tests do.
"""

from __future__ import annotations

import re
from decimal import Decimal
from html import unescape
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from bridge.delivery.email import build_receipt_email, send_email
from bridge.invoicing import cases
from bridge.invoicing.legal import check_invoice
from bridge.invoicing.snapshot import InvoiceSnapshot
from bridge.render import Templates, default_templates_dir, render_pdf
from bridge.render.formatting import format_date, format_money, format_quantity, format_rate
from bridge.render.pdf_check import missing_on_pdf, required_on_pdf
from bridge.render.view import build_view
from tests.support.credit_notes import REASON, credit_note_of
from tests.support.documents import attachment, pdf_text
from tests.support.smtp import SMTPServer

D = Decimal
CREDIT_OF_BLOCK = r"\{%- if doc\.credit_of %\}.*?\{% endif %\}"


def norm(text: str) -> str:
    return " ".join(text.split())  # also splits on U+00A0, as extraction gives it back


def text_of(pdf: bytes) -> str:
    return norm(pdf_text(pdf))


def money(snapshot: InvoiceSnapshot, amount: Decimal) -> str:
    return norm(format_money(amount, snapshot.currency, snapshot.locale))


def day(snapshot: InvoiceSnapshot, when: Any, *, long: bool = False) -> str:
    return norm(format_date(when, snapshot.locale, long=long))


def override(folder: Path, pattern: str, replacement: str = "") -> Templates:
    """Our invoice.html with the one block `pattern` matches replaced."""
    ours = (default_templates_dir() / "invoice.html").read_text(encoding="utf-8")
    html, cut = re.subn(pattern, replacement, ours, count=1, flags=re.S)
    assert cut == 1, f"{pattern!r} is not in our invoice.html"
    folder.mkdir(parents=True)
    (folder / "invoice.html").write_text(html, encoding="utf-8")
    return Templates(folder)


@pytest.fixture(scope="module")
def invoice() -> InvoiceSnapshot:
    return cases.case_snapshot("b2c")


@pytest.fixture(scope="module")
def note(invoice: InvoiceSnapshot) -> InvoiceSnapshot:
    """Two of the b2c invoice's lines returned (two VAT rates), refunded by card."""
    return credit_note_of(invoice, lines=(1, 2))


@pytest.fixture(scope="module")
def note_pdf(note: InvoiceSnapshot) -> bytes:
    return render_pdf(note)


@pytest.fixture(scope="module")
def text(note_pdf: bytes) -> str:
    return text_of(note_pdf)


# --------------------------------------------------------------------------- the document


def test_the_builder_makes_a_legally_complete_positive_credit_note(note: InvoiceSnapshot):
    assert check_invoice(note) == []
    assert note.totals.total_incl > 0 and all(line.total_excl > 0 for line in note.lines)


def test_a_french_credit_note_is_titled_avoir_not_facture(text: str, note: InvoiceSnapshot):
    assert f"AVOIR N° {note.number}" in text
    assert "FACTURE ACQUITTÉE" not in text


def test_it_names_the_credited_invoice_and_its_date(text: str, note: InvoiceSnapshot):
    assert note.credited_issue_date is not None
    credited_on = day(note, note.credited_issue_date)
    assert f"Avoir sur la facture n° {note.credited_number} du {credited_on}" in text


def test_line_amounts_print_negative_and_quantities_positive(text: str, note: InvoiceSnapshot):
    for line in note.lines:
        row = " ".join(
            (
                norm(line.description),
                line.sku,
                format_quantity(line.quantity, note.locale),
                money(note, -line.unit_price_excl),
                norm(format_rate(line.vat_rate, note.locale)),
                money(note, -line.total_excl),
            )
        )
        assert row in text, row
        assert money(note, -line.total_excl).startswith("-")


def test_the_vat_breakdown_prints_negative(text: str, note: InvoiceSnapshot):
    for bucket in note.vat_breakdown:
        rate = norm(format_rate(bucket.rate, note.locale))
        row = f"Taux {rate} {money(note, -bucket.base)} {money(note, -bucket.amount)}"
        assert row in text, row


def test_the_totals_print_negative_the_french_way(text: str, note: InvoiceSnapshot):
    t = note.totals
    assert f"Total HT {money(note, -t.total_excl)}" in text
    assert f"Total TVA {money(note, -t.total_vat)}" in text
    assert f"Total TTC {money(note, -t.total_incl)}" in text
    assert re.search(r"Total TTC -\d+,\d\d €", text)  # hyphen-minus, comma, euro after


def test_no_receipt_rows_on_a_credit_note(text: str):
    for absent in ("Montant payé", "Reste à payer", "Date de paiement"):
        assert absent not in text, absent


def test_the_refund_sentence_stands_instead_of_the_paid_stamp(text: str, note: InvoiceSnapshot):
    p = note.payment
    refunded_on = day(note, p.paid_on, long=True)
    assert f"Remboursé le {refunded_on} par {p.method_label} (réf. {p.reference})" in text
    assert f"Date de remboursement : {day(note, p.paid_on)}" in text


def test_the_reason_is_printed(text: str):
    assert f"Motif : {REASON}" in text


def test_no_reason_line_without_a_reason(invoice: InvoiceSnapshot):
    view = build_view(credit_note_of(invoice, reason=""))
    assert view.credit_reason == "" and view.credit_of


def test_a_refund_without_a_label_went_back_by_the_original_means(invoice: InvoiceSnapshot):
    refund = credit_note_of(invoice, method="", method_label="", reference="")
    refunded_on = day(refund, refund.payment.paid_on, long=True)
    expected = f"Remboursé le {refunded_on} par le moyen de paiement d'origine"
    assert norm(build_view(refund).refund_text) == expected


def test_a_store_credit_refund_says_it_went_to_store_credit(invoice: InvoiceSnapshot):
    refund = credit_note_of(invoice, method="store_credit", method_label="avoir en boutique")
    sentence = norm(build_view(refund).refund_text)
    assert "sous forme d'avoir à valoir en boutique" in sentence
    assert " par " not in sentence


def test_a_store_credit_without_a_label_is_still_worded_as_store_credit(invoice):
    refund = credit_note_of(invoice, method="store_credit", method_label="")
    assert "sous forme d'avoir à valoir en boutique" in build_view(refund).refund_text


def test_a_correction_that_gave_nothing_back_states_no_refund(invoice: InvoiceSnapshot):
    view = build_view(credit_note_of(invoice, paid_back=False))
    assert view.refund_text == ""
    assert "Date de remboursement" not in {row.label for row in view.meta}


def test_a_discount_on_a_credited_line_prints_positive_so_the_line_adds_up(invoice):
    # a line credited as invoiced, discount kept: -PU x qty + discount = -total, as printed
    discounted = next(line for line in invoice.lines if line.discount_excl)
    refund = credit_note_of(invoice).model_copy(update={"lines": [discounted]})
    [row] = build_view(refund).lines
    assert row.discount == format_money(discounted.discount_excl, refund.currency, refund.locale)
    assert row.total_excl == format_money(-discounted.total_excl, refund.currency, refund.locale)


def test_a_zero_amount_never_prints_as_minus_zero():
    intra = credit_note_of(cases.case_snapshot("intra_eu"))  # 0 % VAT: a zero VAT amount
    view = build_view(intra)
    assert all(not row.amount.startswith("-") for row in view.vat_rows)
    assert all(row.base.startswith("-") for row in view.vat_rows)


def test_rendering_does_not_sign_the_stored_snapshot(note: InvoiceSnapshot, note_pdf: bytes):
    again = InvoiceSnapshot.from_json(note.canonical_json())
    assert again == note and again.totals.total_incl > 0


def test_an_english_credit_note_says_credit_note():
    usd_invoice = cases.case_snapshot("foreign_currency")  # locale en_IE
    refund = credit_note_of(usd_invoice)
    text = text_of(render_pdf(refund))
    assert refund.credited_issue_date is not None
    credited_on = day(refund, refund.credited_issue_date)
    refunded_on = day(refund, refund.payment.paid_on, long=True)
    assert f"CREDIT NOTE No. {refund.number}" in text
    assert f"Credit note for invoice no. {refund.credited_number} of {credited_on}" in text
    assert f"Refunded on {refunded_on} by credit card" in text
    assert f"Total incl. VAT {money(refund, -refund.totals.total_incl)}" in text
    assert "INVOICE" not in text  # "invoice no." of the reference is not the title


def test_a_usd_credit_note_shows_its_vat_in_euros_negative():
    refund = credit_note_of(cases.case_snapshot("foreign_currency"))
    assert refund.eur is not None and refund.eur.total_vat > 0
    text = text_of(render_pdf(refund))
    euros = norm(format_money(-refund.eur.total_vat, "EUR", refund.locale))
    assert euros.startswith("-€")
    assert f"Total VAT in euros: {euros}" in text
    for row in refund.eur.vat_by_rate:
        rate = format_rate(row.rate, refund.locale)
        assert f"VAT {rate}: {norm(format_money(-row.amount, 'EUR', refund.locale))}" in text


def test_a_b2b_credit_note_shows_the_b2b_mentions_it_carries():
    b2b = cases.case_snapshot("b2b")
    refund = credit_note_of(b2b, method="bacs", method_label="virement bancaire")
    text = text_of(render_pdf(refund))
    assert refund.mentions == b2b.mentions and refund.mentions
    for mention in refund.mentions:
        assert norm(mention) in text, mention
    assert "Bistrot du Port SARL" in text and "N° TVA FR96552100554" in text


def test_rendering_a_credit_note_is_deterministic(note: InvoiceSnapshot, note_pdf: bytes):
    assert render_pdf(note) == note_pdf


# --------------------------------------------------------------------------- the text check


@pytest.mark.parametrize("name", ["b2c", "b2b", "franchise", "intra_eu", "foreign_currency"])
def test_our_template_prints_everything_the_check_requires_of_a_credit_note(name: str):
    refund = credit_note_of(cases.case_snapshot(name), lines=(1, 2))
    assert missing_on_pdf(refund, render_pdf(refund)) == []


def test_the_check_refuses_a_credit_note_without_the_credited_invoice(tmp_path: Path, note):
    templates = override(tmp_path / "t", CREDIT_OF_BLOCK)
    missing = missing_on_pdf(note, render_pdf(note, templates))
    found = {m.message for m in missing if m.rule == "credit_note_reference"}
    assert any(note.credited_number in message for message in found), missing
    assert any("date" in message for message in found), missing


def test_the_check_refuses_a_credit_note_printing_its_amounts_positive(tmp_path: Path, note):
    # an override printing the stored figures: the total credited must show negative
    templates = override(tmp_path / "t", r"\{\{ t\.value \}\}", '{{ t.value | replace("-", "") }}')
    missing = missing_on_pdf(note, render_pdf(note, templates))
    assert any(m.rule == "totals" and "negative" in m.message for m in missing), missing


def test_the_check_asks_the_credit_note_title_of_a_credit_note(note: InvoiceSnapshot):
    titles = {r.text for r in required_on_pdf(note) if r.what == "the document title"}
    assert titles == {"AVOIR"}


# --------------------------------------------------------------------------- the email


def email_cfg(port: int = 25) -> SimpleNamespace:
    return SimpleNamespace(
        enabled=True,
        host="127.0.0.1",
        port=port,
        security="none",
        username="",
        password=None,
        from_address="factures@latheiere.example.fr",
        from_name="La Théière",
        reply_to="bonjour@latheiere.example.fr",
        bcc="",
        timeout=5.0,
    )


def bodies(message: Any) -> tuple[str, str]:
    plain = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    return plain, unescape(html)


def test_the_credit_note_email_states_the_amount_credited_and_the_refund(note, note_pdf):
    message = build_receipt_email(note, note_pdf, email_cfg())
    plain, html = bodies(message)
    amount = format_money(note.totals.total_incl, note.currency, "fr")  # positive in words
    assert note.credited_issue_date is not None
    credited_on = format_date(note.credited_issue_date, "fr", long=True)
    assert (
        f"l'avoir {note.number} d'un montant de {amount}, qui corrige la facture "
        f"{note.credited_number} du {credited_on} (commande {note.order.reference})"
    ) in plain
    assert f"Motif : {REASON}" in plain
    refunded_on = format_date(note.payment.paid_on, "fr", long=True)
    assert f"Remboursé le {refunded_on} par {note.payment.method_label}" in plain
    assert f"Remboursé le {refunded_on}" in html and amount in html
    assert "-" + amount not in plain


def test_the_credit_note_email_arrives_over_smtp_with_the_pdf_named_after_the_number(
    note: InvoiceSnapshot, note_pdf: bytes
):
    with SMTPServer() as server:
        cfg = email_cfg(server.port)
        send_email(build_receipt_email(note, note_pdf, cfg), cfg, attempts=1)
        [received] = server.received
    assert f"votre avoir {note.number}" in received["Subject"]
    assert received["To"].addresses[0].addr_spec == note.buyer.email
    name, data = attachment(received)
    assert (name, data) == (f"{note.number}.pdf", note_pdf)
    assert note.credited_number in bodies(received)[0]


def test_a_credit_note_email_without_refund_says_nothing_of_one(invoice: InvoiceSnapshot):
    correction = credit_note_of(invoice, paid_back=False)
    plain, html = bodies(build_receipt_email(correction, b"%PDF-1.4\n", email_cfg()))
    assert "Remboursé" not in plain and "Remboursé" not in html
