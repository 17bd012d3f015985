"""The sales journal: one row per invoice or credit note, the way a French accountant opens it
in a spreadsheet. Pure.

The CSV is written for French spreadsheets: UTF-8 with a byte order mark (so accents open
right), ";" between fields, decimal comma. Amounts are in the document's currency, credit
notes negative, so a column's sum over one currency is its net sales. There is a base and a VAT
column per rate the period uses, which only the whole period tells (`journal_header`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from bridge.invoicing.snapshot import DocumentKind, InvoiceSnapshot

ENCODING = "utf-8-sig"
DELIMITER = ";"
ZERO = Decimal(0)

_FIRST = (
    "numero",
    "type",
    "date",
    "client",
    "societe",
    "numero_tva_client",
    "pays",
    "commande",
    "boutique",
    "devise",
)
_LAST = (
    "total_ht",
    "total_tva",
    "total_ttc",
    "mode_paiement",
    "date_paiement",
    "reference_paiement",
    "facture_corrigee",
)


@dataclass(frozen=True, slots=True)
class JournalRow:
    number: str
    kind: str  # "facture" | "avoir"
    issue_date: date
    customer: str
    company: str
    vat_number: str
    country: str
    order: str
    shop: str
    currency: str
    base_by_rate: dict[Decimal, Decimal] = field(default_factory=dict)
    vat_by_rate: dict[Decimal, Decimal] = field(default_factory=dict)
    total_excl: Decimal = ZERO
    total_vat: Decimal = ZERO
    total_incl: Decimal = ZERO
    payment_method: str = ""
    paid_on: date | None = None
    payment_reference: str = ""
    credited_number: str = ""


def journal_row(snapshot: InvoiceSnapshot) -> JournalRow:
    sign = Decimal(-1) if snapshot.kind is DocumentKind.credit_note else Decimal(1)
    base: dict[Decimal, Decimal] = {}
    vat: dict[Decimal, Decimal] = {}
    for bucket in snapshot.vat_breakdown:
        rate = bucket.rate.normalize()
        base[rate] = base.get(rate, ZERO) + sign * bucket.base
        vat[rate] = vat.get(rate, ZERO) + sign * bucket.amount
    totals = snapshot.totals
    buyer = snapshot.buyer
    return JournalRow(
        number=snapshot.number,
        kind="avoir" if sign < 0 else "facture",
        issue_date=snapshot.issue_date,
        customer=buyer.name,
        company=buyer.company,
        vat_number=buyer.vat_number,
        country=buyer.billing_country,
        order=snapshot.order.reference,
        shop=snapshot.order.shop,
        currency=snapshot.currency,
        base_by_rate=base,
        vat_by_rate=vat,
        total_excl=sign * totals.total_excl,
        total_vat=sign * totals.total_vat,
        total_incl=sign * totals.total_incl,
        payment_method=snapshot.payment.method_label or snapshot.payment.method,
        paid_on=snapshot.payment.paid_on,
        payment_reference=snapshot.payment.reference,
        credited_number=snapshot.credited_number,
    )


def journal_header(rates: list[Decimal]) -> list[str]:
    per_rate = [name for rate in rates for name in (f"base_{_rate(rate)}", f"tva_{_rate(rate)}")]
    return [*_FIRST, *per_rate, *_LAST]


def journal_cells(row: JournalRow, rates: list[Decimal]) -> list[str]:
    per_rate = [
        _amount(amounts.get(rate, ZERO))
        for rate in rates
        for amounts in (row.base_by_rate, row.vat_by_rate)
    ]
    return [
        row.number,
        row.kind,
        row.issue_date.isoformat(),
        _inert(row.customer),
        _inert(row.company),
        _inert(row.vat_number),
        row.country,
        _inert(row.order),
        _inert(row.shop),
        row.currency,
        *per_rate,
        _amount(row.total_excl),
        _amount(row.total_vat),
        _amount(row.total_incl),
        _inert(row.payment_method),
        row.paid_on.isoformat() if row.paid_on else "",
        _inert(row.payment_reference),
        row.credited_number,
    ]


def _inert(value: str) -> str:
    """Text from the shop never runs as a spreadsheet formula: a customer named "=HYPERLINK(…)"
    would otherwise run when the accountant opens the file."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def sorted_rates(rates: set[Decimal]) -> list[Decimal]:
    """Highest rate first, as French invoices list them."""
    return sorted({rate.normalize() for rate in rates}, reverse=True)


def _rate(rate: Decimal) -> str:
    return f"{rate.normalize():f}".replace(".", ",")


def _amount(amount: Decimal) -> str:
    return f"{amount:.2f}".replace(".", ",")
