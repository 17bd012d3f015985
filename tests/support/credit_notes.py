"""Credit notes (avoirs) for rendering tests, derived from an issued invoice snapshot.

`credit_note_of(invoice, …)` credits some of the invoice's lines in full, the way a refund of
returned items does: the lines as the invoice priced them (its discount folded into the unit
price, as `bridge.invoicing.credit` does), the VAT per rate recomputed, the VAT in euros at the
invoice's own ECB rate, and the refund as the payment. Everything else — seller, buyer,
mentions, legal, locale, currency — is the invoice's. Amounts stay positive: the kind says they
are credited. Dates follow the invoice's (the refund `refund_after` it), never the calendar.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

from bridge.invoicing.amounts import CENT, ZERO
from bridge.invoicing.build import eur_conversion, local_date
from bridge.invoicing.snapshot import (
    DocumentKind,
    InvoiceLine,
    InvoiceSnapshot,
    PaymentSnapshot,
    Totals,
    VatBucket,
)

CREDIT_SERIES = "AV"
REASON = "Retour du Carnet A5"
REFUND_AFTER = timedelta(days=5, hours=3)


def credited_line(line: InvoiceLine) -> InvoiceLine:
    """`line` credited in full: what it cost after its discount, at its quantity."""
    unit = (line.total_excl / line.quantity).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)
    unit = unit.quantize(CENT) if unit == unit.quantize(CENT) else unit.normalize()
    return line.model_copy(update={"unit_price_excl": unit, "discount_excl": ZERO})


def breakdown(lines: Sequence[InvoiceLine]) -> list[VatBucket]:
    """The VAT per rate of `lines`, highest rate first (as the credit note builder orders it)."""
    base: dict[Decimal, Decimal] = defaultdict(lambda: ZERO)
    vat: dict[Decimal, Decimal] = defaultdict(lambda: ZERO)
    for line in lines:
        base[line.vat_rate] += line.total_excl
        vat[line.vat_rate] += line.vat_amount
    return [VatBucket(rate=r, base=base[r], amount=vat[r]) for r in sorted(base, reverse=True)]


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
    "credit card" in English unless given). `paid_back=False`: a correction, no money back."""
    credited = [credited_line(invoice.lines[i - 1]) for i in lines]
    vat = breakdown(credited)
    total_excl = sum((ln.total_excl for ln in credited), ZERO)
    total_vat = sum((ln.vat_amount for ln in credited), ZERO)
    refunded_at = invoice.issued_at + refund_after
    issued_at = refunded_at + timedelta(minutes=2)  # the refund webhook, then the issue step
    if method_label is None:
        method_label = "Carte bancaire" if invoice.locale.startswith("fr") else "credit card"
    return invoice.model_copy(
        update={
            "kind": DocumentKind.credit_note,
            "series": CREDIT_SERIES,
            "number": f"{CREDIT_SERIES}-{issued_at.year}-{sequence:06d}",
            "sequence": sequence,
            "issued_at": issued_at,
            "issue_date": local_date(issued_at, invoice.timezone),
            "lines": credited,
            "vat_breakdown": vat,
            "eur": eur_conversion(
                invoice.currency, vat, invoice.eur.exchange if invoice.eur else None
            ),
            "totals": Totals(
                discount_excl=ZERO,
                total_excl=total_excl,
                total_vat=total_vat,
                total_incl=total_excl + total_vat,
                amount_paid=total_excl + total_vat if paid_back else ZERO,
                amount_due=ZERO,
            ),
            "payment": PaymentSnapshot(
                method=method if paid_back else "none",
                method_label=method_label if paid_back else "",
                paid_at=refunded_at,
                paid_on=local_date(refunded_at, invoice.timezone),
                reference=reference if paid_back else "",
            ),
            "credited_number": invoice.number,
            "credited_issue_date": invoice.issue_date,
            "credit_reason": reason,
            "operation_date": None,
        }
    )
