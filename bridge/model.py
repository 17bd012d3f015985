"""The normalised order every platform is translated into.

Connectors map their payloads to these types; everything downstream (invoicing, store,
pipeline) only ever sees an `Order`. Money is `Decimal` in the order's currency, dates are
timezone-aware (UTC inside). Line amounts are always *excluding VAT*, whatever the platform's
`prices_include_tax` says: the connector derives them (gross - tax) because the platform's
per-line tax amounts are the truth we must reproduce to the cent.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

CENT = Decimal("0.01")


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise ValueError("datetime must be timezone-aware (e.g. 2026-11-27T10:00:00Z)")
    return value


AwareDatetime = Annotated[datetime, AfterValidator(_aware)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LineKind(StrEnum):
    product = "product"
    shipping = "shipping"
    fee = "fee"


class Nature(StrEnum):
    """Nature of the operation, a mandatory mention on French invoices."""

    goods = "goods"
    services = "services"


class Address(_Frozen):
    # Who the parcel is for and their company: on a delivery address this may be someone
    # other than the buyer (a gift, an office). Not part of the postal address itself.
    name: str = ""
    company: str = ""
    line1: str = ""
    line2: str = ""
    postcode: str = ""
    city: str = ""
    state: str = ""
    country: str = Field(default="FR", description="ISO 3166-1 alpha-2")

    @field_validator("country")
    @classmethod
    def _country_code(cls, value: str) -> str:
        value = value.strip().upper()
        if value and (len(value) != 2 or not value.isalpha()):
            raise ValueError("country must be an ISO 3166-1 alpha-2 code such as FR")
        return value

    def is_empty(self) -> bool:
        """No postal address: a recipient's name or company alone is nowhere to deliver to."""
        return not (self.line1 or self.line2 or self.postcode or self.city)

    def lines(self) -> list[str]:
        """Postal lines in French order (street, complement, postcode + city, country)."""
        city = " ".join(part for part in (self.postcode, self.city) if part)
        return [part for part in (self.line1, self.line2, city, self.state) if part]


class Party(_Frozen):
    """The buyer as the platform knows them."""

    first_name: str = ""
    last_name: str = ""
    company: str = ""
    email: str = ""
    phone: str = ""
    vat_number: str = ""
    siren: str = ""
    # Where the buyer receives structured invoices (EN 16931 BT-49), as the order data gives
    # it: "<scheme>:<identifier>" ("0225:552100554") or a bare SIREN-based identifier.
    electronic_address: str = ""
    billing: Address = Address()
    shipping: Address | None = None

    @property
    def full_name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part)

    @property
    def display_name(self) -> str:
        return self.company or self.full_name or self.email


class TaxLine(_Frozen):
    rate: Decimal = Field(description="percent, e.g. 20 or 5.5")
    amount: Decimal
    label: str = ""


class Line(_Frozen):
    """One invoice-worthy line: a product, a shipping method or a fee. Amounts excl. VAT."""

    kind: LineKind = LineKind.product
    name: str
    sku: str = ""
    attributes: dict[str, str] = Field(default_factory=dict)
    quantity: Decimal = Decimal(1)
    subtotal: Decimal = Field(description="before discounts, excl. VAT")
    discount: Decimal = Decimal(0)
    taxes: list[TaxLine] = Field(default_factory=list)
    nature: Nature = Nature.goods
    # When the goods are delivered or the service is done, if the platform says (a workshop's
    # date, a pre-order's delivery date); None = not known at issue, so not printed.
    operation_date: date | None = None

    @property
    def total(self) -> Decimal:
        """Line total excl. VAT after discount."""
        return self.subtotal - self.discount

    @property
    def tax(self) -> Decimal:
        return sum((t.amount for t in self.taxes), Decimal(0))


class Coupon(_Frozen):
    code: str
    amount: Decimal = Field(description="discount excl. VAT, already spread over the lines")


class Payment(_Frozen):
    method: str = Field(default="", description="platform code, e.g. stripe, bacs, paypal")
    method_label: str = Field(default="", description="title the customer saw")
    paid_at: AwareDatetime
    transaction_ref: str = ""
    amount: Decimal | None = None


class RefundLine(_Frozen):
    """What one refund gives back on one line of the order (a product returned, the shipping,
    a fee). Amounts are positive and excl. VAT, like the order's lines; `taxes` are the VAT
    given back on it, as the platform computed it."""

    kind: LineKind = LineKind.product
    name: str
    sku: str = ""
    quantity: Decimal = Field(default=Decimal(0), description="units given back; 0 = amount only")
    amount: Decimal = Field(description="refunded excl. VAT, positive")
    taxes: list[TaxLine] = Field(default_factory=list)
    nature: Nature = Nature.goods
    # The platform's id of the order line it refunds ("" when it does not say): lets a credit
    # note name the invoice line it corrects.
    line_ref: str = ""

    @property
    def tax(self) -> Decimal:
        return sum((t.amount for t in self.taxes), Decimal(0))


class Refund(_Frozen):
    """Money given back on a paid order, as the platform records it. `amount` is what went
    back, incl. VAT; `lines` what it was for, when the platform says. Any part of `amount` the
    lines do not explain (an amount-only refund, an order adjustment) is credited pro rata
    over the invoice's VAT rates."""

    refund_id: str = Field(default="", description="the platform's stable id of the refund")
    amount: Decimal = Field(description="positive amount refunded, incl. VAT")
    reason: str = ""
    created_at: AwareDatetime | None = None
    lines: list[RefundLine] = Field(default_factory=list)
    # How the money went back, as the customer would say it: "Stripe", "Carte bancaire",
    # "Avoir en boutique" (store credit). "" = the original payment method.
    method: str = ""
    # The money has not gone back yet (the gateway's transaction pending, or failed): the
    # refund is known, and credited once a later read finds the money returned.
    pending: bool = False

    @property
    def lines_total(self) -> Decimal:
        """What the lines explain, incl. VAT."""
        return sum((ln.amount + ln.tax for ln in self.lines), Decimal(0))


class Order(_Frozen):
    shop: str
    platform: str = "manual"
    order_id: str = Field(description="the platform's stable id")
    reference: str = Field(default="", description="what the customer sees, e.g. #1001")
    created_at: AwareDatetime
    currency: str = "EUR"
    prices_include_tax: bool = True
    customer: Party
    locale: str = ""
    lines: list[Line]
    coupons: list[Coupon] = Field(default_factory=list)
    total: Decimal = Field(description="what the customer paid, incl. VAT")
    total_tax: Decimal
    payment: Payment
    refunds: list[Refund] = Field(default_factory=list)
    shop_currency_total: Decimal | None = Field(
        default=None, description="total in the shop's currency when the customer paid in another"
    )
    shop_currency_tax: Decimal | None = None

    @field_validator("currency")
    @classmethod
    def _currency_code(cls, value: str) -> str:
        value = value.strip().upper()
        if len(value) != 3 or not value.isalpha():
            raise ValueError("currency must be an ISO 4217 code such as EUR")
        return value

    @property
    def display_reference(self) -> str:
        return self.reference or self.order_id
