"""The mandatory mentions, checked on the PDF itself: what is sent, not what was meant.

`legal.check_invoice(snapshot)` proves the snapshot carries every mention; a template override
can still leave one out of the document. `missing_on_pdf(snapshot, pdf)` reads the PDF's text
back (pypdf) and names, by the rule of `bridge.invoicing.legal` / `mentions` that requires it,
every value of the snapshot the document does not show. Pure: bytes in, findings out.

Matching is deliberately blind to layout: text extraction breaks lines inside cells, may cut a
word where it wrapped, reads no-break spaces as spaces and a hyphenated wrap as "Associa-␤tion";
an override may also set a block in capitals. Both sides are therefore compared NFKC-normalised,
case-folded and with every whitespace removed, and once more with line-end hyphens joined: a
value printed in one piece is found however it wraps (no false alarm on our templates, for any
preview case). What this cannot see as one value is one printed in pieces apart — a totals
label in one column and its amount in another — and an override that does that is told so
before any invoice is (start-up check, `quittance preview`), not guessed at with layout rules.

A credit note must show, besides what any document does, the invoice it corrects (its number
and its date), its title ("AVOIR" / "CREDIT NOTE") and its amounts negative: every amount is
required as the view formats it, sign included, so a template printing the stored (positive)
figures is caught. Its refund sentence is not required (no rule asks an avoir to state how the
money went back), so an override written before credit notes had one still passes.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from io import BytesIO

from bridge.invoicing.legal import MissingMention
from bridge.invoicing.snapshot import DocumentKind, InvoiceSnapshot
from bridge.render.formatting import format_date, format_money
from bridge.render.pdf import drawable_code_points
from bridge.render.view import InvoiceView, build_view, rcs_text

# Labels of the totals rows, and the rule each one answers to.
_TOTAL_RULES = {
    "total_excl": "totals",
    "total_vat": "totals",
    "total_incl": "totals",
    "total_franchise": "totals",
    "total_discount": "totals",
    "discount_franchise": "totals",
    "amount_paid": "receipt",
    "refunded": "receipt",
    "amount_due": "receipt",
}
# Invisible characters, and what a glyph the font lacks extracts as (NUL, U+FFFD).
_INVISIBLE = dict.fromkeys(map(ord, "\u00ad\u200b\u200c\u200d\u2060\ufeff\x00\ufffd"))
_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"'})
_SPACE = re.compile(r"\s+")
_WRAP_HYPHEN = re.compile(r"-[^\S\n]*\n\s*")


@dataclass(frozen=True)
class Required:
    """One value the document must show: the rule asking for it, what it is, its text."""

    rule: str
    what: str
    text: str


def squeeze(text: str) -> str:
    """The comparison form: NFKC, case-folded, quotes unified, no whitespace at all."""
    text = unicodedata.normalize("NFKC", text).translate(_INVISIBLE).translate(_QUOTES)
    return _SPACE.sub("", text.casefold())


def drawn(text: str) -> str:
    """`text` as the PDF can show it: without the characters the font has no glyph for (Ł,
    Greek, emoji, an accent typed apart from its letter): they print blank on every template."""
    glyphs = drawable_code_points()
    return "".join(c for c in text if ord(c) in glyphs or c.isspace())


def pdf_text(pdf: bytes) -> str:
    """Every page's extracted text, pages separated by a line break."""
    from pypdf import PdfReader  # lazy: only rendering paths pay for the import

    return "\n".join(page.extract_text() or "" for page in PdfReader(BytesIO(pdf)).pages)


def required_on_pdf(snapshot: InvoiceSnapshot) -> list[Required]:
    """What the snapshot says the document must print, formatted as the document formats it."""
    view = build_view(snapshot)
    found = [
        *_document(snapshot, view),
        *_seller(snapshot, view),
        *_buyer(snapshot),
        *_lines(snapshot),
        *_amounts(snapshot, view),
        *_mentions(snapshot),
        *_receipt(snapshot, view),
    ]
    unique: dict[tuple[str, str], Required] = {}
    for item in found:
        if squeeze(item.text):
            unique.setdefault((item.rule, squeeze(item.text)), item)
    return list(unique.values())


def missing_on_pdf(snapshot: InvoiceSnapshot, pdf: bytes) -> list[MissingMention]:
    """Every required value the PDF's text lacks (empty list = the document is complete)."""
    return missing_in_text(snapshot, pdf_text(pdf))


def missing_in_text(snapshot: InvoiceSnapshot, text: str) -> list[MissingMention]:
    """`missing_on_pdf` on text already extracted."""
    printed = (squeeze(text), squeeze(_WRAP_HYPHEN.sub("", text)))
    return [
        MissingMention(item.rule, f"{item.what} ({item.text!r}) is not printed on the PDF")
        for item in required_on_pdf(snapshot)
        if not any(squeeze(drawn(item.text)) in variant for variant in printed)
    ]


# --------------------------------------------------------------------------- what is required


def _document(s: InvoiceSnapshot, view: InvoiceView) -> list[Required]:
    out = [
        Required("document_identity", "the document title", view.title),
        Required("document_identity", "the invoice number", s.number),
        Required("document_identity", "the issue date", view.meta[0].value),
    ]
    nature = next((row.value for row in view.meta if row.label == view.L["nature"]), "")
    out.append(Required("operation_nature", "the nature of the operation", nature))
    operation = next((r.value for r in view.meta if r.label == view.L["operation_date"]), "")
    out.append(Required("sale_date", "the date of the operation", operation))
    if s.kind is DocumentKind.credit_note:
        out.append(Required("credit_note_reference", "the credited invoice", s.credited_number))
        if s.credited_issue_date is not None:
            out.append(
                Required(
                    "credit_note_reference",
                    "the credited invoice's date",
                    format_date(s.credited_issue_date, s.locale),
                )
            )
    return out


def _seller(s: InvoiceSnapshot, view: InvoiceView) -> list[Required]:
    seller = s.seller
    out = [Required("seller_identity", "the seller's legal name", seller.legal_name)]
    out += [Required("seller_identity", "the seller's address", x) for x in seller.address_lines]
    if seller.share_capital:
        out.append(Required("seller_legal_form", "the seller's legal form", seller.legal_form))
        out.append(Required("seller_legal_form", "the share capital", seller.share_capital))
    elif seller.legal_form:
        # a sole trader: "EI" must stand next to the name, which the view already joined
        out.append(Required("seller_legal_form", "the name with its legal form", view.seller_name))
    out.append(Required("seller_registration", "the seller's SIREN", seller.siren))
    out.append(Required("seller_registration", "the RCS registration", rcs_text(seller.rcs_city)))
    out.append(Required("seller_vat_number", "the seller's VAT number", seller.vat_number))
    return out


def _buyer(s: InvoiceSnapshot) -> list[Required]:
    buyer = s.buyer
    out = [Required("buyer_identity", "the buyer's name", buyer.name or buyer.company)]
    out += [Required("buyer_identity", "the billing address", x) for x in buyer.billing_lines]
    out += [Required("buyer_identity", "the delivery address", x) for x in buyer.shipping_lines]
    if buyer.is_business:
        out.append(Required("buyer_business_ids", "the buyer's company", buyer.company))
    out.append(Required("buyer_business_ids", "the buyer's VAT number", buyer.vat_number))
    out.append(Required("buyer_business_ids", "the buyer's SIREN", buyer.siren))
    return out


def _lines(s: InvoiceSnapshot) -> list[Required]:
    return [
        Required("line_details", f"line {i}'s description", line.description)
        for i, line in enumerate(s.lines, start=1)
    ]


def _amounts(s: InvoiceSnapshot, view: InvoiceView) -> list[Required]:
    by_label = {view.L[key]: rule for key, rule in _TOTAL_RULES.items()}
    # A credit note's amounts are required negative, as the view signs them: say so when missed.
    sign = ", negative on a credit note" if view.is_credit else ""
    out = [
        # label and amount together: "Montant payé" often shows the same figure as the total
        Required(by_label[row.label], f"the row {row.label!r}{sign}", f"{row.label} {row.value}")
        for row in view.totals
        if row.label in by_label
    ]
    out += [
        Required(
            "vat_per_rate", f"the VAT row at {row.rate}", f"{row.rate} {row.base} {row.amount}"
        )
        for row in view.vat_rows
    ]
    if view.shop_currency_note:
        out.append(Required("totals", "the counter-value in the shop's currency", _note(s, view)))
    if view.eur_vat is not None:  # label and amount together, as for the totals rows
        out.append(Required("vat_in_euros", "the VAT total in euros", view.eur_vat.total))
        out.append(Required("vat_in_euros", "the ECB rate and its date", view.eur_vat.rate))
    return out


def _note(s: InvoiceSnapshot, view: InvoiceView) -> str:
    # The VAT in the shop's currency is what the law asks for; the sentence around it is ours.
    vat = s.totals.shop_currency_total_vat
    if vat is None:
        return view.shop_currency_note
    return format_money(vat, s.totals.shop_currency, s.locale)


def _mentions(s: InvoiceSnapshot) -> list[Required]:
    rule_of = {text: rule for rule, text in s.legal.items()}
    return [
        Required(rule_of.get(text, "legal_mentions"), "the legal mention", text)
        for text in s.mentions
    ]


def _receipt(s: InvoiceSnapshot, view: InvoiceView) -> list[Required]:
    if s.kind is not DocumentKind.invoice or not view.paid:
        return []
    return [
        Required("receipt", "the paid stamp", view.stamp_title),
        Required("receipt", "the payment method", s.payment.method_label),
        Required("sale_date", "the payment date", format_date(s.payment.paid_on, s.locale)),
    ]
