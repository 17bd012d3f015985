"""Which EN 16931 VAT category (UNTDID 5305, BT-151 / BT-118) a line of a snapshot is in, and
the exemption reason (BT-120 text, BT-121 VATEX code) a 0 % category carries. Pure.

The snapshot does not store a category; it stores why the document charges no VAT, as the
legal mentions it prints (`InvoiceSnapshot.legal`, keyed by the rules of mentions.py). The
category is read from those same keys, so the XML can never give a reason the PDF does not:

    vat_franchise                              E  VATEX-FR-FRANCHISE  (art. 293 B du CGI)
    vat_reverse_charge + vat_intra_eu_exemption K VATEX-EU-IC  (intra-EU supply of goods)
    vat_reverse_charge alone                   AE VATEX-EU-AE  (B2B services, art. 259-1)
    vat_export_exemption, goods (or both)      G  VATEX-EU-G   (export, art. 262 I)
    vat_export_exemption, services             O  VATEX-EU-O   (B2B services outside the EU,
                                                  art. 259-1: outside the scope of French VAT)
    vat_exemption (the owner's own text)       E  its text as BT-120, no code (only the owner
                                                  knows which article of 261 ff. is theirs)

A line with VAT is S at its rate, also for an OSS distance sale (`taxing_country` not FR):
the destination's rate is a standard-rated sale there.

A 0 % line in a sale that otherwise charges VAT and states no exemption is Z ("zero rated"):
build.py makes such lines only as the rounding line (the platform's total minus the lines'
sum), a free line, a negative line following untaxed items, or shipping left untaxed (which
shipping_vat reports to the owner). None of them is exempt — the document states no reason,
so E (which needs one, BR-E-10) would invent it — and Z is the category EN 16931 has for VAT
charged at 0 %; it sits beside S (unlike O, BR-O-11) and BR-FR-15 accepts it.

Services to a business outside the EU are not exported (G is the export of goods): their place
of supply is the customer's country (art. 259-1), so the sale is outside the scope of French
VAT, category O. EN 16931 wants O alone on its document (BR-O-11 to 14). A taxed line beside
such services (which build.py does not make, but a platform's tax setting could) cannot sit
with O; those 0 % lines are then E with the printed mention as BT-120 and no VATEX code: E
needs only a reason (BR-E-10), the mention is the document's reason, and no code says
"outside the scope" in a document that is partly taxed.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from bridge.invoicing import mentions as m
from bridge.invoicing.snapshot import InvoiceLine, InvoiceSnapshot, VatRegime


@dataclass(frozen=True)
class VatCategory:
    code: str  # UNTDID 5305: S, Z, E, AE, K, G, O
    reason_code: str = ""  # BT-121, VATEX
    reason: str = ""  # BT-120, the printed mention

    @property
    def exempt(self) -> bool:
        return self.code not in ("S", "Z")

    @property
    def has_rate(self) -> bool:
        """O states no rate anywhere (BR-O-05, BR-O-06, BR-O-07, BR-O-09): no VAT applies."""
        return self.code != "O"


STANDARD = VatCategory("S")
ZERO_RATED = VatCategory("Z")


def untaxed_category(snapshot: InvoiceSnapshot) -> VatCategory:
    """The category of the document's 0 % lines, from the mentions it prints."""
    legal = snapshot.legal
    if m.REVERSE_CHARGE in legal:
        reason = legal[m.REVERSE_CHARGE]
        if m.INTRA_EU_EXEMPTION in legal:
            return VatCategory("K", "VATEX-EU-IC", f"{reason} — {legal[m.INTRA_EU_EXEMPTION]}")
        return VatCategory("AE", "VATEX-EU-AE", reason)
    franchise = snapshot.seller.vat_regime is VatRegime.franchise
    if m.VAT_FRANCHISE in legal or franchise:
        return VatCategory("E", "VATEX-FR-FRANCHISE", legal.get(m.VAT_FRANCHISE, ""))
    if m.EXPORT_EXEMPTION in legal:
        reason = legal[m.EXPORT_EXEMPTION]
        if snapshot.nature != "services":
            return VatCategory("G", "VATEX-EU-G", reason)
        if any(line_category(line, ZERO_RATED) is STANDARD for line in snapshot.lines):
            return VatCategory("E", "", reason)
        return VatCategory("O", "VATEX-EU-O", reason)
    if m.CONFIGURED_EXEMPTION in legal:
        return VatCategory("E", "", legal[m.CONFIGURED_EXEMPTION])
    return ZERO_RATED


def line_category(line: InvoiceLine, untaxed: VatCategory) -> VatCategory:
    """S for a line charging VAT; the document's untaxed category for a 0 % one."""
    if line.vat_rate != 0 or line.vat_amount != 0:
        return STANDARD
    return untaxed


def category_rate(category: VatCategory, rate: Decimal) -> Decimal:
    """The rate the XML states: the line's for S, 0 for every 0 % category (BR-E-05, …)."""
    return rate if category.code == "S" else Decimal(0)


def outside_scope(categories: list[VatCategory]) -> bool:
    """Whether the document is in category O, which BR-O-02 keeps free of VAT identifiers."""
    return any(category.code == "O" for category in categories)
