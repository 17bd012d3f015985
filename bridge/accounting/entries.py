"""The accounting entries of one document: its sale (or credit) in the sales journal and the
money that moved for it in the receipts journal. Pure: a snapshot and the accounts in,
balanced entries in euros out.

    invoice        debit customers total incl. VAT / credit sales per kind and rate, VAT per rate
    its payment    debit the payment method's account / credit customers, lettered to the invoice
    credit note    the invoice's sides reversed
    its refund     debit customers / credit the payment method's account, lettered to the note

The sales postings are the sums of the document's own lines, so their total is the document's
total to the cent and each entry balances by construction. A document in another currency is
booked in euros at the ECB rate its snapshot records (`eur`), each posting converted on its own
and the customers' posting their sum, with the amount in that currency beside (FEC
Montantdevise / Idevise).

Documents that move no money get no receipt: a reissued invoice (the payment was booked with
the invoice it replaces) and a credit note made again on a reissue ("again:"; its refund was
booked with the first one).

Money that went several ways to different accounts (a refund "Shopify Payments, store_credit")
gets no receipt either, but a `problem`: the snapshot does not record how much went each way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from bridge.accounting.spread import booked_lines
from bridge.config.accounting import AccountingConfig, AccountsConfig, split_method
from bridge.invoicing.amounts import cents
from bridge.invoicing.snapshot import DocumentKind, InvoiceLine, InvoiceSnapshot

ZERO = Decimal(0)
EURO = "EUR"
# Sources of documents whose money was booked with another document (see the module doc).
_NO_MONEY_SOURCES = ("reissue:", "again:")

ACCOUNT_LABELS = {
    "customers": "Clients",
    "goods": "Ventes de marchandises",
    "services": "Prestations de services",
    "shipping": "Ports et frais accessoires facturés",
    "vat": "TVA collectée",
    "vat_oss": "TVA collectée OSS",
    "bank": "Banque",
    "store_credit": "Clients - avoirs en boutique",
}


# (currency, day) → the ECB rate last published on or before that day, None if unknown.
RateLookup = Callable[[str, date], Decimal | None]


class NoEuroRate(ValueError):
    """A document in another currency whose euro rate is not known: it cannot be booked."""


@dataclass(frozen=True, slots=True)
class Posting:
    account: str
    account_label: str
    label: str
    debit: Decimal
    credit: Decimal
    in_currency: Decimal | None = None  # the amount in the document's currency, when not EUR
    currency: str = ""
    letter: str = ""  # lettering code (EcritureLet): the same on an invoice and its payment


@dataclass(frozen=True, slots=True)
class Entry:
    journal: str
    journal_label: str
    number: str  # EcritureNum: the document's number (a gapless sequence per series)
    day: date  # EcritureDate
    piece: str  # PieceRef
    piece_date: date
    label: str
    valid_date: date  # ValidDate: the day the document was issued
    postings: tuple[Posting, ...]
    lettered_on: date | None = None

    @property
    def debit(self) -> Decimal:
        return sum((p.debit for p in self.postings), ZERO)

    @property
    def credit(self) -> Decimal:
        return sum((p.credit for p in self.postings), ZERO)


@dataclass(frozen=True, slots=True)
class Booked:
    """What one document adds to the books."""

    sale: Entry | None  # None for a document of 0,00 (nothing to book)
    money: Entry | None  # None when no money moved for it, or it cannot be booked (`problem`)
    # Why money that moved is not booked: the accountant books it by hand.
    problem: str = ""


def letter_code(document_id: int) -> str:
    """A lettering code unique to the document across every export: its id in letters
    (1 → A, 26 → Z, 27 → AA), so two exports never reuse a code on the customers' account."""
    code = ""
    n = document_id
    while n > 0:
        n, rest = divmod(n - 1, 26)
        code = chr(ord("A") + rest) + code
    return code or "A"


def moves_money(snapshot: InvoiceSnapshot, source: str) -> bool:
    return snapshot.totals.amount_paid != ZERO and not source.startswith(_NO_MONEY_SOURCES)


def oss_country(snapshot: InvoiceSnapshot, line: InvoiceLine) -> str:
    """The member state whose VAT a line bears under the One-Stop Shop, "" for French VAT.
    Services to consumers stay taxed in France beside OSS goods (CGI art. 259, 2°)."""
    country = snapshot.taxing_country
    if not country or country.startswith("FR") or country == "MC" or line.nature == "services":
        return ""
    return country if line.vat_amount != ZERO else ""


def euro_rate(snapshot: InvoiceSnapshot, lookup: RateLookup | None = None) -> Decimal | None:
    """Units of the document's currency for 1 EUR; None for a document in euros.

    The rate the document records (its VAT in euros was stated at it); else the platform's own
    euro total; else `lookup`'s ECB rate of the payment day (a document charging no VAT, an
    export in dollars say, records none: it needed none to be printed). Raises `NoEuroRate`
    when none of them knows."""
    if snapshot.currency == EURO:
        return None
    if snapshot.eur is not None:
        return snapshot.eur.exchange.rate
    totals = snapshot.totals
    if totals.shop_currency == EURO and totals.shop_currency_total_incl:
        return totals.total_incl / totals.shop_currency_total_incl
    found = lookup(snapshot.currency, snapshot.payment.paid_on) if lookup is not None else None
    if found is not None:
        return found
    raise NoEuroRate(
        f"{snapshot.number} is in {snapshot.currency} and no euro rate is known for it "
        f"(none recorded, none in the ECB rates for {snapshot.payment.paid_on}): book it by hand"
    )


def book_document(
    snapshot: InvoiceSnapshot,
    *,
    document_id: int,
    source: str,
    accounting: AccountingConfig,
    rates: RateLookup | None = None,
    credited: InvoiceSnapshot | None = None,
) -> Booked:
    """The entries of one document (see the module doc). `credited`: a credit note's invoice,
    over whose accounts an amount credited without naming lines is spread (`spread.py`).
    Raises `NoEuroRate`."""
    rate = euro_rate(snapshot, rates)
    credit_note = snapshot.kind is DocumentKind.credit_note
    label = _entry_label(snapshot)
    parts = [
        (amount, account, name, detail)
        for amount, account, name, detail in _sale_parts(snapshot, accounting, credited)
        if amount != ZERO
    ]
    if not parts:
        return Booked(sale=None, money=None)
    # A part worth less than half a euro cent (a 0,01 DKK rounding line) books nothing: a FEC
    # line with 0,00 on both sides says nothing, and the customers' posting is their sum.
    converted = [
        (eur, amount, account, name, detail)
        for amount, account, name, detail in parts
        if (eur := _euros(amount, rate)) != ZERO
    ]
    if not converted:
        return Booked(sale=None, money=None)
    total_eur = sum((eur for eur, *_ in converted), ZERO)
    money = moves_money(snapshot, source)
    method_account = accounting.accounts.payment_account(snapshot.payment.method)
    problem = ""
    if money and method_account is None:
        # Unlettered: a letter on the sale alone would leave the customers' account lettered
        # to a non-zero balance until the accountant books the money.
        money = False
        problem = _split_problem(snapshot)
    lettered = money and snapshot.totals.amount_paid == snapshot.totals.total_incl
    letter = letter_code(document_id) if lettered else ""
    currency = snapshot.currency if rate is not None else ""
    accounts = accounting.accounts
    customer = Posting(
        accounts.customers,
        ACCOUNT_LABELS["customers"],
        label,
        *_sides(total_eur, debit=not credit_note),
        in_currency=snapshot.totals.total_incl if rate is not None else None,
        currency=currency,
        letter=letter,
    )
    sales = [
        Posting(
            account,
            name,
            f"{label} {detail}",
            *_sides(eur, debit=credit_note),
            in_currency=abs(amount) if rate is not None else None,
            currency=currency,
        )
        for eur, amount, account, name, detail in converted
    ]
    lettered_on = max(snapshot.issue_date, snapshot.payment.paid_on) if lettered else None
    sale = Entry(
        journal=accounting.sales_journal,
        journal_label=accounting.sales_journal_label,
        number=snapshot.number,
        day=snapshot.issue_date,
        piece=snapshot.number,
        piece_date=snapshot.issue_date,
        label=label,
        valid_date=snapshot.issue_date,
        postings=(customer, *sales),
        lettered_on=lettered_on,
    )
    if not money or method_account is None:
        return Booked(sale=sale, money=None, problem=problem)
    paid = snapshot.totals.amount_paid
    paid_eur = total_eur if lettered else _euros(paid, rate)
    return Booked(
        sale=sale,
        money=_money_entry(
            snapshot,
            accounting,
            method_account,
            paid,
            paid_eur,
            letter,
            lettered_on,
            rate is not None,
        ),
    )


def _split_problem(snapshot: InvoiceSnapshot) -> str:
    what = "refund" if snapshot.kind is DocumentKind.credit_note else "payment"
    methods = ", ".join(split_method(snapshot.payment.method))
    return (
        f"{snapshot.number}: {what} split across methods {methods}: book it by hand "
        "(the amount per method is not recorded; the document's sale entry is in the FEC, "
        "unlettered)"
    )


def _money_entry(
    snapshot: InvoiceSnapshot,
    accounting: AccountingConfig,
    method_account: str,
    paid: Decimal,
    paid_eur: Decimal,
    letter: str,
    lettered_on: date | None,
    foreign: bool,
) -> Entry:
    """The payment received for an invoice, or the refund paid for a credit note."""
    credit_note = snapshot.kind is DocumentKind.credit_note
    accounts = accounting.accounts
    payment = snapshot.payment
    word = "Remboursement" if credit_note else "Règlement"
    label = f"{word} {snapshot.number} {payment.method_label}".strip()
    in_currency = abs(paid) if foreign else None
    currency = snapshot.currency if foreign else ""
    method_label = payment_account_label(accounts, method_account)
    return Entry(
        journal=accounting.receipts_journal,
        journal_label=accounting.receipts_journal_label,
        number=snapshot.number,
        day=payment.paid_on,
        piece=snapshot.number,
        piece_date=snapshot.issue_date,
        label=label,
        valid_date=snapshot.issue_date,
        postings=(
            Posting(
                method_account,
                method_label,
                label,
                *_sides(paid_eur, debit=not credit_note),
                in_currency=in_currency,
                currency=currency,
            ),
            Posting(
                accounts.customers,
                ACCOUNT_LABELS["customers"],
                label,
                *_sides(paid_eur, debit=credit_note),
                in_currency=in_currency,
                currency=currency,
                letter=letter,
            ),
        ),
        lettered_on=lettered_on,
    )


def payment_account_label(accounts: AccountsConfig, account: str) -> str:
    """One label per account (a FEC checker flags an account named two ways), from the
    configuration alone: never the printed method, which follows the document's language,
    nor the document's method code, since two codes may share an account."""
    if account == accounts.bank:
        return ACCOUNT_LABELS["bank"]
    if account == accounts.store_credit:
        return ACCOUNT_LABELS["store_credit"]
    methods = sorted(m for m, mapped in accounts.payment_methods.items() if mapped == account)
    return "Encaissements " + "/".join(methods)


def _sale_parts(
    snapshot: InvoiceSnapshot, accounting: AccountingConfig, credited: InvoiceSnapshot | None
) -> Iterable[tuple[Decimal, str, str, str]]:
    """(amount, account, account label, detail) per sales account and rate, then per VAT
    account and rate: sums of the document's lines, in its currency."""
    accounts = accounting.accounts
    sales: dict[tuple[str, str, Decimal, str], Decimal] = {}
    vat: dict[tuple[str, str, Decimal, str], Decimal] = {}
    for (kind, oss), line in booked_lines(snapshot, credited, _sales_key):
        key = (getattr(accounts, kind), ACCOUNT_LABELS[kind], line.vat_rate, oss)
        sales[key] = sales.get(key, ZERO) + line.total_excl
        if line.vat_amount != ZERO:
            account = accounts.vat_oss if oss else accounts.vat_account(line.vat_rate)
            vat_key = (account, ACCOUNT_LABELS["vat_oss" if oss else "vat"], line.vat_rate, oss)
            vat[vat_key] = vat.get(vat_key, ZERO) + line.vat_amount
    for (account, name, rate, oss), amount in sales.items():
        yield amount, account, name, _detail("HT", rate, oss)
    for (account, name, rate, oss), amount in vat.items():
        yield amount, account, name, _detail("TVA", rate, oss)


def _sales_key(snapshot: InvoiceSnapshot, line: InvoiceLine) -> tuple[str, str]:
    return _sales_kind(line), oss_country(snapshot, line)


def _sales_kind(line: InvoiceLine) -> str:
    if line.kind in ("shipping", "fee"):
        return "shipping"
    return "services" if line.nature == "services" else "goods"


def _detail(what: str, rate: Decimal, oss: str) -> str:
    percent = f"{rate.normalize():f}".replace(".", ",")
    return f"{what} {percent} %" + (f" OSS {oss}" if oss else "")


def _entry_label(snapshot: InvoiceSnapshot) -> str:
    word = "Avoir" if snapshot.kind is DocumentKind.credit_note else "Facture"
    buyer = snapshot.buyer.company or snapshot.buyer.name
    return f"{word} {snapshot.number} {buyer}".strip()


def _euros(amount: Decimal, rate: Decimal | None) -> Decimal:
    return amount if rate is None else cents(amount / rate)


def _sides(amount: Decimal, *, debit: bool) -> tuple[Decimal, Decimal]:
    """(debit, credit) for an amount on the given side; a negative amount (a discount line
    beyond its rate's sales) goes to the other side, since the FEC carries no signs."""
    if amount < ZERO:
        amount, debit = -amount, not debit
    return (amount, ZERO) if debit else (ZERO, amount)
