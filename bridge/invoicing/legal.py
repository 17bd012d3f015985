"""The mandatory content of a French facture acquittée, as named, pure rules over a snapshot.

Each rule is one function `rule(snapshot) -> list[MissingMention]` for one family of mentions
(CGI art. 242 nonies A; Code de commerce art. L441-9; the "facture acquittée" receipt). The
rules read only the snapshot — the document as issued — so they check what is printed, for
any invoice, years later: `check_invoice(snapshot)` runs them all. `build_invoice` runs it on
every snapshot it builds and refuses (OrderNotInvoiceable → quarantine) when one fails.

A missing mention costs the seller 15 € per mention per invoice (CGI art. 1737): the rules
err on the side of refusing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from stdnum.fr import siren as fr_siren

from bridge.invoicing import mentions as m
from bridge.invoicing import vat_rates
from bridge.invoicing.amounts import cents
from bridge.invoicing.legal_forms import is_sole_trader_form
from bridge.invoicing.snapshot import DocumentKind, InvoiceLine, InvoiceSnapshot, VatRegime
from bridge.invoicing.text import same_person

ZERO = Decimal(0)
CENT = Decimal("0.01")
FINE_PER_MISSING_MENTION = Decimal(15)
MAX_NUMBER_LENGTH = 35
_NUMBER = re.compile(r"^[A-Za-z0-9+\-_/]+$")


@dataclass(frozen=True)
class MissingMention:
    """One mandatory mention the invoice lacks (or states wrongly), named by its rule."""

    rule: str
    message: str
    # What to do when the rule's usual remedy (REMEDIES) does not fit this case.
    remedy: str = ""

    def __str__(self) -> str:
        return f"{self.rule}: {self.message}"


Rule = Callable[[InvoiceSnapshot], list[MissingMention]]


# --------------------------------------------------------------------------- helpers


def _miss(rule: str, message: str) -> list[MissingMention]:
    return [MissingMention(rule, message)]


# Fallback patterns for snapshots without `legal` (stored before it existed, or hand-built):
# the mention is recognised in the printed list by its essential words, fr or en.
_PATTERNS: dict[str, re.Pattern[str]] = {
    m.VAT_FRANCHISE: re.compile(r"293\s*B", re.I),
    m.VAT_DEBITS: re.compile(r"d[ée]bits", re.I),
    m.REVERSE_CHARGE: re.compile(r"autoliquidation|reverse charge", re.I),
    m.INTRA_EU_EXEMPTION: re.compile(r"262\s*ter\s*I\b", re.I),
    m.EXPORT_EXEMPTION: re.compile(r"262\s*I\b(?!\s*ter)|259-1", re.I),
    m.LATE_PENALTIES: re.compile(r"p[ée]nalit|penalt", re.I),
    m.RECOVERY_INDEMNITY: re.compile(r"(40\s*(€|EUR|euros?))|(€\s*40)", re.I),
    m.EARLY_PAYMENT: re.compile(r"escompte|early payment", re.I),
}


def has_mention(snapshot: InvoiceSnapshot, rule: str) -> bool:
    """The mention of `rule` is printed: recorded under its rule and present in `mentions`,
    or (older snapshots) recognisable in `mentions` by its essential words."""
    pattern = _PATTERNS.get(rule)
    recorded = snapshot.legal.get(rule, "").strip()
    if recorded:
        if recorded not in snapshot.mentions:
            return False
        # The wording is the seller's choice, except where the law fixes the content.
        return rule != m.RECOVERY_INDEMNITY or bool(pattern and pattern.search(recorded))
    return bool(pattern) and any(pattern.search(x) for x in snapshot.mentions)


def situation_of(snapshot: InvoiceSnapshot) -> m.VatSituation:
    t = snapshot.totals
    return m.vat_situation(
        snapshot.seller,
        snapshot.buyer,
        vat_charged=t.total_vat != 0 or any(ln.vat_amount for ln in snapshot.lines),
        amount_excl_positive=t.total_excl > 0,
        vat_check=snapshot.vat_check,
        nature=snapshot.nature,
    )


def zero_rate_situation(snapshot: InvoiceSnapshot) -> m.VatSituation:
    """Where the 0 % lines stand, apart from the taxed ones: goods exported at 0 % with their
    shipping taxed are still an export (the shipping's VAT is the owner's to check, not a
    reason to call the goods a French sale)."""
    return m.vat_situation(
        snapshot.seller,
        snapshot.buyer,
        vat_charged=False,
        amount_excl_positive=True,
        vat_check=snapshot.vat_check,
        nature=snapshot.nature,
    )


def only_shipping_taxed(snapshot: InvoiceSnapshot) -> bool:
    """The VAT the document charges is on shipping alone: its 0 % goods keep their own
    exemption (an export with taxed shipping). VAT on goods makes the whole sale taxed: a
    0 % line beside it needs the owner's reason, never a reverse-charge mention."""
    return all(ln.kind == "shipping" for ln in snapshot.lines if ln.vat_amount or ln.vat_rate)


def is_franchise(snapshot: InvoiceSnapshot) -> bool:
    return snapshot.seller.vat_regime is VatRegime.franchise


# --------------------------------------------------------------------------- seller


def seller_identity(s: InvoiceSnapshot) -> list[MissingMention]:
    """Seller's name and registered address."""
    out: list[MissingMention] = []
    if not s.seller.legal_name.strip():
        out += _miss("seller_identity", "the seller's legal name is missing")
    if not any(x.strip() for x in s.seller.address_lines):
        out += _miss("seller_identity", "the seller's registered address is missing")
    return out


def seller_registration(s: InvoiceSnapshot) -> list[MissingMention]:
    """SIREN, and "RCS <city>" (or RM) for a company."""
    out: list[MissingMention] = []
    siren = s.seller.siren.replace(" ", "")
    if not siren:
        out += _miss("seller_registration", "the seller's SIREN is missing")
    elif s.seller.country.upper() == "FR" and not fr_siren.is_valid(siren):
        out += _miss("seller_registration", f"the seller's SIREN {siren!r} is not valid")
    if not _is_sole_trader(s) and not s.seller.rcs_city.strip():
        out += _miss(
            "seller_registration",
            f"a company ({s.seller.legal_form or 'no legal form'}) must print "
            "'RCS <city>' (or RM for an artisan)",
        )
    return out


def _is_sole_trader(s: InvoiceSnapshot) -> bool:
    return is_sole_trader_form(s.seller.legal_form)


def seller_legal_form(s: InvoiceSnapshot) -> list[MissingMention]:
    """Legal form and share capital; a sole trader prints "EI" instead."""
    if not s.seller.legal_form.strip():
        return _miss("seller_legal_form", "the seller's legal form (SAS, SARL… or EI) is missing")
    if _is_sole_trader(s):
        return []
    if not s.seller.share_capital.strip():
        return _miss(
            "seller_legal_form",
            f"the share capital of the {s.seller.legal_form} is missing (a sole trader "
            "prints 'EI' as legal form instead)",
        )
    return []


def seller_vat_number(s: InvoiceSnapshot) -> list[MissingMention]:
    """The seller's intra-community VAT number: not required under the franchise en base,
    except for services to a business in another member state, which the franchise seller
    must declare under a VAT number (CGI art. 286 ter)."""
    if s.seller.vat_number.strip():
        return []
    if is_franchise(s) and situation_of(s) is not m.VatSituation.intra_eu_b2b:
        return []
    return _miss("seller_vat_number", "the seller's intra-community VAT number is missing")


# --------------------------------------------------------------------------- buyer


def buyer_identity(s: InvoiceSnapshot) -> list[MissingMention]:
    """Buyer's name and billing address; the delivery address only when it differs."""
    out: list[MissingMention] = []
    if not (s.buyer.name.strip() or s.buyer.company.strip()):
        out += _miss("buyer_identity", "the buyer's name is missing")
    if not any(x.strip() for x in s.buyer.billing_lines):
        out += _miss("buyer_identity", "the buyer's billing address is missing")
    b = s.buyer
    repeated = (
        b.shipping_lines
        and (b.shipping_lines, b.shipping_country) == (b.billing_lines, b.billing_country)
        and same_person(b.shipping_name, b.name)
        and same_person(b.shipping_company, b.company)
    )
    if repeated:
        out += _miss(
            "buyer_identity",
            "the delivery block is printed but repeats the billing one (same recipient, same "
            "address)",
        )
    return out


def buyer_business_ids(s: InvoiceSnapshot) -> list[MissingMention]:
    """A business buyer: its company name, and its SIREN and/or VAT number when known.

    A buyer known only by a company name is invoiced as a business under the owner's policy
    (`[rules] company_without_identifier`, see bridge/invoicing/buyer.py), and the owner is
    alerted to collect the SIREN: the rule asks for an identifier only when there is no
    company name to stand for one."""
    if not s.buyer.is_business:
        return []
    if s.buyer.company.strip():
        return []
    if not s.buyer.name.strip():
        return _miss("buyer_business_ids", "the business buyer's company name is missing")
    if not (s.buyer.siren.strip() or s.buyer.vat_number.strip()):
        return _miss("buyer_business_ids", "the business buyer's SIREN or VAT number is missing")
    return []


# --------------------------------------------------------------------------- document


def document_identity(s: InvoiceSnapshot) -> list[MissingMention]:
    """A unique number (≤ 35 chars of A-Z a-z 0-9 + - _ /) and an issue date."""
    if not s.number:
        return _miss("document_identity", "the invoice number is missing")
    if len(s.number) > MAX_NUMBER_LENGTH or not _NUMBER.match(s.number):
        return _miss(
            "document_identity",
            f"invoice number {s.number!r}: at most {MAX_NUMBER_LENGTH} characters from "
            "A-Z a-z 0-9 + - _ /",
        )
    return []


def sale_date(s: InvoiceSnapshot) -> list[MissingMention]:
    """The date of the sale/payment (printed when it differs from the issue date)."""
    if s.kind is not DocumentKind.invoice:
        return []
    if s.payment.paid_on > s.issue_date:
        return _miss(
            "sale_date",
            f"payment date {s.payment.paid_on} is after the issue date {s.issue_date}: "
            "a receipted invoice cannot precede the payment",
        )
    return []


def operation_nature(s: InvoiceSnapshot) -> list[MissingMention]:
    """Nature of the operation: goods, services or both."""
    if s.nature not in ("goods", "services", "both"):
        return _miss("operation_nature", f"unknown nature of the operation {s.nature!r}")
    return []


def line_details(s: InvoiceSnapshot) -> list[MissingMention]:
    """Per line: quantity, description, unit price excl. VAT, VAT rate, total excl. VAT."""
    if not s.lines:
        return _miss("line_details", "the invoice has no line")
    out: list[MissingMention] = []
    for i, ln in enumerate(s.lines, start=1):
        where = f"line {i} ({ln.description!r})"
        if not ln.description.strip():
            out += _miss("line_details", f"line {i} has no description")
        if ln.quantity <= 0:
            out += _miss("line_details", f"{where}: quantity {ln.quantity} must be positive")
        # unit price is rounded to the cent per line: allow half a cent per unit of drift
        slack = CENT + abs(ln.quantity) * Decimal("0.005")
        if abs(ln.unit_price_excl * ln.quantity - ln.discount_excl - ln.total_excl) > slack:
            out += _miss(
                "line_details",
                f"{where}: {ln.quantity} × {ln.unit_price_excl} - {ln.discount_excl} does not "
                f"make the line total {ln.total_excl}",
            )
        if ln.total_excl + ln.vat_amount != ln.total_incl:
            out += _miss("line_details", f"{where}: excl. VAT + VAT ≠ incl. VAT")
        if ln.vat_rate < 0 or (is_franchise(s) and (ln.vat_rate or ln.vat_amount)):
            out += _miss("line_details", f"{where}: VAT rate {ln.vat_rate} not allowed here")
    return out


def totals(s: InvoiceSnapshot) -> list[MissingMention]:
    """Total excl. VAT, total VAT and total incl. VAT, adding up to the cent."""
    t = s.totals
    out: list[MissingMention] = []
    lines_excl = sum((ln.total_excl for ln in s.lines), ZERO)
    lines_vat = sum((ln.vat_amount for ln in s.lines), ZERO)
    if lines_excl != t.total_excl:
        out += _miss("totals", f"lines add up to {lines_excl} excl. VAT, total says {t.total_excl}")
    if lines_vat != t.total_vat:
        out += _miss("totals", f"line VAT adds up to {lines_vat}, total VAT says {t.total_vat}")
    if t.total_excl + t.total_vat != t.total_incl:
        out += _miss("totals", f"{t.total_excl} + {t.total_vat} ≠ total incl. VAT {t.total_incl}")
    return out


def vat_per_rate(s: InvoiceSnapshot) -> list[MissingMention]:
    """VAT broken down per rate (base and amount for each), summing to the VAT total."""
    if is_franchise(s):
        return []
    if not s.vat_breakdown:
        return _miss("vat_per_rate", "the VAT breakdown per rate is missing")
    out: list[MissingMention] = []
    rates = {b.rate for b in s.vat_breakdown}
    for rate in sorted({ln.vat_rate for ln in s.lines} - rates):
        out += _miss("vat_per_rate", f"no VAT breakdown row for the {rate} % rate")
    if sum((b.amount for b in s.vat_breakdown), ZERO) != s.totals.total_vat:
        out += _miss("vat_per_rate", "the VAT breakdown does not add up to the VAT total")
    if sum((b.base for b in s.vat_breakdown), ZERO) != s.totals.total_excl:
        out += _miss("vat_per_rate", "the VAT bases do not add up to the total excl. VAT")
    return out


# --------------------------------------------------------------------------- VAT regime


def vat_rate(s: InvoiceSnapshot) -> list[MissingMention]:
    """Each VAT rate of the breakdown is in force where the sale is taxed, on the payment day
    (the dated table of `vat_rates`; the delivery postcode places Corsica and the DOM)."""
    rates = {b.rate for b in s.vat_breakdown if b.rate}
    if is_franchise(s) or not rates:
        return []
    country, postcode = m.delivery_place(s.buyer, "FR")
    try:
        territory = s.taxing_country or vat_rates.territory_of(
            s.seller.country,
            country,
            postcode,
            seller_postcode=m.printed_postcode(s.seller.address_lines),
        )
        valid = vat_rates.rates_in_force(territory, s.payment.paid_on) if territory else None
        if valid is not None and s.nature != "goods" and territory != "FR":
            # services to a consumer bear French VAT even beside OSS goods (line_territory)
            valid |= vat_rates.rates_in_force("FR", s.payment.paid_on)
    except (vat_rates.UnknownTerritory, vat_rates.DateNotCovered):
        return []  # not checkable from the document alone; issuing checked it on the order
    if valid is None:
        return []  # no VAT territory (outside the EU): vat_exemption checks the 0 %
    return [
        MissingMention(
            "vat_rate",
            f"{rate.normalize():f} % is not a VAT rate of {territory} on {s.payment.paid_on} "
            f"(valid: {', '.join(f'{r.normalize():f}' for r in sorted(valid))})",
        )
        for rate in sorted(rates - valid)
    ]


def vat_regime(s: InvoiceSnapshot) -> list[MissingMention]:
    """Franchise en base: "TVA non applicable, art. 293 B du CGI" and no VAT at all;
    option sur les débits: its mention."""
    out: list[MissingMention] = []
    services_abroad = situation_of(s) is m.VatSituation.intra_eu_b2b  # vat_exemption checks it
    if is_franchise(s):
        if not services_abroad and not has_mention(s, m.VAT_FRANCHISE):
            out += _miss(
                "vat_regime", "franchise en base without 'TVA non applicable, art. 293 B du CGI'"
            )
        if s.totals.total_vat or any(b.amount for b in s.vat_breakdown):
            out += _miss("vat_regime", "a seller in franchise en base cannot show a VAT amount")
    elif s.seller.vat_regime is VatRegime.debits and not has_mention(s, m.VAT_DEBITS):
        out += _miss(
            "vat_regime",
            "the seller opted for VAT on debits: 'Option pour le paiement de la taxe d'après "
            "les débits' is missing",
        )
    return out


def vat_exemption(s: InvoiceSnapshot) -> list[MissingMention]:
    """No VAT on a cross-border sale must say why: intra-EU B2B (autoliquidation, art. 262 ter I)
    or export (art. 262 I); an EU buyer without a valid VAT number owes VAT."""
    if s.kind is not DocumentKind.invoice:
        return []
    situation = situation_of(s)
    goods = s.nature in ("goods", "both")
    if situation is m.VatSituation.intra_eu_b2b:
        out: list[MissingMention] = []
        if not has_mention(s, m.REVERSE_CHARGE):
            out += _miss("vat_exemption", "intra-EU B2B without VAT: 'Autoliquidation' missing")
        if goods and not has_mention(s, m.INTRA_EU_EXEMPTION):
            out += _miss(
                "vat_exemption",
                "intra-EU supply of goods: 'Exonération de TVA, art. 262 ter I du CGI' missing",
            )
        return out
    if situation is m.VatSituation.intra_eu_unverified:
        return [_without_vies_proof(s)]
    if situation is m.VatSituation.intra_eu_unjustified:
        dest = m.destination_country(s.buyer, s.seller.country, s.seller.address_lines)
        number = s.buyer.vat_number or "none"
        if s.vat_check is not None and m.valid_eu_vat_number(number, not_from=s.seller.country):
            return _miss(
                "vat_exemption",
                f"no VAT charged on a sale to {dest} but VIES does not confirm the buyer's VAT "
                f"number {number} (asked {s.vat_check.checked_at:%Y-%m-%d %H:%M} UTC): VAT is due",
            )
        return _miss(
            "vat_exemption",
            f"no VAT charged on a sale to {dest} but the buyer has no valid EU VAT number "
            f"({number}): VAT is due",
        )
    exported = situation is m.VatSituation.export and (goods or s.buyer.is_business)
    if exported and not has_mention(s, m.EXPORT_EXEMPTION):
        return _miss(
            "vat_exemption", "export without VAT: the art. 262 I du CGI mention is missing"
        )
    return []


def _without_vies_proof(s: InvoiceSnapshot) -> MissingMention:
    """An intra-EU exemption with no VIES answer recorded. Issuing never stores one (the issue
    step asks VIES first), so this is an invoice issued before VIES checks: reported, never
    re-issued, since an issued invoice is immutable."""
    return MissingMention(
        "vat_exemption",
        f"no VIES check of the buyer's VAT number {s.buyer.vat_number} is recorded: issued "
        "before VIES checks, its intra-EU exemption rests on the number's checksum alone",
        remedy="nothing to re-issue: keep with this invoice a VIES check of the number made "
        "when it was issued, if you have one",
    )


# Lines that are not a sale at 0 %: the rounding line a within-tolerance total adds.
ROUNDING_LABELS = frozenset({"Arrondi", "Rounding"})


def is_rounding_line(line: InvoiceLine) -> bool:
    return line.kind == "fee" and line.description in ROUNDING_LABELS and not line.vat_rate


def untaxed_lines(lines: list[InvoiceLine]) -> list[InvoiceLine]:
    """Lines sold at 0 % VAT. A free line (0,00 €) owes nothing and needs no reason, a
    negative one (a discount's share on untaxed items) follows the lines it discounts, and
    shipping follows its goods: untaxed shipping is told to the owner (shipping_vat), not
    refused."""
    return [
        ln
        for ln in lines
        if not ln.vat_rate
        and ln.total_excl > 0
        and ln.kind != "shipping"
        and not is_rounding_line(ln)
    ]


def zero_rate_reason(s: InvoiceSnapshot) -> list[MissingMention]:
    """Every 0 % line has a reason: the franchise, the sale's exemption (intra-EU B2B,
    export) or the owner's exemption text (`[legal] vat_exemption`), printed."""
    if s.kind is not DocumentKind.invoice or is_franchise(s):
        return []
    zero = untaxed_lines(s.lines)
    unjustified = (m.VatSituation.intra_eu_unjustified, m.VatSituation.intra_eu_unverified)
    if not zero or situation_of(s) in unjustified:  # vat_exemption says it
        return []
    situation = zero_rate_situation(s) if only_shipping_taxed(s) else situation_of(s)
    explained = m.exemption_explains_zero_rate(situation, s.buyer, s.nature)
    if explained and any(has_mention(s, r) for r in (m.REVERSE_CHARGE, m.EXPORT_EXEMPTION)):
        return []
    if has_mention(s, m.CONFIGURED_EXEMPTION):
        return []
    names = ", ".join(repr(ln.description) for ln in zero[:3]) + (", …" if len(zero) > 3 else "")
    return _miss(
        "zero_rate_reason",
        f"{len(zero)} line(s) at 0 % VAT ({names}) with no exemption reason on a sale "
        "taxable in France",
    )


# --------------------------------------------------------------------------- B2B, receipt


def b2b_payment_terms(s: InvoiceSnapshot) -> list[MissingMention]:
    """Between professionals: late-payment penalty rate, the 40 € recovery indemnity, and the
    escompte terms (Code de commerce art. L441-9)."""
    if not s.buyer.is_business or s.kind is not DocumentKind.invoice:
        return []
    out: list[MissingMention] = []
    if not has_mention(s, m.LATE_PENALTIES):
        out += _miss("b2b_payment_terms", "B2B invoice without the late-payment penalty rate")
    if not has_mention(s, m.RECOVERY_INDEMNITY):
        out += _miss(
            "b2b_payment_terms",
            "B2B invoice without 'Indemnité forfaitaire pour frais de recouvrement : 40 €'",
        )
    if not has_mention(s, m.EARLY_PAYMENT):
        out += _miss(
            "b2b_payment_terms",
            "B2B invoice without the escompte terms ('Pas d'escompte pour paiement anticipé')",
        )
    return out


def receipt(s: InvoiceSnapshot) -> list[MissingMention]:
    """FACTURE ACQUITTÉE: paid on <date> by <method>; amount paid = total, remaining due 0."""
    if s.kind is not DocumentKind.invoice:
        return []
    t = s.totals
    out: list[MissingMention] = []
    if not s.payment.method_label.strip():
        out += _miss("receipt", "the payment method is missing")
    if t.amount_paid != t.total_incl:
        out += _miss("receipt", f"amount paid {t.amount_paid} ≠ total {t.total_incl}")
    if t.amount_due != 0:
        out += _miss("receipt", f"a receipted invoice has nothing left to pay, not {t.amount_due}")
    if t.refunded < 0 or t.refunded > t.amount_paid:
        out += _miss("receipt", f"refunded {t.refunded} is not between 0 and the amount paid")
    return out


def credit_note_reference(s: InvoiceSnapshot) -> list[MissingMention]:
    """A credit note names the invoice it corrects: its number and its date."""
    if s.kind is not DocumentKind.credit_note:
        return []
    if not s.credited_number:
        return _miss("credit_note_reference", "the credit note does not name the invoice")
    if s.credited_issue_date is None:
        return _miss("credit_note_reference", "the credit note does not date the invoice")
    return []


# --------------------------------------------------------------------------- currency


def vat_in_euros(s: InvoiceSnapshot) -> list[MissingMention]:
    """A document in another currency states its VAT in euros (CGI art. 242 nonies A, I-13°):
    the ECB rate used and its publication date (never after the payment day), and each rate's
    VAT converted — rounded half-up to the cent rate by rate — adding up to the total."""
    if s.currency.upper() == "EUR" or is_franchise(s) or not s.totals.total_vat:
        return []  # nothing to convert, or no VAT at all
    if s.eur is None:
        return [_eur_not_recorded(s)]
    x = s.eur.exchange
    if x.currency.upper() != s.currency.upper():
        return _miss(
            "vat_in_euros", f"the euro rate is for {x.currency}, the invoice is in {s.currency}"
        )
    if x.rate <= 0:
        return _miss("vat_in_euros", f"the euro rate {x.rate} {x.currency} is not positive")
    out: list[MissingMention] = []
    if s.kind is DocumentKind.invoice and x.published_on > s.payment.paid_on:
        out += _miss(
            "vat_in_euros",
            f"the ECB rate of {x.published_on} is later than the payment ({s.payment.paid_on}): "
            "the VAT in euros is at the rate last published on or before it",
        )
    rows = s.eur.vat_by_rate
    if [row.rate for row in rows] != [b.rate for b in s.vat_breakdown]:
        out += _miss("vat_in_euros", "the VAT in euros does not list the rates of the breakdown")
    else:
        for row, bucket in zip(rows, s.vat_breakdown, strict=True):
            expected = cents(bucket.amount / x.rate)
            if row.amount != expected:
                out += _miss(
                    "vat_in_euros",
                    f"VAT at {row.rate.normalize():f} %: {bucket.amount} {s.currency} at "
                    f"{x.rate} is {expected} €, not {row.amount} €",
                )
    added = sum((row.amount for row in rows), ZERO)
    if added != s.eur.total_vat:
        out += _miss(
            "vat_in_euros",
            f"the VAT in euros adds up to {added} €, its total says {s.eur.total_vat} €",
        )
    return out


def _eur_not_recorded(s: InvoiceSnapshot) -> MissingMention:
    """No VAT in euros on a document in another currency. Issuing never stores one without it
    (the issue step reads the ECB rate first), so this invoice was issued before the rule."""
    shop = s.totals.shop_currency_total_vat
    printed = (
        f"; it printed the shop's own counter-value instead (VAT {shop} {s.totals.shop_currency}, "
        "at the platform's rate, not the ECB's)"
        if shop is not None
        else ""
    )
    return MissingMention(
        "vat_in_euros",
        f"this {s.currency} invoice records no VAT in euros at the ECB rate: it predates the "
        f"vat_in_euros rule (issued before Quittance stated it){printed}",
        remedy="nothing to re-issue (an issued invoice is immutable): give your accountant the "
        "ECB rate of the payment day for this invoice's VAT in euros",
    )


RULES: dict[str, Rule] = {
    "seller_identity": seller_identity,
    "seller_registration": seller_registration,
    "seller_legal_form": seller_legal_form,
    "seller_vat_number": seller_vat_number,
    "buyer_identity": buyer_identity,
    "buyer_business_ids": buyer_business_ids,
    "document_identity": document_identity,
    "sale_date": sale_date,
    "operation_nature": operation_nature,
    "line_details": line_details,
    "totals": totals,
    "vat_per_rate": vat_per_rate,
    "vat_rate": vat_rate,
    "vat_regime": vat_regime,
    "vat_exemption": vat_exemption,
    "zero_rate_reason": zero_rate_reason,
    "b2b_payment_terms": b2b_payment_terms,
    "receipt": receipt,
    "credit_note_reference": credit_note_reference,
    "vat_in_euros": vat_in_euros,
}


# What to change when a rule fails: where the fact comes from (the config, or the order on
# the shop), for `quittance failures`, the owner's alert and `check-invoice`.
REMEDIES: dict[str, str] = {
    "seller_identity": "set [seller] legal_name and the [seller.address] in the config",
    "seller_registration": "set [seller] siren (and rcs_city for a company) in the config",
    "seller_legal_form": "set [seller] legal_form (and share_capital for a company)",
    "seller_vat_number": 'set [seller] vat_number, or vat_regime = "franchise" if you are '
    "under the franchise en base",
    "buyer_identity": "add the customer's name and billing address to the order on the shop",
    "buyer_business_ids": "add the company name, SIREN or VAT number to the order on the shop",
    "document_identity": "fix [numbering] format in the config",
    "sale_date": "check the order's payment date on the shop and this machine's clock",
    "operation_nature": "report this order to us: the nature is derived from its lines",
    "line_details": "fix the line (quantity, price, discount) on the shop",
    "totals": "fix the order's totals on the shop",
    "vat_per_rate": "fix the order's taxes on the shop",
    "vat_rate": vat_rates.RATE_REMEDY,
    "vat_regime": "set [seller] vat_regime in the config, or the shop's tax settings to match",
    "vat_exemption": "fix the buyer's VAT number or country, or the taxes, on the shop",
    "zero_rate_reason": "fix the line's tax class on the shop, or, if the sale is exempt, "
    "state why in [legal] vat_exemption (the exemption your activity falls under, with its "
    "article)",
    "b2b_payment_terms": "set [legal] late_payment_penalties and early_payment_discount, or "
    "leave them empty for the standard wording",
    "receipt": "check the order is fully paid on the shop",
    "credit_note_reference": "report this document to us: a credit note names its invoice",
    "vat_in_euros": "report this order to us: the VAT in euros is computed from the ECB rate of "
    "the payment day ([currency] in the config)",
}


def with_remedy(missing: MissingMention) -> str:
    """The rule's message (the fact) and its remedy (what to change, and where)."""
    remedy = missing.remedy or REMEDIES.get(missing.rule, "")
    return f"{missing.message} — {remedy}" if remedy else missing.message


def check_invoice(snapshot: InvoiceSnapshot) -> list[MissingMention]:
    """Every mandatory mention the document lacks (empty list = legally complete)."""
    out: list[MissingMention] = []
    for rule in RULES.values():
        out.extend(rule(snapshot))
    return out


def check_invoice_text(snapshot: InvoiceSnapshot) -> str:
    """What `quittance check-invoice NUMBER` prints."""
    missing = check_invoice(snapshot)
    head = f"{snapshot.number} ({snapshot.issue_date}, {snapshot.buyer.name or '?'})"
    if not missing:
        return f"{head}: complete — {len(RULES)} rules passed"
    fine = FINE_PER_MISSING_MENTION * len(missing)
    lines = [f"{head}: {len(missing)} missing mention(s), up to {fine} € in fines"]
    lines += [f"  - {x.rule}: {with_remedy(x)}" for x in missing]
    return "\n".join(lines)
