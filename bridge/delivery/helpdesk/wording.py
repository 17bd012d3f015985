"""The text a helpdesk note or reply carries with the document, in French or English: shared
by the Zendesk and Intercom clients so the support desk reads the same words whichever
helpdesk the shop uses.

An internal note speaks to the support agent ("Facture FA-2026-000042 (42,00 €, commande
n° 1042) envoyée à marie@example.fr ; le PDF est joint."); a public reply speaks to the
customer. Both always name `doc.number`: a later run looks for it to tell whether an earlier
attempt already added the document.
"""

from __future__ import annotations

from bridge.delivery.channel import Handover
from bridge.render.formatting import format_money


def _french(locale: str) -> bool:
    return locale.lower().replace("_", "-").split("-")[0] == "fr"


def _order(doc: Handover, french: bool) -> str:
    # The shop gives "#1042"; French writes "commande n° 1042", English keeps "order #1042".
    reference = doc.order_reference.strip()
    if not reference:
        return ""
    if french:
        return f"commande n° {reference.lstrip('#').strip()}"
    return f"order #{reference.lstrip('#').strip()}"


def _facts(doc: Handover, french: bool) -> str:
    """ "42,00 €, commande n° 1042" / "12,50 € remboursés, commande n° 1042"."""
    money = format_money(doc.amount, doc.currency, doc.locale if french else "en")
    if doc.is_credit_note:
        money += " remboursés" if french else " refunded"
    order = _order(doc, french)
    return f"{money}, {order}" if order else money


def _internal(doc: Handover, french: bool) -> str:
    facts = _facts(doc, french)
    if french:
        what = "Avoir" if doc.is_credit_note else "Facture"
        sent = "envoyé" if doc.is_credit_note else "envoyée"  # un avoir, une facture
        to = f" {sent} à {doc.customer_email}" if doc.customer_email else ""
        return f"{what} {doc.number} ({facts}){to} ; le PDF est joint."
    what = "Credit note" if doc.is_credit_note else "Invoice"
    to = f" sent to {doc.customer_email}" if doc.customer_email else ""
    return f"{what} {doc.number} ({facts}){to}; the PDF is attached."


def _public(doc: Handover, french: bool) -> str:
    facts = _facts(doc, french)
    name = doc.customer_name.strip()
    if french:
        what = "votre avoir" if doc.is_credit_note else "votre facture"
        pronoun = "le" if doc.is_credit_note else "la"
        hello = f"Bonjour {name}," if name else "Bonjour,"
        text = f"{hello} veuillez trouver ci-joint {what} {doc.number} ({facts})."
        if doc.link:
            text += f" Vous pouvez aussi {pronoun} consulter ici : {doc.link}"
        return text
    what = "your credit note" if doc.is_credit_note else "your invoice"
    hello = f"Hello {name}," if name else "Hello,"
    text = f"{hello} please find attached {what} {doc.number} ({facts})."
    if doc.link:
        text += f" You can also view it here: {doc.link}"
    return text


def subject_text(doc: Handover) -> str:
    """The subject of a ticket opened for the document: "Facture FA-2026-000042" (fr),
    "Credit note AV-2026-000003" (en)."""
    if _french(doc.locale):
        what = "Avoir" if doc.is_credit_note else "Facture"
    else:
        what = "Credit note" if doc.is_credit_note else "Invoice"
    return f"{what} {doc.number}"


def note_text(doc: Handover, *, public: bool) -> str:
    """The plain text added with the PDF: a reply to the customer when `public`, otherwise an
    internal note for the support agent; in `doc.locale` (French, else English)."""
    french = _french(doc.locale)
    return _public(doc, french) if public else _internal(doc, french)
