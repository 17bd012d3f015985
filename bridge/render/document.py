"""The document a customer receives: the rendered PDF made a Factur-X PDF/A-3b.

    plain PDF (pdf.py) ─┐
    CII XML (cii.py) ───┴─ XSD check (schema.py) ─ embed + PDF/A-3b (facturx_pdf.py)

The XSD check runs on every render: a document whose XML breaks its schema raises
`FacturXInvalidError` and is neither archived nor sent (the owner is told why). The official
schematrons are slower and run on demand instead (`quittance check-invoice --facturx`).

`facturx=False` renders the plain PDF every document got before Factur-X: a document archived
then is re-rendered that way, so its bytes still match (its render profile says which).
"""

from __future__ import annotations

from bridge.facturx.cii import build_cii
from bridge.facturx.schema import check_xsd
from bridge.invoicing.snapshot import DocumentKind, InvoiceSnapshot
from bridge.render.facturx_pdf import PdfMeta, facturx_pdf
from bridge.render.labels import labels
from bridge.render.pdf import render_pdf
from bridge.render.templates import Templates


def render_document(
    snapshot: InvoiceSnapshot, templates: Templates | None = None, *, facturx: bool = True
) -> bytes:
    """The document's PDF: Factur-X PDF/A-3b (or the plain PDF of before, `facturx=False`)."""
    plain = render_pdf(snapshot, templates)
    if not facturx:
        return plain
    xml = build_cii(snapshot)
    check_xsd(xml)
    return facturx_pdf(plain, xml, pdf_meta(snapshot))


def pdf_meta(snapshot: InvoiceSnapshot) -> PdfMeta:
    """Title, subject and keywords in the document's language; dated by its issue time."""
    words = labels(snapshot.locale)
    credit = snapshot.kind is DocumentKind.credit_note
    word = words["credit_note_title" if credit else "invoice_title"].capitalize()
    seller = snapshot.seller.trade_name or snapshot.seller.legal_name
    return PdfMeta(
        title=f"{seller}{words['colon']} {word} {snapshot.number}",
        author=snapshot.seller.legal_name,
        subject=f"{word} {snapshot.number} ({snapshot.order.reference})",
        keywords=f"{word}, Factur-X",
        lang=snapshot.locale,
        when=snapshot.issued_at,
    )
