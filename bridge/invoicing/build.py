"""Order + seller + number → invoice snapshot. Pure: no I/O, no clock, no config lookup.

`build_invoice` is called inside the store's numbering transaction, so it must be fast and
deterministic; everything it needs is passed in.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from babel.numbers import format_currency

from bridge.invoicing.amounts import (
    ZERO,
    Inconsistency,
    cents,
    check_order,
    line_rate,
    unit_price_excl,
)
from bridge.invoicing.buyer import BuyerStatus, CompanyPolicy, buyer_status, held_reason
from bridge.invoicing.electronic_address import buyer_electronic_address
from bridge.invoicing.legal import (
    MissingMention,
    check_invoice,
    only_shipping_taxed,
    situation_of,
    untaxed_lines,
    with_remedy,
    zero_rate_situation,
)
from bridge.invoicing.legal_forms import printed_legal_form
from bridge.invoicing.mentions import (
    STANDARD_TERMS,
    LegalTerms,
    VatSituation,
    legal_mentions_by_rule,
)
from bridge.invoicing.payment_labels import payment_label
from bridge.invoicing.snapshot import (
    BuyerSnapshot,
    EurConversion,
    EurRate,
    EurVat,
    InvoiceLine,
    InvoiceSnapshot,
    OrderRef,
    PaymentSnapshot,
    SellerSnapshot,
    Totals,
    VatBucket,
    VatCheck,
    VatRegime,
)
from bridge.invoicing.text import folded, same_person
from bridge.invoicing.vat_rates import (
    UnknownTerritory,
    check_rates,
    line_territory,
    taxing_territory,
)
from bridge.model import Line, LineKind, Nature, Order
from bridge.render.formatting import format_date
from connectors.operation_dates import parse_date

if TYPE_CHECKING:
    from bridge.config import SellerConfig


class OrderNotInvoiceable(Exception):
    """The order cannot become an invoice as it stands; `problems` say why (for quarantine).

    `missing_mentions` holds the legal rules the would-be invoice fails (see legal.py); each
    one is also in `problems` as `Inconsistency("mention <rule>", message)`.
    """

    def __init__(
        self, problems: list[Inconsistency], missing_mentions: list[MissingMention] | None = None
    ) -> None:
        self.problems = problems
        self.missing_mentions = list(missing_mentions or [])
        super().__init__("; ".join(str(p) for p in problems))


@dataclass(frozen=True)
class IssueFacts:
    """What issuing needs from outside Quittance, looked up before the number is taken
    (`bridge.issue_facts`), so that `build_invoice` stays pure and fast under the series lock.

    None = not needed for this order (no intra-EU exemption claimed, paid in euros)."""

    vat_check: VatCheck | None = None
    eur_rate: EurRate | None = None


NO_FACTS = IssueFacts()


@dataclass(frozen=True)
class Numbering:
    series: str
    number: str
    sequence: int


def document_locale(order: Order, default: str) -> str:
    """fr or en: the customer's language when we have it, else the shop's default."""
    wanted = (order.locale or default or "fr").lower()
    return "fr" if wanted.startswith("fr") else "en"


def local_date(moment: datetime, timezone: str) -> date:
    return moment.astimezone(ZoneInfo(timezone)).date()


def seller_snapshot(seller: SellerConfig) -> SellerSnapshot:
    address = seller.address
    city = " ".join(p for p in (address.postcode, address.city) if p)
    capital = ""
    legal_form = printed_legal_form(seller.legal_form)
    if seller.share_capital is not None and not seller.is_sole_trader:
        capital = format_currency(seller.share_capital, "EUR", locale="fr_FR").replace(
            "\u202f", " "
        )
        capital = capital.replace("\xa0", " ")
        if capital.endswith(",00 €"):  # "10 000 €", as on the Kbis
            capital = capital[: -len(",00 €")] + " €"
    return SellerSnapshot(
        legal_name=seller.legal_name,
        trade_name=seller.trade_name,
        legal_form=legal_form,
        share_capital=capital,
        address_lines=[p for p in (address.line1, address.line2, city) if p],
        country=address.country,
        siren=seller.siren,
        siret=seller.siret,
        rcs_city=seller.rcs_city,
        vat_number=seller.vat_number,
        vat_regime=VatRegime(seller.vat_regime),
        email=seller.email,
        phone=seller.phone,
        website=seller.website,
        logo_path=str(seller.logo) if seller.logo else "",
        brand_color=seller.brand_color,
        electronic_address=seller.electronic_address,
    )


def buyer_snapshot(order: Order, status: BuyerStatus | None = None) -> BuyerSnapshot:
    """`status`: consumer or business under the owner's policy (default: the plain rule)."""
    customer = order.customer
    status = status or buyer_status(customer)
    name = customer.full_name or customer.company or customer.email
    shipping = customer.shipping

    # "Livré à" is the recipient (name, company) above a postal address, printed when it says
    # something "Facturé à" does not: the parcel goes elsewhere, or to someone else at the
    # billing address (a gift to a neighbour, a colleague at the company's address). A
    # recipient the platform leaves empty is the buyer (text.same_person).

    shipping_lines: list[str] = []
    shipping_country = shipping_name = shipping_company = ""
    if shipping and not shipping.is_empty():
        elsewhere = (shipping.lines(), shipping.country) != (
            customer.billing.lines(),
            customer.billing.country,
        )
        other_recipient = not (
            same_person(shipping.name, name) and same_person(shipping.company, customer.company)
        )
        if elsewhere or other_recipient:
            shipping_lines = shipping.lines()
            shipping_country = shipping.country
            shipping_name = shipping.name.strip()
            shipping_company = shipping.company.strip()
    return BuyerSnapshot(
        # No placeholder: a buyer without any name fails the buyer_identity rule.
        name=name,
        company=customer.company,
        email=customer.email,
        billing_lines=customer.billing.lines(),
        billing_country=customer.billing.country,
        shipping_lines=shipping_lines,
        shipping_country=shipping_country,
        shipping_name=shipping_name,
        shipping_company=shipping_company,
        vat_number=customer.vat_number,
        siren=status.siren,
        is_business=status.is_business,
        # Kept only when usable (buyer_electronic_address): a typo in checkout data must
        # not stop the invoice; the XML then falls back to the SIREN's address.
        electronic_address=buyer_electronic_address(
            customer.electronic_address, siren=status.siren
        ),
    )


def describe(line: Line) -> str:
    """Product name plus its variation attributes: "T-shirt — Taille : M, Couleur : bleu".

    WooCommerce often names a variation after its attributes already ("Ship Your Idea –
    Color: Black, Size: M Test"): an attribute whose value the name's last part states is not
    repeated, and one without a value is left out rather than printed as "Gravure : ".
    """

    def norm(text: str) -> str:  # "Bleu-Marine" and its slug "bleu marine" are one value
        return folded(text.replace("-", " "))

    parts = line.name.replace("–", " - ").replace("—", " - ").split(" - ")
    # "Color: Black, Size: M Test" → {"black", "m test"}: the value after each label
    stated = {norm(p.rsplit(":", 1)[-1]) for p in parts[-1].split(",")} if len(parts) > 1 else set()
    attrs = ", ".join(
        f"{key} : {value}"
        for key, value in line.attributes.items()
        if norm(value) and norm(value) not in stated
    )
    return f"{line.name} — {attrs}" if attrs else line.name


def invoice_line(line: Line, note: str = "") -> InvoiceLine:
    """`note`: what the description adds in brackets (a date of its own, `dated_lines`)."""
    total_excl = cents(line.total)
    vat = cents(line.tax)
    return InvoiceLine(
        kind=line.kind.value,
        description=f"{describe(line)} ({note})" if note else describe(line),
        sku=line.sku,
        quantity=line.quantity,
        unit_price_excl=unit_price_excl(line),
        discount_excl=cents(line.discount),
        total_excl=total_excl,
        vat_rate=line_rate(line),
        vat_amount=vat,
        total_incl=total_excl + vat,
        nature=line.nature.value,
    )


def operation_date(order: Order) -> date | None:
    """The date of the operation of the whole document: the one date every product line
    states. A line without one may be delivered any day, so a date shared by only some lines
    is theirs, not the document's (`dated_lines`)."""
    dates = {ln.operation_date for ln in order.lines if ln.kind is LineKind.product}
    return next(iter(dates)) if len(dates) == 1 else None


def dated_lines(order: Order, issue_date: date, locale: str) -> list[InvoiceLine]:
    """The invoice's lines. When the lines do not share one date of the operation, a line
    whose own date is not the issue date states it: "Atelier (prestation du 12/12/2026)"."""
    shared = operation_date(order)
    out = []
    for line in order.lines:
        when = line.operation_date
        if shared is not None or when is None or when == issue_date:
            out.append(invoice_line(line))
            continue
        out.append(invoice_line(line, date_note(line.nature, when, locale)))
    return out


# The words `date_note` puts before a line's own date, by (nature, locale): the snapshot keeps
# no date per line, so these brackets at the end of a description are how it marks a line
# dated apart from the document (`date_apart` reads them back).
_DATE_NOTE_WORDS = {
    (Nature.services, "fr"): "prestation du",
    (Nature.services, "en"): "service on",
    (Nature.goods, "fr"): "livraison du",
    (Nature.goods, "en"): "delivery on",
}
_DATE_NOTE = re.compile(r"\((?:" + "|".join(_DATE_NOTE_WORDS.values()) + r") (?P<day>[^()]+)\)$")


def date_note(nature: Nature, when: date, locale: str) -> str:
    """ "prestation du 12/12/2026": what a line dated apart adds in brackets."""
    kind = Nature.services if nature is Nature.services else Nature.goods
    words = _DATE_NOTE_WORDS[(kind, "fr" if locale == "fr" else "en")]
    return f"{words} {format_date(when, locale)}"


def date_apart(line: InvoiceLine) -> tuple[bool, date | None]:
    """(whether the snapshot line is dated apart, the date its note states). The note is
    `format_date`'s short form in fr or en ("12/12/2026", "12 Dec 2026"), which reads back;
    None only for a description that merely looks like a note."""
    found = _DATE_NOTE.search(line.description)
    if found is None:
        return False, None
    return True, parse_date(found["day"])


def vat_breakdown(order: Order) -> list[VatBucket]:
    """Base and VAT per rate, highest rate first; untaxed lines form a 0 % bucket."""
    base: dict[Decimal, Decimal] = defaultdict(lambda: ZERO)
    amount: dict[Decimal, Decimal] = defaultdict(lambda: ZERO)
    for line in order.lines:
        if not line.taxes:
            base[ZERO] += cents(line.total)
            continue
        for tax in line.taxes:
            rate = tax.rate.normalize() if tax.rate else ZERO
            base[rate] += cents(line.total)
            amount[rate] += cents(tax.amount)
    return [
        VatBucket(rate=rate, base=base[rate], amount=amount[rate])
        for rate in sorted(base, reverse=True)
    ]


def eur_conversion(
    currency: str, breakdown: list[VatBucket], exchange: EurRate | None
) -> EurConversion | None:
    """The VAT of each rate in euros at `exchange`, rounded half-up to the cent rate by rate,
    and their sum as the total (see `EurConversion`); None for an invoice in euros.

    A rate for another currency than the invoice's is still recorded: `legal.vat_in_euros`
    refuses the document, naming both, rather than this function hiding the mistake."""
    if exchange is None or currency.upper() == "EUR":
        return None
    rows = [EurVat(rate=b.rate, amount=cents(b.amount / exchange.rate)) for b in breakdown]
    total = sum((row.amount for row in rows), ZERO)
    return EurConversion(exchange=exchange, vat_by_rate=rows, total_vat=total)


def needs_eur_rate(order: Order, seller: SellerConfig) -> bool:
    """The invoice states VAT in euros at an ECB rate: it is in another currency and charges
    VAT (an export, an intra-EU supply or a seller in franchise en base has none to state)."""
    charged = any(ln.tax for ln in order.lines) or order.total_tax != 0
    return (
        order.currency.upper() != "EUR"
        and seller.vat_regime != VatRegime.franchise.value
        and charged
    )


def _eur_rate_not_read(order: Order) -> Inconsistency:
    """The document needs the ECB rate and none was handed in: never issued without its VAT in
    euros (the `issue` step reads the rate before it takes a number; a trial build may not)."""
    return Inconsistency(
        "currency",
        f"an invoice in {order.currency} states its VAT in euros at the ECB rate of the payment "
        "day, and that rate has not been read yet: issuing reads it first",
    )


def operation_nature(order: Order) -> str:
    natures = {ln.nature for ln in order.lines if ln.kind is LineKind.product}
    if natures == {Nature.services}:
        return "services"
    if Nature.services in natures:
        return "both"
    return "goods"


def _rounding_line(difference: Decimal, locale: str) -> InvoiceLine:
    label = "Arrondi" if locale == "fr" else "Rounding"
    return InvoiceLine(
        kind="fee",
        description=label,
        quantity=Decimal(1),
        unit_price_excl=difference,
        total_excl=difference,
        vat_rate=ZERO,
        vat_amount=ZERO,
        total_incl=difference,
    )


def _declares_oss(seller: SellerConfig) -> bool:
    return seller.eu_distance_sales == "oss"


def taxing_country(order: Order, seller: SellerConfig) -> str:
    """Whose VAT the goods bear, as recorded on the document ("" when it cannot be placed:
    issuing refused a taxed order with that address already, and an untaxed one needs none)."""
    try:
        territory = taxing_territory(
            order,
            seller.address.country,
            oss=_declares_oss(seller),
            seller_postcode=seller.address.postcode,
        )
    except UnknownTerritory:
        return ""
    products = [ln for ln in order.lines if ln.kind is LineKind.product]
    if territory and products and all(ln.nature is Nature.services for ln in products):
        territory = line_territory(products[0], territory)  # services stay French (OSS)
    return territory or ""


def _mentioned_situation(snapshot: InvoiceSnapshot, sold_untaxed: bool) -> VatSituation:
    """The situation whose mentions the document prints: the whole sale's, except that 0 %
    lines beside taxed ones (exported goods with taxed shipping) keep their own exemption."""
    situation = situation_of(snapshot)
    if sold_untaxed and situation is VatSituation.vat_charged and only_shipping_taxed(snapshot):
        return zero_rate_situation(snapshot)
    return situation


def order_problems(order: Order, seller: SellerConfig, status: BuyerStatus) -> list[Inconsistency]:
    """Why the order cannot be invoiced as sent, before anything is built (empty = go on)."""
    problems = check_order(order)
    if problems:  # figures out of range or not adding up: nothing further is meaningful
        return problems
    if seller.vat_regime == VatRegime.franchise.value and any(ln.tax for ln in order.lines):
        problems.append(
            Inconsistency(
                "taxes",
                "the seller is in franchise en base (art. 293 B du CGI) but the order charges "
                "VAT: fix the shop's tax settings, then `quittance retry --all`",
            )
        )
    tax_point = local_date(order.payment.paid_at, seller.timezone)
    problems += check_rates(
        order,
        seller_country=seller.address.country,
        on=tax_point,
        oss=_declares_oss(seller),
        seller_postcode=seller.address.postcode,
    )
    if status.held:
        problems.append(Inconsistency("customer.company", held_reason(order.customer)))
    return problems


def build_invoice(
    order: Order,
    seller: SellerConfig,
    numbering: Numbering,
    *,
    issued_at: datetime,
    terms: LegalTerms = STANDARD_TERMS,
    company_policy: CompanyPolicy = CompanyPolicy.b2b,
    facts: IssueFacts = NO_FACTS,
) -> InvoiceSnapshot:
    """The snapshot of the facture acquittée for a paid order.

    Raises `OrderNotInvoiceable` when the order's figures do not add up, when a seller in
    franchise en base would print VAT the law says they cannot charge, or when the document
    would miss a mandatory mention (`legal.check_invoice`).

    Refunds already made when the invoice is issued: the invoice still documents the sale as
    paid (amount paid = total, remaining due 0,00) and shows the refunded amount for
    information; the refund itself is corrected by a credit note (avoir), never by lowering
    the invoice — an invoice states what was sold and paid.
    """
    status = buyer_status(order.customer, company_policy)
    problems = order_problems(order, seller, status)
    if problems:
        raise OrderNotInvoiceable(problems)
    if facts.eur_rate is None and needs_eur_rate(order, seller):
        raise OrderNotInvoiceable([_eur_rate_not_read(order)])

    locale = document_locale(order, seller.default_locale)
    seller_snap = seller_snapshot(seller)
    buyer = buyer_snapshot(order, status)
    lines = dated_lines(order, local_date(issued_at, seller.timezone), locale)
    sold_untaxed = bool(untaxed_lines(lines))
    breakdown = vat_breakdown(order)
    total_excl = sum((ln.total_excl for ln in lines), ZERO)
    total_vat = sum((ln.vat_amount for ln in lines), ZERO)
    # Within tolerance but not to the cent: show the difference as its own line so the
    # document's total is exactly what the customer paid and still adds up line by line.
    difference = order.total - (total_excl + total_vat)
    if difference:
        lines.append(_rounding_line(difference, locale))
        total_excl += difference
        breakdown = _add_to_zero_bucket(breakdown, difference)
    refunded = sum((r.amount for r in order.refunds), ZERO)
    totals = Totals(
        discount_excl=sum((ln.discount_excl for ln in lines), ZERO),
        total_excl=total_excl,
        total_vat=total_vat,
        total_incl=total_excl + total_vat,
        amount_paid=order.total,
        amount_due=ZERO,
        refunded=refunded,
        # The platform's own euro figures (Shopify's shop money, at its checkout rate) are kept
        # as sent, to reconcile with its payouts; the VAT in euros the law asks for is the ECB
        # conversion (`eur`), and the document prints only that one when it has it.
        shop_currency="EUR" if order.shop_currency_total is not None else "",
        shop_currency_total_incl=order.shop_currency_total,
        shop_currency_total_vat=order.shop_currency_tax,
    )
    payment = PaymentSnapshot(
        method=order.payment.method,
        method_label=payment_label(
            order.payment.method, order.payment.method_label, locale, total=order.total
        ),
        paid_at=order.payment.paid_at,
        paid_on=local_date(order.payment.paid_at, seller.timezone),
        reference=order.payment.transaction_ref,
    )
    nature = operation_nature(order)
    snapshot = InvoiceSnapshot(
        taxing_country=taxing_country(order, seller),
        series=numbering.series,
        number=numbering.number,
        sequence=numbering.sequence,
        issued_at=issued_at,
        issue_date=local_date(issued_at, seller.timezone),
        timezone=seller.timezone,
        locale=locale,
        currency=order.currency,
        seller=seller_snap,
        buyer=buyer,
        order=OrderRef(
            shop=order.shop,
            platform=order.platform,
            order_id=order.order_id,
            reference=order.display_reference,
            ordered_at=order.created_at,
        ),
        lines=lines,
        vat_breakdown=breakdown,
        eur=eur_conversion(order.currency, breakdown, facts.eur_rate),
        totals=totals,
        payment=payment,
        nature=nature,
        vat_check=facts.vat_check,
        operation_date=operation_date(order),
    )
    if _mentioned_situation(snapshot, sold_untaxed) is VatSituation.intra_eu_unverified:
        raise OrderNotInvoiceable([_vies_not_asked(buyer)])
    by_rule = legal_mentions_by_rule(
        seller_snap,
        buyer,
        locale,
        nature=nature,
        situation=_mentioned_situation(snapshot, sold_untaxed),
        terms=terms,
        untaxed_lines=sold_untaxed,
        taxing_country=snapshot.taxing_country,
        vat_check=facts.vat_check,
        timezone=seller.timezone,
    )
    snapshot = snapshot.model_copy(
        update={"mentions": [text for _, text in by_rule], "legal": dict(by_rule)}
    )
    missing = check_invoice(snapshot)
    if missing:
        raise OrderNotInvoiceable(
            [Inconsistency(f"mention {x.rule}", with_remedy(x)) for x in missing], missing
        )
    return snapshot


def _vies_not_asked(buyer: BuyerSnapshot) -> Inconsistency:
    """The exemption is claimed but no VIES answer was handed in: never issued on the checksum
    alone (the `issue` step asks VIES before it takes a number; a trial build does not)."""
    return Inconsistency(
        "customer.vat_number",
        f"the intra-EU exemption rests on VIES confirming the buyer's VAT number "
        f"{buyer.vat_number} (art. 262 ter I du CGI), and VIES has not been asked yet: "
        "issuing asks it first",
    )


def _add_to_zero_bucket(breakdown: list[VatBucket], amount: Decimal) -> list[VatBucket]:
    out = [b for b in breakdown if b.rate != ZERO]
    zero = next((b for b in breakdown if b.rate == ZERO), None)
    base = (zero.base if zero else ZERO) + amount
    return [*out, VatBucket(rate=ZERO, base=base, amount=ZERO)]
