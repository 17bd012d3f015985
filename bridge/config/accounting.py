"""`[accounting]`: what the accountant's export (`quittance export`) books where — the fiscal
year's closing day (it names the FEC file), the journals, and the accounts of the plan
comptable général (PCG) the sales and receipts go to. Every key has a default a French
accountant recognises; they change them to fit their chart of accounts."""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, field_validator

from bridge.settings_types import Section, fail

# A PCG account starts with its class digit; charts use 6 to 8 characters, some with letters.
Account = Annotated[str, StringConstraints(pattern=r"^[1-9][0-9A-Za-z]{2,19}$")]
ACCOUNT_HELP = "an account number of your chart, e.g. '411000' (a digit, then 2-19 digits/letters)"
# FEC journal codes are short and free of the separators (A47 A-1: alphanumeric).
JournalCode = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]{1,10}$")]
Label = Annotated[str, StringConstraints(min_length=1, max_length=100)]


class AccountsConfig(Section):
    """The accounts each part of a sale is booked to (PCG defaults)."""

    customers: Account = Field(default="411000", description=f"customers (411); {ACCOUNT_HELP}")
    goods: Account = Field(default="707000", description="sales of goods (707)")
    services: Account = Field(default="706000", description="services sold (706)")
    shipping: Account = Field(
        default="708500", description="shipping and fees charged to the customer (7085)"
    )
    vat: Account = Field(default="445710", description="French VAT collected (44571)")
    vat_by_rate: dict[str, Account] = Field(
        default_factory=dict,
        description="a VAT account per rate when the chart has one, e.g. {'20' = '445711'}",
    )
    vat_oss: Account = Field(
        default="445720",
        description="VAT of other member states collected through the One-Stop Shop (OSS)",
    )
    bank: Account = Field(default="512000", description="where payments arrive (512)")
    store_credit: Account = Field(
        default="419100",
        description="refunds given as store credit: owed to the customer, no money moved (4191)",
    )
    payment_methods: dict[str, Account] = Field(
        default_factory=dict,
        description=(
            "an account per payment method code when it is not the bank, "
            "e.g. {paypal = '512100', stripe = '511500'}"
        ),
    )

    @field_validator("vat_by_rate")
    @classmethod
    def _rates(cls, accounts: dict[str, str]) -> dict[str, str]:
        for rate in accounts:
            try:
                value = Decimal(rate)
            except InvalidOperation:
                raise fail(
                    f"VAT rates in percent as keys, e.g. '20' or '5.5'; got {rate!r}"
                ) from None
            if not value.is_finite() or not 0 < value < 100:
                raise fail(f"VAT rates in percent between 0 and 100 as keys; got {rate!r}")
        return accounts

    def vat_account(self, rate: Decimal) -> str:
        for key, account in self.vat_by_rate.items():
            if Decimal(key) == rate:
                return account
        return self.vat

    def payment_account(self, method: str) -> str | None:
        """The account `method`'s money goes to; None for money that went several ways to
        different accounts ("Shopify Payments, store_credit"): the snapshot does not record
        the amount per method, so no split can be made and none may be guessed (the bank for
        all of it would book store credit as money gone)."""
        if method in self.payment_methods:  # the owner's own account, even for a composite
            return self.payment_methods[method]
        accounts = {self._method_account(part) for part in split_method(method)}
        return accounts.pop() if len(accounts) == 1 else None

    def _method_account(self, method: str) -> str:
        if method in self.payment_methods:
            return self.payment_methods[method]
        return self.store_credit if method == "store_credit" else self.bank


def split_method(method: str) -> list[str]:
    """The methods of a refund that went back several ways: credit.py writes them joined
    with ", " ("Shopify Payments, store_credit"); a single method is a list of one."""
    return [part.strip() for part in method.split(",") if part.strip()] or [method]


class AccountingConfig(Section):
    """The accountant's export: fiscal year, journals and accounts."""

    fiscal_year_end: str = Field(
        default="12-31",
        description="the last day of the fiscal year as MM-DD, e.g. '12-31' or '06-30'",
    )
    sales_journal: JournalCode = Field(default="VE", description="the sales journal's code")
    sales_journal_label: Label = Field(default="Ventes", description="the sales journal's name")
    receipts_journal: JournalCode = Field(
        default="BQ", description="the journal payments and refunds are booked in"
    )
    receipts_journal_label: Label = Field(
        default="Banque", description="the receipts journal's name"
    )
    fec_separator: Literal["tab", "pipe"] = Field(
        default="tab", description="the FEC's field separator: tab or pipe (A47 A-1 allows both)"
    )
    fec_encoding: Literal["utf-8", "iso-8859-15"] = Field(
        default="utf-8",
        description="the FEC's encoding: utf-8 (every name as written) or iso-8859-15 (Latin-9)",
    )
    accounts: AccountsConfig = Field(default_factory=AccountsConfig)

    @field_validator("fiscal_year_end")
    @classmethod
    def _month_day(cls, value: str) -> str:
        try:
            month, day = (int(part) for part in value.split("-"))
            date(2025, month, day)  # a year without 29 February: a day every year has
        except ValueError:
            raise fail(f"a day of every year as MM-DD, e.g. '12-31'; got {value!r}") from None
        return f"{month:02d}-{day:02d}"

    def closing_date(self, day: date) -> date:
        """The closing day of the fiscal year `day` is in: the first `fiscal_year_end` on or
        after it."""
        month, end = (int(part) for part in self.fiscal_year_end.split("-"))
        closing = date(day.year, month, end)
        return closing if closing >= day else date(day.year + 1, month, end)
