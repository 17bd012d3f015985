"""Legal mentions that depend on the seller's regime, the buyer and where the goods go.

One function per mention family; each returns `(rule, sentence)` pairs already in the
document's language. `legal_mentions_by_rule` lists them in print order; `bridge.invoicing.legal`
checks an issued snapshot against the same facts (`vat_situation`), so
what we print and what we check cannot drift apart.

Sources: CGI art. 242 nonies A (mentions obligatoires), art. 293 B (franchise en base),
art. 262 ter I (livraisons intracommunautaires), art. 262 I (exportations), art. 283-2
(autoliquidation), art. 259-1 (services B2B hors de France); Code de commerce art. L441-9
(pénalités de retard, indemnité forfaitaire de 40 €, escompte).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from stdnum.eu import vat as eu_vat

from bridge.invoicing.snapshot import BuyerSnapshot, SellerSnapshot, VatRegime

# Rule names (also the keys of InvoiceSnapshot.legal).
VAT_FRANCHISE = "vat_franchise"
VAT_DEBITS = "vat_debits"
REVERSE_CHARGE = "vat_reverse_charge"
INTRA_EU_EXEMPTION = "vat_intra_eu_exemption"
EXPORT_EXEMPTION = "vat_export_exemption"
LATE_PENALTIES = "late_payment_penalties"
RECOVERY_INDEMNITY = "recovery_indemnity"
EARLY_PAYMENT = "early_payment_discount"
LEGAL_GUARANTEE = "legal_guarantee"
# The owner's own reason for 0 % lines of a sale taxable in France (an exempt activity,
# art. 261 ff. du CGI), from `[legal] vat_exemption`: only the owner knows which case is theirs.
CONFIGURED_EXEMPTION = "vat_exemption"

# EU member states by ISO 3166 code (stdnum lists them by VAT prefix: "gr", and "xi" for
# Northern Ireland, which is in the EU VAT area for goods only).
EU_COUNTRIES = frozenset(code.upper() for code in eu_vat.MEMBER_STATES if code != "xi")
_VAT_PREFIX_COUNTRY = {"EL": "GR", "XI": "GB"}

TEXTS: dict[str, tuple[str, str]] = {  # rule -> (fr, en)
    VAT_FRANCHISE: ("TVA non applicable, art. 293 B du CGI", "VAT not applicable, art. 293 B CGI"),
    VAT_DEBITS: (
        "Option pour le paiement de la taxe d'après les débits",
        "Option for payment of VAT on debits (Option pour le paiement de la taxe d'après les "
        "débits)",
    ),
    REVERSE_CHARGE: ("Autoliquidation", "Reverse charge (Autoliquidation)"),
    INTRA_EU_EXEMPTION: (
        "Exonération de TVA, art. 262 ter I du CGI",
        "VAT exempt intra-EU supply, art. 262 ter I CGI",
    ),
    EXPORT_EXEMPTION: (
        "Exonération de TVA, art. 262 I du CGI",
        "VAT exempt export, art. 262 I CGI",
    ),
    "services_outside_france": (
        "TVA non applicable, art. 259-1 du CGI",
        "VAT not applicable, art. 259-1 CGI",
    ),
    LATE_PENALTIES: (
        "Pénalités de retard : trois fois le taux d'intérêt légal",
        "Late payment penalties: three times the French legal interest rate",
    ),
    RECOVERY_INDEMNITY: (
        "Indemnité forfaitaire pour frais de recouvrement : 40 €",
        "Fixed compensation for recovery costs: 40 €",
    ),
    EARLY_PAYMENT: ("Pas d'escompte pour paiement anticipé", "No discount for early payment"),
}


def text(rule: str, locale: str) -> str:
    fr, en = TEXTS[rule]
    return fr if locale == "fr" else en


@dataclass(frozen=True)
class LegalTerms:
    """The seller's own wording for the mentions the law lets them choose.

    Empty = our standard text in the document's language. A French text without its English
    variant is printed as is on English invoices (the owner's terms, not a translation that
    could contradict them). The 40 € indemnity is fixed by law (art. D441-5 Code de commerce)
    and is not configurable. Config keys: `[legal]` late_payment_penalties(_en),
    early_payment_discount(_en), legal_guarantee(_en).
    """

    late_payment_penalties: str = ""
    late_payment_penalties_en: str = ""
    early_payment_discount: str = ""
    early_payment_discount_en: str = ""
    legal_guarantee: str = ""  # printed for goods only; empty = not printed
    legal_guarantee_en: str = ""
    vat_exemption: str = ""  # why 0 % lines are exempt; empty = such orders are quarantined
    vat_exemption_en: str = ""

    def wording(self, rule: str, locale: str) -> str:
        own = getattr(self, rule, "").strip()
        own_en = getattr(self, f"{rule}_en", "").strip()
        if locale != "fr" and own_en:
            return own_en
        if own:
            return own
        return text(rule, locale) if rule in TEXTS else ""


STANDARD_TERMS = LegalTerms()


class VatSituation(StrEnum):
    """Where the sale stands for VAT, as far as the invoice has to say."""

    vat_charged = "vat_charged"  # VAT on the invoice (or a free order): nothing to justify
    domestic_untaxed = "domestic_untaxed"  # sold in France with no VAT (0 % lines)
    intra_eu_b2b = "intra_eu_b2b"  # EU business with a valid VAT number: exempt / reverse charge
    intra_eu_unjustified = "intra_eu_unjustified"  # EU, no VAT, no valid buyer VAT number
    export = "export"  # outside the EU, no VAT


def vat_number_country(number: str) -> str:
    prefix = number.strip().upper()[:2]
    return _VAT_PREFIX_COUNTRY.get(prefix, prefix)


def valid_eu_vat_number(number: str, *, not_from: str = "FR") -> bool:
    """Checksum-valid EU VAT number of another member state than `not_from` (no VIES call)."""
    if not number.strip():
        return False
    try:
        ok = bool(eu_vat.is_valid(number))
    except Exception:  # stdnum raises on some malformed inputs instead of returning False
        return False
    return ok and vat_number_country(number) != not_from.upper()


def destination_country(buyer: BuyerSnapshot, seller_country: str) -> str:
    """Where the goods go: the delivery address when it differs, else the billing address."""
    return (buyer.shipping_country or buyer.billing_country or seller_country).upper()


def vat_situation(
    seller: SellerSnapshot, buyer: BuyerSnapshot, *, vat_charged: bool, amount_excl_positive: bool
) -> VatSituation:
    if vat_charged or not amount_excl_positive or seller.vat_regime is VatRegime.franchise:
        return VatSituation.vat_charged
    home = (seller.country or "FR").upper()
    dest = destination_country(buyer, home)
    if dest == home:
        return VatSituation.domestic_untaxed
    if dest in EU_COUNTRIES:
        if buyer.is_business and valid_eu_vat_number(buyer.vat_number, not_from=home):
            return VatSituation.intra_eu_b2b
        return VatSituation.intra_eu_unjustified
    return VatSituation.export


def vat_regime_mentions(seller: SellerSnapshot, locale: str) -> list[tuple[str, str]]:
    if seller.vat_regime is VatRegime.franchise:
        return [(VAT_FRANCHISE, text(VAT_FRANCHISE, locale))]
    if seller.vat_regime is VatRegime.debits:
        return [(VAT_DEBITS, text(VAT_DEBITS, locale))]
    return []


def exemption_mentions(
    situation: VatSituation, buyer: BuyerSnapshot, nature: str, locale: str
) -> list[tuple[str, str]]:
    """Why no VAT is charged on a cross-border sale (art. 242 nonies A, I-9° and 13°)."""
    goods = nature in ("goods", "both")
    if situation is VatSituation.intra_eu_b2b:
        out = [(REVERSE_CHARGE, text(REVERSE_CHARGE, locale))]
        if goods:
            out.append((INTRA_EU_EXEMPTION, text(INTRA_EU_EXEMPTION, locale)))
        return out
    if situation is VatSituation.export:
        if goods:
            return [(EXPORT_EXEMPTION, text(EXPORT_EXEMPTION, locale))]
        if buyer.is_business:
            return [(EXPORT_EXEMPTION, text("services_outside_france", locale))]
    return []


def exemption_explains_zero_rate(
    situation: VatSituation, buyer: BuyerSnapshot, nature: str
) -> bool:
    """Whether the sale's own exemption mention is the reason for its 0 % lines: intra-EU
    B2B (reverse charge), or an export of goods or a service to a business outside the EU.
    Anything else at 0 % (a French sale, B2C services abroad) needs the owner's stated reason."""
    if situation is VatSituation.intra_eu_b2b:
        return True
    return situation is VatSituation.export and (nature in ("goods", "both") or buyer.is_business)


def configured_exemption_mentions(
    seller: SellerSnapshot,
    buyer: BuyerSnapshot,
    locale: str,
    *,
    situation: VatSituation,
    nature: str,
    untaxed_lines: bool,
    terms: LegalTerms,
) -> list[tuple[str, str]]:
    """The owner's exemption text, printed when 0 % lines have no other reason."""
    if not untaxed_lines or seller.vat_regime is VatRegime.franchise:
        return []
    if exemption_explains_zero_rate(situation, buyer, nature):
        return []
    wording = terms.wording(CONFIGURED_EXEMPTION, locale)
    return [(CONFIGURED_EXEMPTION, wording)] if wording else []


def b2b_payment_terms_mentions(
    buyer: BuyerSnapshot, locale: str, terms: LegalTerms = STANDARD_TERMS
) -> list[tuple[str, str]]:
    """Mandatory between professionals (art. L441-9 du Code de commerce)."""
    if not buyer.is_business:
        return []
    return [
        (LATE_PENALTIES, terms.wording(LATE_PENALTIES, locale)),
        (RECOVERY_INDEMNITY, text(RECOVERY_INDEMNITY, locale)),
        (EARLY_PAYMENT, terms.wording(EARLY_PAYMENT, locale)),
    ]


def guarantee_mentions(
    nature: str, locale: str, terms: LegalTerms = STANDARD_TERMS
) -> list[tuple[str, str]]:
    """The seller's legal-guarantee text (durable goods), when configured; never for services."""
    wording = terms.wording(LEGAL_GUARANTEE, locale)
    if not wording or nature == "services":
        return []
    return [(LEGAL_GUARANTEE, wording)]


def legal_mentions_by_rule(
    seller: SellerSnapshot,
    buyer: BuyerSnapshot,
    locale: str,
    *,
    nature: str = "goods",
    situation: VatSituation = VatSituation.vat_charged,
    terms: LegalTerms = STANDARD_TERMS,
    untaxed_lines: bool = False,
) -> list[tuple[str, str]]:
    """Every mention the document prints, in print order. `untaxed_lines`: some line of
    the sale is at 0 % (other than a free one or the rounding line)."""
    return [
        *vat_regime_mentions(seller, locale),
        *exemption_mentions(situation, buyer, nature, locale),
        *configured_exemption_mentions(
            seller,
            buyer,
            locale,
            situation=situation,
            nature=nature,
            untaxed_lines=untaxed_lines,
            terms=terms,
        ),
        *b2b_payment_terms_mentions(buyer, locale, terms),
        *guarantee_mentions(nature, locale, terms),
    ]
