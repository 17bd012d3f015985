"""Credit notes (avoirs) for rendering tests, derived from an issued invoice snapshot.

`credit_note_of(invoice, …)` credits some of the invoice's lines in full, the way a refund of
returned items does: the lines as the invoice priced them (its discount folded into the unit
price, as `bridge.invoicing.credit` does), the VAT per rate recomputed, the VAT in euros at the
invoice's own ECB rate, and the refund as the payment. Everything else — seller, buyer,
mentions, legal, locale, currency — is the invoice's. Amounts stay positive: the kind says they
are credited. Dates follow the invoice's (the refund `refund_after` it), never the calendar.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal

from bridge.invoicing.build import Numbering
from bridge.invoicing.credit import Credit, build_credit_note, lines_of_invoice
from bridge.invoicing.snapshot import InvoiceSnapshot

CREDIT_SERIES = "AV"
REASON = "Retour du Carnet A5"
REFUND_AFTER = timedelta(days=5, hours=3)


def credit_note_of(
    invoice: InvoiceSnapshot,
    *,
    lines: Sequence[int] = (1,),
    sequence: int = 1,
    reason: str = REASON,
    method: str = "stripe",
    method_label: str | None = None,
    reference: str = "re_3QyA9bLk",
    paid_back: bool = True,
    refund_after: timedelta = REFUND_AFTER,
) -> InvoiceSnapshot:
    """A credit note on `invoice` giving back its `lines` (1 = the first line), refunded
    `refund_after` the invoice was issued by `method` (its label: "Carte bancaire" in French,
    "credit card" in English unless given). `paid_back=False`: a correction, no money back.
    Built by the real `build_credit_note`; only the printed method label is set here."""
    credited = lines_of_invoice(invoice, [(i, None) for i in lines])
    refunded_at = invoice.issued_at + refund_after
    issued_at = refunded_at + timedelta(minutes=2)  # the refund webhook, then the issue step
    credit = Credit(
        source=f"refund:{reference}",
        amount=sum((ln.amount + ln.tax for ln in credited), Decimal(0)),
        at=refunded_at,
        reason=reason,
        method=method if paid_back else "none",
        reference=reference if paid_back else "",
        lines=credited,
    )
    number = f"{CREDIT_SERIES}-{issued_at.year}-{sequence:06d}"
    note = build_credit_note(
        invoice, credit, Numbering(CREDIT_SERIES, number, sequence), issued_at=issued_at
    )
    if not paid_back:
        return note
    if method_label is None:
        method_label = "Carte bancaire" if invoice.locale.startswith("fr") else "credit card"
    return note.model_copy(
        update={"payment": note.payment.model_copy(update={"method_label": method_label})}
    )
