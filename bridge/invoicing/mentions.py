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

import re
from dataclasses import dataclass
from enum import StrEnum
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date
from stdnum.eu import vat as eu_vat

from bridge.invoicing import vat_rates
from bridge.invoicing.snapshot import BuyerSnapshot, SellerSnapshot, VatCheck, VatRegime

# Rule names (also the keys of InvoiceSnapshot.legal).
VAT_FRANCHISE = "vat_franchise"
VAT_DEBITS = "vat_debits"
REVERSE_CHARGE = "vat_reverse_charge"
INTRA_EU_EXEMPTION = "vat_intra_eu_exemption"
# The VIES check the intra-EU exemption rests on: date and consultation number, printed
# beside the autoliquidation so the buyer and an inspector see the proof on the document.
VIES_CHECK = "vat_vies_check"
EXPORT_EXEMPTION = "vat_export_exemption"
LATE_PENALTIES = "late_payment_penalties"
RECOVERY_INDEMNITY = "recovery_indemnity"
EARLY_PAYMENT = "early_payment_discount"
LEGAL_GUARANTEE = "legal_guarantee"
# The owner's own reason for 0 % lines of a sale taxable in France (an exempt activity,
# art. 261 ff. du CGI), from `[legal] vat_exemption`: only the owner knows which case is theirs.
CONFIGURED_EXEMPTION = "vat_exemption"
# A distance sale taxed in the customer's member state, declared through the One-Stop Shop.
OSS_TAXATION = "vat_oss"

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
    intra_eu_b2b = "intra_eu_b2b"  # EU business, VAT number confirmed by VIES: reverse charge
    intra_eu_unjustified = "intra_eu_unjustified"  # EU, no VAT, no valid buyer VAT number
    # EU business, checksum-valid VAT number, no VIES answer recorded: what an issue step asks
    # VIES about, and how invoices issued before VIES checks stand.
    intra_eu_unverified = "intra_eu_unverified"
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


_POSTCODE = re.compile(r"^(\d{5})\b")


def printed_postcode(lines: list[str]) -> str:
    """The 5-digit postcode of a French address as the document prints it ("69002 Lyon")."""
    return next((m[1] for line in lines if (m := _POSTCODE.match(line.strip()))), "")


def delivery_place(buyer: BuyerSnapshot, seller_country: str) -> tuple[str, str]:
    """(country, postcode) of where the goods go as the document prints it: the delivery
    address when it differs, else the billing address."""
    delivered = bool(buyer.shipping_lines)
    country = (buyer.shipping_country if delivered else buyer.billing_country) or seller_country
    lines = buyer.shipping_lines if delivered else buyer.billing_lines
    return (country or "FR").upper(), printed_postcode(lines)


def destination_country(
    buyer: BuyerSnapshot, seller_country: str, seller_lines: list[str] | None = None
) -> str:
    """Where the goods go, for VAT: the delivery address when it differs, else the billing
    address; seen from a French seller, Monaco is France and a French overseas address outside
    the seller's VAT area is its own territory ("RE"): an export (vat_rates.vat_country)."""
    country, postcode = delivery_place(buyer, seller_country)
    if (seller_country or "FR").upper() != "FR":
        return country
    seller_postcode = printed_postcode(seller_lines or [])
    return vat_rates.vat_country(country, postcode, seller_postcode=seller_postcode)


def vies_confirms(check: VatCheck | None, number: str) -> bool:
    """VIES said `number` (not another one) is a valid VAT number."""
    if check is None or not check.valid:
        return False
    return eu_vat.compact(check.number) == eu_vat.compact(number)


def vat_situation(
    seller: SellerSnapshot,
    buyer: BuyerSnapshot,
    *,
    vat_charged: bool,
    amount_excl_positive: bool,
    vat_check: VatCheck | None = None,
    nature: str = "goods",
) -> VatSituation:
    """`vat_check`: VIES's answer for the buyer's number. The exemption rests on a number VIES
    confirmed (art. 262 ter I: a substantive condition); the checksum only decides whether
    asking VIES is worth it, so a made-up number never reaches it.

    A seller in franchise en base charges no VAT, so its sales are `vat_charged` (nothing to
    justify beyond 293 B) — except services to a business in another member state: they are
    taxed there, by the customer (CGI art. 259-1, autoliquidation), and the franchise, which
    only exempts what is taxable in France, has nothing to say about them."""
    franchise = seller.vat_regime is VatRegime.franchise
    if franchise and nature != "services":
        return VatSituation.vat_charged
    if vat_charged or not amount_excl_positive:
        return VatSituation.vat_charged
    home = (seller.country or "FR").upper()
    dest = destination_country(buyer, home, seller.address_lines)
    if dest == home:
        return VatSituation.vat_charged if franchise else VatSituation.domestic_untaxed
    if franchise and dest not in EU_COUNTRIES:
        return VatSituation.vat_charged
    if dest in EU_COUNTRIES:
        # Not a business VIES confirms: VAT is due in France, which the franchise exempts.
        unjustified = VatSituation.vat_charged if franchise else VatSituation.intra_eu_unjustified
        if not (buyer.is_business and valid_eu_vat_number(buyer.vat_number, not_from=home)):
            return unjustified
        if vat_check is None:
            return VatSituation.intra_eu_unverified
        if vies_confirms(vat_check, buyer.vat_number):
            return VatSituation.intra_eu_b2b
        return unjustified
    return VatSituation.export


def vat_regime_mentions(
    seller: SellerSnapshot, locale: str, situation: VatSituation = VatSituation.vat_charged
) -> list[tuple[str, str]]:
    if seller.vat_regime is VatRegime.franchise and situation is not VatSituation.intra_eu_b2b:
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


def vies_check_mentions(
    situation: VatSituation, check: VatCheck | None, locale: str, timezone: str
) -> list[tuple[str, str]]:
    """The VIES consultation the reverse charge rests on: its date (the seller's day) and the
    consultation number VIES returned, the proof the seller checked the number that day."""
    if situation is not VatSituation.intra_eu_b2b or check is None:
        return []
    day = check.checked_at.astimezone(ZoneInfo(timezone)).date()
    ref = check.consultation_number.strip()
    if locale == "fr":
        sentence = f"N° de TVA de l'acquéreur validé par VIES le {day:%d/%m/%Y}"
        return [(VIES_CHECK, sentence + (f" (consultation n° {ref})" if ref else ""))]
    on = format_date(day, format="d MMM y", locale="en")
    sentence = f"Buyer's VAT number confirmed by VIES on {on}"
    return [(VIES_CHECK, sentence + (f" (consultation number {ref})" if ref else ""))]


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


def oss_mentions(taxing_country: str, locale: str) -> list[tuple[str, str]]:
    """Whose VAT an OSS distance sale bears: the customer reads their own country's VAT on a
    French invoice, and the accountant sees why it is not French VAT."""
    if not taxing_country or taxing_country == "FR" or taxing_country.startswith("FR-"):
        return []
    country = Locale.parse(locale).territories.get(taxing_country, taxing_country)
    if locale == "fr":
        return [(OSS_TAXATION, f"TVA du pays de livraison ({country}), déclarée au guichet "
                 "unique de l'Union (OSS)")]  # fmt: skip
    return [(OSS_TAXATION, f"VAT of the country of delivery ({country}), declared through the "
             "EU One-Stop Shop (OSS)")]  # fmt: skip


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
    taxing_country: str = "",
    vat_check: VatCheck | None = None,
    timezone: str = "Europe/Paris",
) -> list[tuple[str, str]]:
    """Every mention the document prints, in print order. `untaxed_lines`: some line of
    the sale is at 0 % (other than a free one or the rounding line). `vat_check`: VIES's
    answer for the buyer's number, dated in the seller's `timezone`."""
    return [
        *vat_regime_mentions(seller, locale, situation),
        *exemption_mentions(situation, buyer, nature, locale),
        *vies_check_mentions(situation, vat_check, locale, timezone),
        *oss_mentions(taxing_country, locale),
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
