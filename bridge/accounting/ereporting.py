"""B2C e-reporting data: the daily totals of sales to consumers the reform asks a seller to
transmit through its approved platform (CGI ann. II art. 242 nonies M; DGFiP external
specifications v3.1 of 30/10/2025, flux 10.3 "transactions agrégées"). Pure.

One group per day (TT-77) × currency (TT-78) × category (TT-81), holding the total excl. VAT
(TT-82), the total VAT in euros (TT-83), the number of transactions (TT-85), and per VAT rate
(TG-32) the rate (TT-86), the taxable base (TT-87) and the VAT (TT-88). A credit note counts as
a transaction with negative amounts, on the day it was issued.

Categories, per line of a document to a consumer (a business buyer's invoices go through
e-invoicing, not here):
    TLB1  goods (and the shipping and fees of a sale of goods) taxed in France
    TPS1  services (and the shipping and fees of a sale of services only) taxed in France
    TNT1  not subject to French VAT: an EU distance sale under the One-Stop Shop (CGI art. 258 A),
          an export outside the EU, services outside the scope of French VAT
A seller in franchise en base reports TLB1 / TPS1 at 0 %. Lines exempt under art. 261 ff.
(the owner's own exemption wording) are outside e-reporting and left out, counted apart.
Margin schemes (TMA1) are not sold through this tool.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from bridge.accounting.entries import RateLookup, euro_rate, oss_country
from bridge.accounting.spread import booked_lines
from bridge.facturx.categories import line_category, untaxed_category
from bridge.invoicing.amounts import cents
from bridge.invoicing.snapshot import DocumentKind, InvoiceLine, InvoiceSnapshot, VatRegime

SPECIFICATION = (
    "DGFiP, spécifications externes de la facturation électronique v3.1 (30/10/2025), "
    "flux 10.3 : transactions B2C agrégées par jour, devise et catégorie"
)
CATEGORIES = {
    "TLB1": "Livraisons de biens soumises à la TVA",
    "TPS1": "Prestations de services soumises à la TVA",
    "TNT1": "Livraisons et prestations non soumises à la TVA en France",
}
ZERO = Decimal(0)
_NOT_FRENCH_VAT = frozenset({"G", "O", "K", "AE"})


@dataclass(slots=True)
class RateTotal:
    base: Decimal = ZERO  # TT-87
    vat: Decimal = ZERO  # TT-88, in the group's currency


@dataclass(slots=True)
class DailyGroup:
    day: date  # TT-77
    currency: str  # TT-78
    category: str  # TT-81
    vat_on_debits: bool  # TT-80: the seller opted to pay VAT on services when invoiced
    rates: dict[Decimal, RateTotal] = field(default_factory=dict)  # TG-32
    vat_eur: Decimal = ZERO  # TT-83
    invoices: int = 0
    credit_notes: int = 0

    @property
    def base(self) -> Decimal:  # TT-82
        return sum((r.base for r in self.rates.values()), ZERO)

    @property
    def transactions(self) -> int:  # TT-85
        return self.invoices + self.credit_notes


def category_of(snapshot: InvoiceSnapshot, line: InvoiceLine) -> str | None:
    """The e-reporting category of a line (see the module doc); None: outside e-reporting."""
    vat_category = line_category(line, untaxed_category(snapshot))
    if oss_country(snapshot, line) or vat_category.code in _NOT_FRENCH_VAT:
        return "TNT1"
    if vat_category.code == "E" and vat_category.reason_code != "VATEX-FR-FRANCHISE":
        return None
    return _taxed_category(snapshot, line)


def _taxed_category(snapshot: InvoiceSnapshot, line: InvoiceLine) -> str:
    if line.kind in ("shipping", "fee"):
        return "TPS1" if snapshot.nature == "services" else "TLB1"
    return "TPS1" if line.nature == "services" else "TLB1"


def is_b2c(snapshot: InvoiceSnapshot) -> bool:
    return not snapshot.buyer.is_business


class EReporting:
    """Fed each document of the period (`add`), then read (`groups`)."""

    def __init__(self, rates: RateLookup | None = None) -> None:
        self._rates = rates
        self._groups: dict[tuple[date, str, str, bool], DailyGroup] = {}
        self.left_out_lines = 0  # exempt under art. 261 ff.: outside e-reporting

    def add(self, snapshot: InvoiceSnapshot, credited: InvoiceSnapshot | None = None) -> None:
        """Count a document in (a business buyer's is ignored); `credited`: a credit note's
        invoice, over whose categories an amount credited without lines is spread. Raises
        `NoEuroRate`."""
        if not is_b2c(snapshot):
            return
        rate = euro_rate(snapshot, self._rates)
        sign = Decimal(-1) if snapshot.kind is DocumentKind.credit_note else Decimal(1)
        debits = snapshot.seller.vat_regime is VatRegime.debits
        # VAT per group and rate: TT-83 converts each rate on its own, as the document does
        vat_by_group: dict[tuple[date, str, str, bool], dict[Decimal, Decimal]] = {}
        for category, line in booked_lines(snapshot, credited, category_of):
            if category is None:
                self.left_out_lines += 1
                continue
            key = (snapshot.issue_date, snapshot.currency, category, debits and category == "TPS1")
            group = self._groups.get(key) or self._groups.setdefault(key, DailyGroup(*key))
            totals = group.rates.setdefault(line.vat_rate.normalize(), RateTotal())
            totals.base += sign * line.total_excl
            totals.vat += sign * line.vat_amount
            by_rate = vat_by_group.setdefault(key, {})
            by_rate[line.vat_rate] = by_rate.get(line.vat_rate, ZERO) + line.vat_amount
        for key, by_rate in vat_by_group.items():
            group = self._groups[key]
            vat = sum((v if rate is None else cents(v / rate) for v in by_rate.values()), ZERO)
            group.vat_eur += sign * vat
            if sign < 0:
                group.credit_notes += 1
            else:
                group.invoices += 1

    def groups(self) -> list[DailyGroup]:
        return sorted(self._groups.values(), key=lambda g: (g.day, g.currency, g.category))


CSV_HEADER = (
    "date",
    "devise",
    "categorie",
    "taux_tva",
    "base_ht",
    "tva",
    "total_ht_groupe",
    "tva_groupe_eur",
    "transactions_groupe",
    "option_debits",
)


def csv_rows(groups: list[DailyGroup]) -> Iterator[list[str]]:
    """One row per group and rate (TT-86 … TT-88), the group's figures repeated beside."""
    for group in groups:
        for rate, totals in sorted(group.rates.items(), reverse=True):
            yield [
                group.day.isoformat(),
                group.currency,
                group.category,
                _decimal(rate, comma=True),
                _money(totals.base, comma=True),
                _money(totals.vat, comma=True),
                _money(group.base, comma=True),
                _money(group.vat_eur, comma=True),
                str(group.transactions),
                "oui" if group.vat_on_debits else "non",
            ]


def as_json(
    groups: list[DailyGroup], *, siren: str, first: date, last: date, left_out_lines: int
) -> dict[str, Any]:
    """The groups as JSON (amounts as strings with a decimal point), field ids in `fields`."""
    return {
        "specification": SPECIFICATION,
        "siren": siren,
        "from": first.isoformat(),
        "to": last.isoformat(),
        "categories": CATEGORIES,
        "fields": {
            "date": "TT-77",
            "currency": "TT-78",
            "vat_on_debits": "TT-80",
            "category": "TT-81",
            "tax_exclusive_amount": "TT-82",
            "tax_total_eur": "TT-83",
            "transactions": "TT-85",
            "rates": "TG-32",
            "rate": "TT-86",
            "taxable_amount": "TT-87",
            "tax_amount": "TT-88",
        },
        "left_out_lines_exempt": left_out_lines,
        "groups": [
            {
                "date": g.day.isoformat(),
                "currency": g.currency,
                "category": g.category,
                "vat_on_debits": g.vat_on_debits,
                "tax_exclusive_amount": _money(g.base),
                "tax_total_eur": _money(g.vat_eur),
                "transactions": g.transactions,
                "invoices": g.invoices,
                "credit_notes": g.credit_notes,
                "rates": [
                    {
                        "rate": _decimal(rate),
                        "taxable_amount": _money(t.base),
                        "tax_amount": _money(t.vat),
                    }
                    for rate, t in sorted(g.rates.items(), reverse=True)
                ],
            }
            for g in groups
        ],
    }


def _money(amount: Decimal, *, comma: bool = False) -> str:
    text = f"{amount:.2f}"
    return text.replace(".", ",") if comma else text


def _decimal(value: Decimal, *, comma: bool = False) -> str:
    text = f"{value.normalize():f}"
    return text.replace(".", ",") if comma else text
