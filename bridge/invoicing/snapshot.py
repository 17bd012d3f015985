"""The invoice snapshot: everything a legal document says, frozen at issue time.

A snapshot is self-contained: rendering, verification and re-rendering years later read only
this (never the live config or the platform), which is what makes "issued means immutable"
true. It serialises to canonical JSON (`canonical_json`) whose SHA-256 feeds the hash chain.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

SNAPSHOT_VERSION = 1
# Fields added to version 1 after snapshots were first stored, with their defaults; a dotted
# name reaches into a nested object ("buyer.shipping_name": the buyer's `shipping_name`).
_ADDED_FIELDS: dict[str, object] = {
    "operation_date": None,
    "legal": {},
    "buyer.shipping_name": "",
    "buyer.shipping_company": "",
    "vat_check": None,
    "taxing_country": "",
    "eur": None,
    "credit_reason": "",
    "seller.electronic_address": "",
    "buyer.electronic_address": "",
}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DocumentKind(StrEnum):
    invoice = "invoice"
    credit_note = "credit_note"


class VatRegime(StrEnum):
    normal = "normal"
    franchise = "franchise"  # franchise en base: no VAT charged, art. 293 B du CGI
    debits = "debits"  # option pour le paiement de la taxe d'après les débits


class SellerSnapshot(_Frozen):
    legal_name: str
    trade_name: str = ""
    legal_form: str = ""
    share_capital: str = ""  # "10 000 €" or "" for a sole trader (then legal_form is "EI")
    address_lines: list[str]
    country: str = "FR"
    siren: str = ""
    siret: str = ""
    rcs_city: str = ""  # "RCS Paris"; an artisan uses "RM" + department
    vat_number: str = ""
    vat_regime: VatRegime = VatRegime.normal
    email: str = ""
    phone: str = ""
    website: str = ""
    logo_path: str = ""
    brand_color: str = "#1f3a5f"
    # Where structured invoices reach the seller (BT-34), "<scheme>:<identifier>" as
    # configured (`[seller] electronic_address`); "" = the SIREN's in the French directory
    # (0225:<siren>), and what every snapshot stored before it could be configured says.
    electronic_address: str = ""


class BuyerSnapshot(_Frozen):
    name: str
    company: str = ""
    email: str = ""
    billing_lines: list[str]
    billing_country: str = ""
    shipping_lines: list[str] = Field(default_factory=list)  # only when it differs
    shipping_country: str = ""
    # The delivery block's recipient when the platform names one (may not be the buyer);
    # "" = the buyer, which is all snapshots stored before these fields could say.
    shipping_name: str = ""
    shipping_company: str = ""
    vat_number: str = ""
    siren: str = ""
    is_business: bool = False
    # The buyer's electronic address (BT-49) as the order gave it, canonical
    # ("0225:552100554"); "" = the SIREN's (0225:<siren>) when known, else none.
    electronic_address: str = ""


class InvoiceLine(_Frozen):
    kind: str  # product | shipping | fee
    description: str
    sku: str = ""
    quantity: Decimal
    unit_price_excl: Decimal  # subtotal / quantity, ROUND_HALF_UP at 4 decimals (min. 2)
    discount_excl: Decimal = Decimal(0)
    total_excl: Decimal  # after discount
    vat_rate: Decimal  # percent; sum of the line's rates
    vat_amount: Decimal
    total_incl: Decimal
    nature: str = "goods"


class VatBucket(_Frozen):
    rate: Decimal
    base: Decimal
    amount: Decimal


class Totals(_Frozen):
    discount_excl: Decimal
    total_excl: Decimal
    total_vat: Decimal
    total_incl: Decimal
    amount_paid: Decimal
    amount_due: Decimal
    refunded: Decimal = Decimal(0)
    # Only when the customer paid in another currency and the shop-currency figures are known.
    shop_currency: str = ""
    shop_currency_total_incl: Decimal | None = None
    shop_currency_total_vat: Decimal | None = None


class PaymentSnapshot(_Frozen):
    method: str
    method_label: str
    paid_at: datetime
    paid_on: date  # local date, what the document prints
    reference: str = ""


class OrderRef(_Frozen):
    shop: str
    platform: str
    order_id: str
    reference: str
    ordered_at: datetime


class VatCheck(_Frozen):
    """The VIES answer for the buyer's VAT number: the proof an intra-EU exemption rests on
    (a valid number confirmed by VIES is a substantive condition of art. 262 ter I)."""

    number: str  # as checked, with its country prefix: "DE136695976"
    valid: bool
    checked_at: datetime  # UTC, when VIES answered
    consultation_number: str = ""  # VIES's requestIdentifier (checkVatApprox)
    name: str = ""  # as VIES knows the trader ("---" when the member state does not say)
    address: str = ""


class EurRate(_Frozen):
    """The euro rate of the order's currency used for the VAT in euros (CGI art. 242 nonies A,
    I-13°): the ECB reference rate last published on or before the tax point."""

    currency: str  # "USD"
    rate: Decimal  # units of `currency` for 1 EUR, as the ECB publishes it: 1.0842
    published_on: date
    source: str = "ECB euro foreign exchange reference rates"


class EurVat(_Frozen):
    """One VAT rate's amount in euros (a row of `vat_breakdown`, converted)."""

    rate: Decimal  # the VAT rate, percent, as in `vat_breakdown`
    amount: Decimal  # that rate's VAT in euros


class EurConversion(_Frozen):
    """The VAT of an invoice in another currency, in euros (CGI art. 242 nonies A, I-13°).

    Each rate's VAT is divided by `exchange.rate` and rounded half-up to the cent, one rate at a
    time; `total_vat` is the sum of those rounded amounts, so the printed rows add up to the
    printed total (converting the VAT total at once may differ from it by a cent per rate)."""

    exchange: EurRate
    vat_by_rate: list[EurVat]
    total_vat: Decimal


class InvoiceSnapshot(_Frozen):
    version: int = SNAPSHOT_VERSION
    kind: DocumentKind = DocumentKind.invoice
    series: str
    number: str
    sequence: int
    issued_at: datetime  # UTC
    issue_date: date  # local date in the seller's timezone
    timezone: str
    locale: str  # "fr" or "en"
    currency: str
    seller: SellerSnapshot
    buyer: BuyerSnapshot
    order: OrderRef
    lines: list[InvoiceLine]
    vat_breakdown: list[VatBucket]
    totals: Totals
    payment: PaymentSnapshot
    nature: str  # goods | services | both
    mentions: list[str] = Field(default_factory=list)  # legal mentions, already in `locale`
    credited_number: str = ""  # for a credit note: the invoice it corrects
    credited_issue_date: date | None = None
    # For a credit note: why it was issued, as printed ("Retour du Carnet A5", "Erreur sur
    # l'acheteur"); its `payment` is the refund (method, date, reference), `totals.amount_paid`
    # the money given back. Amounts are positive: the kind says they are credited.
    credit_reason: str = ""
    # The date of the operation when every product line states the same one (a workshop's
    # day, a pre-order's delivery) and it is known at issue; printed only when it is not the
    # issue date. Lines dated apart carry their date in their description instead. None =
    # not known, and every invoice issued before it was recorded.
    operation_date: date | None = None
    # The legal mentions again, keyed by the rule that requires them ("vat_franchise",
    # "recovery_indemnity", …; see bridge/invoicing/mentions.py): lets `check_invoice` tell a
    # configured wording from a missing mention. `mentions` stays the printed list, in order.
    legal: dict[str, str] = Field(default_factory=dict)
    # VIES's answer for the buyer's VAT number when the sale claims the intra-EU exemption: the
    # proof it rests on (see bridge/vies.py). None for every other sale, and for invoices issued
    # before VIES was asked (their exemption rests on the number's checksum alone).
    vat_check: VatCheck | None = None
    # Whose VAT the goods bear ("FR", "FR-COR", or "IE" for an OSS distance sale; see
    # bridge/invoicing/vat_rates.taxing_territory); "" when issued before it was recorded.
    taxing_country: str = ""
    # An invoice in another currency than the euro: its VAT in euros at the ECB rate (see
    # bridge/ecb.py). None in euros, and for invoices issued before it was recorded.
    eur: EurConversion | None = None

    def canonical_json(self) -> str:
        """Stable serialisation (sorted keys, Decimals as strings): the bytes we hash.

        Fields added after version 1 are left out while they hold their default, so a snapshot
        stored before they existed serialises (and hashes) exactly as it did when issued.
        """
        data = self.model_dump(mode="json")
        for name, default in _ADDED_FIELDS.items():
            *parents, leaf = name.split(".")
            holder: object = data
            for parent in parents:
                holder = holder.get(parent) if isinstance(holder, dict) else None
            if isinstance(holder, dict) and holder.get(leaf) == default:
                holder.pop(leaf, None)
        return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> InvoiceSnapshot:
        return cls.model_validate_json(text)
