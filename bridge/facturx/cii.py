"""Snapshot → the Factur-X XML (UN/CEFACT CII D16B, profile EN 16931). Pure: reads only the
snapshot (never the clock or the config), so the same snapshot gives the same bytes, years
later too, like the PDF it is embedded in.

Business terms (BT-…) are named where they are written. The choices the snapshot leaves open:

- Lines carry their price before discount as the net price (BT-146) and their discount as a
  line allowance (BG-27), so quantity × price − allowance = the line's net amount (BT-131)
  exactly. When the price per unit is not an exact decimal (10,00 € for 3), it is stated for
  the whole quantity instead (BT-149 price base quantity = the quantity): still exact.
- A negative line (a discount sent as its own fee line, a negative rounding) cannot be a line
  (a net price is never negative, BR-27): it is a document allowance (BG-20) in its category.
- BT-72, the actual delivery date, only when the snapshot knows the date of the operation
  (`operation_date`, the one date every product line states): the delivery itself is not
  known when a paid order is invoiced, and a date the snapshot does not hold is not stated.
  One exception: an intra-EU supply of goods (K) must give BT-72 or an invoicing period
  (BG-14, BR-IC-11). When no line is dated apart, BT-72 is then the payment date — the day
  the web sale was concluded, which the PDF prints as the sale's date. When some lines are
  (their own date in brackets, build.py `date_note`: the snapshot keeps no date per line,
  so it is read back from that note, which is always in fr or en and reads back), BG-14 runs
  from the earliest to the latest of those dates, the payment date (standing for the
  undated lines) and the issue date (standing for the lines dated that day, which get no
  note). If a note could not be read back, the period covers the dates that could, and
  those two: the least wrong statement left.
- A credit note states the supply it credits, not its own payment: that is the refund, a
  date the supply has nothing to do with. Without an operation date it is BG-14, from the
  order's day (or an earlier line dated apart) to the credited invoice's issue date (BT-26,
  or a later line dated apart): the sale was concluded after the order and invoiced, paid,
  on that day; the invoice's payment date, its BT-72, is not in the credit note's snapshot
  (its payment is the refund). Not BT-72, which would claim a delivery on a day not known
  to be one.
- Services to a business outside the EU are outside the scope of French VAT (O, see
  categories.py): such a document carries no VAT identifier, the seller's or the buyer's
  (BR-O-02), though the PDF prints the seller's, as French law wants.
- A French B2B document is already paid (BT-23 B2/S2/M2): BR-FR-CO-09 wants the paid amount
  (BT-113) equal to the total, nothing due (BT-115) and the due date (BT-9) = the payment day.
  Not a credit note that pays nothing back (`quittance credit --no-refund`, the cancellation
  of a reissue): it credits the customer. It is in the plain frame (B1/S1/M1), nothing paid
  (BT-113 = 0), all of it due (BT-115 = BT-112, always computed as total − paid, BR-CO-16),
  due on its issue day (BT-9, BR-FR-CO-07), and BT-20 says the amount is credited to the
  customer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from lxml import etree

from bridge.facturx import codes
from bridge.facturx.categories import (
    VatCategory,
    category_rate,
    line_category,
    outside_scope,
    untaxed_category,
)
from bridge.invoicing.build import date_apart, local_date
from bridge.invoicing.electronic_address import buyer_electronic_address, electronic_address
from bridge.invoicing.snapshot import DocumentKind, InvoiceLine, InvoiceSnapshot, VatRegime
from bridge.render.labels import labels
from bridge.render.view import rcs_text

# The CII namespaces by prefix: the one definition every module reading or writing CII uses.
NS = {
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "qdt": "urn:un:unece:uncefact:data:standard:QualifiedDataType:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
    "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100",
}
CENT = Decimal("0.01")
ZERO = Decimal(0)
# BR-FR-DEC-03: a price has at most 6 decimals.
PRICE_STEP = Decimal("0.000001")


def build_cii(snapshot: InvoiceSnapshot) -> bytes:
    """The CII XML of `snapshot`, UTF-8 with its XML declaration."""
    root = _el(None, "rsm:CrossIndustryInvoice")
    _context(root, snapshot)
    _header(root, snapshot)
    transaction = _el(root, "rsm:SupplyChainTradeTransaction")
    layout = layout_of(snapshot)
    for index, item in enumerate(layout.lines, start=1):
        _line(transaction, index, item, snapshot.currency)
    _agreement(transaction, snapshot, layout)
    _delivery(transaction, snapshot, layout)
    _settlement(transaction, snapshot, layout)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


# --------------------------------------------------------------------------- the layout


@dataclass(frozen=True)
class TradeLine:
    line: InvoiceLine
    category: VatCategory
    price: Decimal  # BT-146, before the line's allowance
    basis: Decimal | None  # BT-149 when the price is for more than one unit
    allowance: Decimal  # BG-27, the line's discount


@dataclass(frozen=True)
class Allowance:
    """A document-level allowance (BG-20): a negative line of the snapshot."""

    reason: str
    amount: Decimal  # positive
    vat: Decimal  # the VAT it takes off (positive)
    category: VatCategory
    rate: Decimal


@dataclass(frozen=True)
class Bucket:
    category: VatCategory
    rate: Decimal
    base: Decimal
    vat: Decimal


@dataclass(frozen=True)
class Layout:
    lines: list[TradeLine]
    allowances: list[Allowance]
    buckets: list[Bucket]
    untaxed: VatCategory


def layout_of(snapshot: InvoiceSnapshot) -> Layout:
    """Where each snapshot line goes in the XML, and the VAT breakdown that follows from it
    (BR-S-08 and its kin: a category's base is the sum of its lines minus its allowances)."""
    untaxed = untaxed_category(snapshot)
    lines: list[TradeLine] = []
    allowances: list[Allowance] = []
    for line in snapshot.lines:
        category = line_category(line, untaxed)
        rate = category_rate(category, line.vat_rate)
        if line.total_excl < 0:
            allowances.append(
                Allowance(line.description, -line.total_excl, -line.vat_amount, category, rate)
            )
            continue
        gross = line.total_excl + line.discount_excl
        price, basis = line_price(line, gross)
        lines.append(TradeLine(line, category, price, basis, line.discount_excl))
    return Layout(lines, allowances, _buckets(lines, allowances), untaxed)


def line_price(line: InvoiceLine, gross: Decimal) -> tuple[Decimal, Decimal | None]:
    """BT-146 / BT-149 of a line: the unit price the PDF prints when it multiplies back to the
    line's gross amount exactly (so the XML says what the PDF does), else `unit_price`'s."""
    printed = line.unit_price_excl
    if printed == printed.quantize(PRICE_STEP) and printed * line.quantity == gross:
        return printed, None
    return unit_price(gross, line.quantity)


def unit_price(amount: Decimal, quantity: Decimal) -> tuple[Decimal, Decimal | None]:
    """(price, base quantity) with quantity × price / base = `amount` exactly: the price of
    one unit when it is an exact decimal of at most 6 places, else the price of `quantity`."""
    if quantity == 0:
        return amount, None
    unit = amount / quantity
    if unit == unit.quantize(PRICE_STEP) and unit * quantity == amount:
        return unit, None
    return amount, quantity


def _buckets(lines: list[TradeLine], allowances: list[Allowance]) -> list[Bucket]:
    base: dict[tuple[VatCategory, Decimal], Decimal] = {}
    vat: dict[tuple[VatCategory, Decimal], Decimal] = {}
    for item in lines:
        key = (item.category, category_rate(item.category, item.line.vat_rate))
        base[key] = base.get(key, ZERO) + item.line.total_excl
        vat[key] = vat.get(key, ZERO) + item.line.vat_amount
    for allowance in allowances:
        key = (allowance.category, allowance.rate)
        base[key] = base.get(key, ZERO) - allowance.amount
        vat[key] = vat.get(key, ZERO) - allowance.vat
    ordered = sorted(base, key=lambda k: (-k[1], k[0].code, k[0].reason))
    return [Bucket(cat, rate, base[(cat, rate)], vat[(cat, rate)]) for cat, rate in ordered]


# --------------------------------------------------------------------------- header


def _context(root: etree._Element, s: InvoiceSnapshot) -> None:
    context = _el(root, "rsm:ExchangedDocumentContext")
    process = _el(context, "ram:BusinessProcessSpecifiedDocumentContextParameter")
    _el(process, "ram:ID", codes.business_process(s.nature, paid=already_paid(s)))  # BT-23
    guideline = _el(context, "ram:GuidelineSpecifiedDocumentContextParameter")
    _el(guideline, "ram:ID", codes.GUIDELINE_EN16931)  # BT-24


def _header(root: etree._Element, s: InvoiceSnapshot) -> None:
    document = _el(root, "rsm:ExchangedDocument")
    _el(document, "ram:ID", s.number)  # BT-1
    _el(document, "ram:TypeCode", codes.DOCUMENT_TYPE[s.kind])  # BT-3
    _date(_el(document, "ram:IssueDateTime"), s.issue_date)  # BT-2
    for content, subject in notes(s):  # BG-1
        note = _el(document, "ram:IncludedNote")
        _el(note, "ram:Content", content)
        if subject:
            _el(note, "ram:SubjectCode", subject)


def notes(s: InvoiceSnapshot) -> list[tuple[str, str]]:
    """(text, subject code) of every note: the credit note's reason first, then the legal
    mentions in print order, the L441-9 terms with their BR-FR-05 subject codes."""
    rule_of = {text: rule for rule, text in s.legal.items()}
    out: list[tuple[str, str]] = []
    if s.kind is DocumentKind.credit_note and s.credit_reason.strip():
        out.append((s.credit_reason.strip(), ""))
    for text in s.mentions:
        out.append((text, codes.NOTE_SUBJECT.get(rule_of.get(text, ""), "")))
    return out


# --------------------------------------------------------------------------- lines


def _line(parent: etree._Element, index: int, item: TradeLine, currency: str) -> None:
    line = item.line
    node = _el(parent, "ram:IncludedSupplyChainTradeLineItem")
    _el(_el(node, "ram:AssociatedDocumentLineDocument"), "ram:LineID", str(index))  # BT-126
    product = _el(node, "ram:SpecifiedTradeProduct")
    if line.sku:
        _el(product, "ram:SellerAssignedID", line.sku)  # BT-155
    _el(product, "ram:Name", line.description)  # BT-153
    agreement = _el(node, "ram:SpecifiedLineTradeAgreement")
    price = _el(agreement, "ram:NetPriceProductTradePrice")
    _el(price, "ram:ChargeAmount", _price(item.price))  # BT-146
    if item.basis is not None:
        _el(price, "ram:BasisQuantity", _quantity(item.basis), unitCode=codes.UNIT_CODE)
    delivery = _el(node, "ram:SpecifiedLineTradeDelivery")
    _el(delivery, "ram:BilledQuantity", _quantity(line.quantity), unitCode=codes.UNIT_CODE)
    settlement = _el(node, "ram:SpecifiedLineTradeSettlement")
    _tax(settlement, item.category, category_rate(item.category, line.vat_rate))  # BG-30
    if item.allowance:
        _allowance_charge(settlement, item.allowance, codes.DISCOUNT_REASON_CODE, "Remise")
    summation = _el(settlement, "ram:SpecifiedTradeSettlementLineMonetarySummation")
    _el(summation, "ram:LineTotalAmount", _amount(line.total_excl))  # BT-131


def _tax(parent: etree._Element, category: VatCategory, rate: Decimal) -> None:
    tax = _el(parent, "ram:ApplicableTradeTax")
    _el(tax, "ram:TypeCode", "VAT")
    _el(tax, "ram:CategoryCode", category.code)
    if category.has_rate:
        _el(tax, "ram:RateApplicablePercent", _rate(rate))


def _allowance_charge(
    parent: etree._Element, amount: Decimal, reason_code: str, reason: str
) -> etree._Element:
    node = _el(parent, "ram:SpecifiedTradeAllowanceCharge")
    _el(_el(node, "ram:ChargeIndicator"), "udt:Indicator", "false")
    _el(node, "ram:ActualAmount", _amount(amount))
    if reason_code:
        _el(node, "ram:ReasonCode", reason_code)
    _el(node, "ram:Reason", reason)
    return node


# --------------------------------------------------------------------------- parties


def _agreement(parent: etree._Element, s: InvoiceSnapshot, layout: Layout) -> None:
    agreement = _el(parent, "ram:ApplicableHeaderTradeAgreement")
    if s.order.reference:
        _el(agreement, "ram:BuyerReference", s.order.reference)  # BT-10
    # BR-O-02: a document outside the scope of VAT states no VAT identifier of either party.
    vat_ids = not outside_scope([b.category for b in layout.buckets])
    _seller(agreement, s, vat_ids=vat_ids)
    _buyer(agreement, s, vat_ids=vat_ids)
    if s.order.reference:  # BT-14: the shop's order is the seller's sales order
        order = _el(agreement, "ram:SellerOrderReferencedDocument")
        _el(order, "ram:IssuerAssignedID", s.order.reference)


def _seller(parent: etree._Element, s: InvoiceSnapshot, *, vat_ids: bool) -> None:
    seller = s.seller
    party = _el(parent, "ram:SellerTradeParty")
    if seller.siret:  # BT-29: the establishment, where BR-FR-09 looks for it
        _el(party, "ram:GlobalID", seller.siret, schemeID="0009")
    _el(party, "ram:Name", seller.legal_name)  # BT-27
    legal_info = seller_legal_information(s)
    if legal_info:
        _el(party, "ram:Description", legal_info)  # BT-33
    organisation = _el(party, "ram:SpecifiedLegalOrganization")
    if seller.siren:
        _el(organisation, "ram:ID", seller.siren, schemeID="0002")  # BT-30
    if seller.trade_name:
        _el(organisation, "ram:TradingBusinessName", seller.trade_name)  # BT-28
    if seller.phone or seller.email:
        contact = _el(party, "ram:DefinedTradeContact")  # BG-6
        if seller.phone:
            phone = _el(contact, "ram:TelephoneUniversalCommunication")
            _el(phone, "ram:CompleteNumber", seller.phone)
        if seller.email:
            _el(_el(contact, "ram:EmailURIUniversalCommunication"), "ram:URIID", seller.email)
    _address(party, seller.address_lines, seller.country or "FR")
    _endpoint(party, seller.electronic_address, seller.siren)  # BT-34
    if not vat_ids:
        return
    if seller.vat_number:
        _tax_registration(party, seller.vat_number, "VA")  # BT-31
    elif seller.siren and seller.vat_regime is VatRegime.franchise:
        # A workaround, documented as one: a seller in franchise en base may have no VAT
        # number, and BR-E-02 wants BT-31, BT-32 or BT-63 on an exempt (E) invoice, so without
        # one every such document would fail EN 16931. We state the SIREN as BT-32, the seller's
        # tax registration identifier (scheme FC): it is the number the tax office files the
        # business under. No official French guidance on this case was found. Many
        # micro-entrepreneurs do have a VAT number (intra-EU purchases, services bought
        # abroad); then BT-31 above is used and this branch is not.
        _tax_registration(party, seller.siren, "FC")


def seller_legal_information(s: InvoiceSnapshot) -> str:
    """BT-33: the legal form, share capital and registry, as the PDF's footer says them."""
    seller = s.seller
    form = seller.legal_form.strip()
    if form and seller.share_capital:  # the PDF's own wording (labels.py), one source
        form = labels(s.locale)["capital"].format(form=form, capital=seller.share_capital)
    return " — ".join(p for p in (form, rcs_text(seller.rcs_city)) if p)


def _buyer(parent: etree._Element, s: InvoiceSnapshot, *, vat_ids: bool) -> None:
    buyer = s.buyer
    party = _el(parent, "ram:BuyerTradeParty")
    _el(party, "ram:Name", buyer.company or buyer.name)  # BT-44
    if buyer.siren:
        organisation = _el(party, "ram:SpecifiedLegalOrganization")
        _el(organisation, "ram:ID", buyer.siren, schemeID="0002")  # BT-47
    if buyer.company and buyer.name and buyer.name != buyer.company:
        _el(_el(party, "ram:DefinedTradeContact"), "ram:PersonName", buyer.name)  # BT-56
    _address(party, buyer.billing_lines, buyer.billing_country or s.seller.country or "FR")
    # BT-49, through buyer_electronic_address again: a snapshot is read as stored, and
    # BR-FR-21 wants a French company's address in 0225 under its SIREN.
    usable = buyer_electronic_address(buyer.electronic_address, siren=buyer.siren)
    _endpoint(party, usable, buyer.siren)
    if buyer.vat_number and vat_ids:
        _tax_registration(party, buyer.vat_number, "VA")  # BT-48


def _address(parent: etree._Element, lines: list[str], country: str) -> None:
    """A postal address from the snapshot's printed lines: the last one is "postcode city"
    (Address.lines), split when it starts with a French-style postcode, else kept whole as
    the city (a snapshot keeps the lines as printed, not their parts)."""
    node = _el(parent, "ram:PostalTradeAddress")
    *street, last = lines or [""]
    postcode, city = _postcode_city(last)
    if postcode:
        _el(node, "ram:PostcodeCode", postcode)
    for tag, text in zip(("ram:LineOne", "ram:LineTwo"), street, strict=False):
        _el(node, tag, text)
    if len(street) > 2:
        _el(node, "ram:LineThree", ", ".join(street[2:]))
    if city:
        _el(node, "ram:CityName", city)
    _el(node, "ram:CountryID", country.upper())


def _postcode_city(line: str) -> tuple[str, str]:
    first, _, rest = line.strip().partition(" ")
    if first.isdigit() and len(first) in (4, 5) and rest:
        return first, rest.strip()
    return "", line.strip()


def _endpoint(parent: etree._Element, configured: str, siren: str) -> None:
    address = electronic_address(configured, siren)
    if address is not None:
        node = _el(parent, "ram:URIUniversalCommunication")
        _el(node, "ram:URIID", address.identifier, schemeID=address.scheme)


def _tax_registration(parent: etree._Element, number: str, scheme: str) -> None:
    _el(_el(parent, "ram:SpecifiedTaxRegistration"), "ram:ID", number, schemeID=scheme)


# --------------------------------------------------------------------------- delivery


@dataclass(frozen=True)
class DeliveryDates:
    """What the XML states of when the operation took place (see the module's notes)."""

    actual: date | None = None  # BT-72
    period: tuple[date, date] | None = None  # BG-14: BT-73, BT-74


def _intra_eu(layout: Layout) -> bool:
    return any(b.category.code == "K" for b in layout.buckets)


def delivery_dates(s: InvoiceSnapshot, layout: Layout) -> DeliveryDates:
    """BT-72 when the snapshot knows the operation's date; for an intra-EU supply without it
    (BR-IC-11), the payment date or, when lines are dated apart, the period they span; for a
    credit note, the period of the supply it credits (never its refund's date)."""
    if s.operation_date is not None:
        return DeliveryDates(actual=s.operation_date)
    if not _intra_eu(layout):
        return DeliveryDates()
    notes = [date_apart(line) for line in s.lines]
    dated = {day for apart, day in notes if apart and day is not None}
    if s.kind is DocumentKind.credit_note:
        days = dated | {local_date(s.order.ordered_at, s.timezone)}
        days |= {s.credited_issue_date or s.issue_date}
        return DeliveryDates(period=(min(days), max(days)))
    if not any(apart for apart, _ in notes):
        return DeliveryDates(actual=s.payment.paid_on)
    days = dated | {s.payment.paid_on, s.issue_date}
    return DeliveryDates(period=(min(days), max(days)))


def _delivery(parent: etree._Element, s: InvoiceSnapshot, layout: Layout) -> None:
    """BG-13 when the goods go elsewhere than the billing address, and always for an intra-EU
    supply (BR-IC-12 wants the deliver-to country); BT-72 when `delivery_dates` has it."""
    delivery = _el(parent, "ram:ApplicableHeaderTradeDelivery")
    buyer = s.buyer
    intra_eu = _intra_eu(layout)
    if buyer.shipping_lines or buyer.shipping_name or buyer.shipping_company or intra_eu:
        party = _el(delivery, "ram:ShipToTradeParty")
        name = buyer.shipping_company or buyer.shipping_name or buyer.company or buyer.name
        _el(party, "ram:Name", name)  # BT-70
        lines = buyer.shipping_lines or buyer.billing_lines
        country = (buyer.shipping_country if buyer.shipping_lines else "") or (
            buyer.billing_country or s.seller.country or "FR"
        )
        _address(party, lines, country)  # BG-15
    actual = delivery_dates(s, layout).actual
    if actual is not None:
        event = _el(delivery, "ram:ActualDeliverySupplyChainEvent")
        _date(_el(event, "ram:OccurrenceDateTime"), actual)  # BT-72


# --------------------------------------------------------------------------- settlement


def _settlement(parent: etree._Element, s: InvoiceSnapshot, layout: Layout) -> None:
    settlement = _el(parent, "ram:ApplicableHeaderTradeSettlement")
    if s.payment.reference:
        _el(settlement, "ram:PaymentReference", s.payment.reference)  # BT-83
    euro_vat = eur_vat_total(s)
    if euro_vat is not None:
        _el(settlement, "ram:TaxCurrencyCode", "EUR")  # BT-6
    _el(settlement, "ram:InvoiceCurrencyCode", s.currency)  # BT-5
    means = _el(settlement, "ram:SpecifiedTradeSettlementPaymentMeans")  # BG-16
    _el(means, "ram:TypeCode", payment_means_code(s.payment.method))  # BT-81
    if s.payment.method_label:
        _el(means, "ram:Information", s.payment.method_label)  # BT-82
    for bucket in layout.buckets:
        _breakdown(settlement, bucket)
    period = delivery_dates(s, layout).period
    if period is not None:
        billing = _el(settlement, "ram:BillingSpecifiedPeriod")  # BG-14
        _date(_el(billing, "ram:StartDateTime"), period[0])  # BT-73
        _date(_el(billing, "ram:EndDateTime"), period[1])  # BT-74
    for allowance in layout.allowances:
        _document_allowance(settlement, allowance)
    terms = _el(settlement, "ram:SpecifiedTradePaymentTerms")
    _el(terms, "ram:Description", payment_terms(s))  # BT-20
    _date(_el(terms, "ram:DueDateDateTime"), due_date(s))  # BT-9
    _totals(settlement, s, layout, euro_vat)
    if s.kind is DocumentKind.credit_note and s.credited_number:
        referenced = _el(settlement, "ram:InvoiceReferencedDocument")  # BG-3
        _el(referenced, "ram:IssuerAssignedID", s.credited_number)  # BT-25
        if s.credited_issue_date is not None:
            issued = _el(referenced, "ram:FormattedIssueDateTime")
            _date(issued, s.credited_issue_date, ns="qdt")  # BT-26


def payment_means_code(method: str) -> str:
    return codes.PAYMENT_MEANS.get(method.strip().lower(), codes.OTHER_PAYMENT_MEANS)


def amount_due(s: InvoiceSnapshot) -> Decimal:
    """BT-115 = BT-112 − BT-113 (BR-CO-16), computed: the snapshot's `amount_due` is what the
    shop still had to collect on the order, not what this document leaves to pay (a credit
    note paying nothing back stores 0 there, yet its whole amount is owed to the customer)."""
    return s.totals.total_incl - s.totals.amount_paid


def already_paid(s: InvoiceSnapshot) -> bool:
    """Whether nothing is left to pay: a receipted invoice, a credit note refunded; not a
    credit note that pays nothing back (its amount is credited to the customer)."""
    return amount_due(s) == 0


def due_date(s: InvoiceSnapshot) -> date:
    """BT-9: the payment day of a paid document (BR-FR-CO-09), else the issue day, when the
    amount is at the customer's disposal (BR-FR-CO-07: never before the issue date)."""
    return s.payment.paid_on if already_paid(s) else s.issue_date


def payment_terms(s: InvoiceSnapshot) -> str:
    """BT-20: the receipt, in the document's language (the PDF's stamp says the same); for a
    credit note that pays nothing back, that its amount is credited to the customer (the PDF
    then states no refund)."""
    day = s.payment.paid_on
    label = s.payment.method_label.strip()
    if not already_paid(s):
        fr = s.locale == "fr"
        return "Montant porté au crédit du client" if fr else "Amount credited to the customer"
    if s.kind is DocumentKind.credit_note:
        text = f"Remboursé le {day:%d/%m/%Y}" if s.locale == "fr" else f"Refunded on {day}"
    else:
        text = f"Acquittée le {day:%d/%m/%Y}" if s.locale == "fr" else f"Paid on {day}"
    return f"{text} ({label})" if label else text


def eur_vat_total(s: InvoiceSnapshot) -> Decimal | None:
    """BT-111, the VAT in euros of a document in another currency (BR-FR-CO-12, BR-53): the
    ECB conversion the PDF prints, or 0 when there is no VAT to convert (a franchise seller
    or an exempt sale have none, so `eur` is not recorded). None in euros, and for a taxed
    document issued before the conversion was recorded (nothing true to state)."""
    if s.currency.upper() == "EUR":
        return None
    if s.eur is not None:
        return s.eur.total_vat
    return ZERO if s.totals.total_vat == 0 else None


def _breakdown(parent: etree._Element, bucket: Bucket) -> None:
    tax = _el(parent, "ram:ApplicableTradeTax")  # BG-23
    _el(tax, "ram:CalculatedAmount", _amount(bucket.vat))  # BT-117
    _el(tax, "ram:TypeCode", "VAT")
    if bucket.category.exempt and bucket.category.reason:
        _el(tax, "ram:ExemptionReason", bucket.category.reason)  # BT-120
    _el(tax, "ram:BasisAmount", _amount(bucket.base))  # BT-116
    _el(tax, "ram:CategoryCode", bucket.category.code)  # BT-118
    if bucket.category.exempt and bucket.category.reason_code:
        _el(tax, "ram:ExemptionReasonCode", bucket.category.reason_code)  # BT-121
    if bucket.category.has_rate:
        _el(tax, "ram:RateApplicablePercent", _rate(bucket.rate))  # BT-119


def _document_allowance(parent: etree._Element, allowance: Allowance) -> None:
    node = _allowance_charge(parent, allowance.amount, "", allowance.reason)  # BG-20
    tax = _el(node, "ram:CategoryTradeTax")
    _el(tax, "ram:TypeCode", "VAT")
    _el(tax, "ram:CategoryCode", allowance.category.code)  # BT-95
    if allowance.category.has_rate:
        _el(tax, "ram:RateApplicablePercent", _rate(allowance.rate))  # BT-96


def _totals(
    parent: etree._Element, s: InvoiceSnapshot, layout: Layout, euro_vat: Decimal | None
) -> None:
    t = s.totals
    summation = _el(parent, "ram:SpecifiedTradeSettlementHeaderMonetarySummation")  # BG-22
    lines_total = sum((item.line.total_excl for item in layout.lines), ZERO)
    _el(summation, "ram:LineTotalAmount", _amount(lines_total))  # BT-106
    if layout.allowances:
        allowances = sum((a.amount for a in layout.allowances), ZERO)
        _el(summation, "ram:AllowanceTotalAmount", _amount(allowances))  # BT-107
    _el(summation, "ram:TaxBasisTotalAmount", _amount(t.total_excl))  # BT-109
    _el(summation, "ram:TaxTotalAmount", _amount(t.total_vat), currencyID=s.currency)  # BT-110
    if euro_vat is not None:
        _el(summation, "ram:TaxTotalAmount", _amount(euro_vat), currencyID="EUR")  # BT-111
    _el(summation, "ram:GrandTotalAmount", _amount(t.total_incl))  # BT-112
    _el(summation, "ram:TotalPrepaidAmount", _amount(t.amount_paid))  # BT-113
    _el(summation, "ram:DuePayableAmount", _amount(amount_due(s)))  # BT-115


# --------------------------------------------------------------------------- primitives


def _el(parent: etree._Element | None, tag: str, text: str | None = None, **attrs: str):
    prefix, local = tag.split(":")
    name = f"{{{NS[prefix]}}}{local}"
    node = etree.Element(name, nsmap=NS) if parent is None else etree.SubElement(parent, name)
    for key, value in attrs.items():
        node.set(key, value)
    if text is not None:
        node.text = text
    return node


def _date(parent: etree._Element, day: date, *, ns: str = "udt") -> None:
    _el(parent, f"{ns}:DateTimeString", f"{day:%Y%m%d}", format="102")


def _amount(value: Decimal) -> str:
    """To the cent, never "-0.00" (BR-FR-DEC-01: at most 2 decimals)."""
    return _plain(value.quantize(CENT))


def _price(value: Decimal) -> str:
    """At least 2 decimals, at most 6 (BR-FR-DEC-03), exact (`unit_price` made it so)."""
    return _plain(value.quantize(CENT) if value == value.quantize(CENT) else value.normalize())


def _rate(value: Decimal) -> str:
    return _plain(value.quantize(CENT))


def _quantity(value: Decimal) -> str:
    return _plain(value.normalize())


def _plain(value: Decimal) -> str:
    text = format(value, "f")
    return text[1:] if text.startswith("-") and not value else text
