"""The accountant's books, pure: which account each part of a document goes to, the FEC's form,
the numbering report, the B2C e-reporting categories and the `[accounting]` keys. Documents
are the realistic cases built by the real `build_invoice` (tests/support/snapshots.py)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from pydantic import ValidationError

from bridge.accounting import fec
from bridge.accounting.entries import (
    NoEuroRate,
    book_document,
    letter_code,
)
from bridge.accounting.ereporting import EReporting, category_of
from bridge.accounting.journal import journal_cells, journal_header, journal_row
from bridge.accounting.numbering import NumberingReport
from bridge.config.accounting import AccountingConfig, AccountsConfig
from bridge.invoicing import cases
from bridge.invoicing.amounts import cents
from bridge.invoicing.snapshot import InvoiceSnapshot
from tests.support.fec_file import read_fec, unbalanced
from tests.support.snapshots import case

D = Decimal
BOOKS = AccountingConfig()


def book(snapshot: InvoiceSnapshot, *, source: str = "", books: AccountingConfig = BOOKS):
    return book_document(snapshot, document_id=7, source=source, accounting=books)


def postings(entry, account: str) -> list:
    return [p for p in entry.postings if p.account == account]


def credit_note() -> InvoiceSnapshot:
    return cases.credit_note_snapshot(case("b2b"))


def oss_sale() -> InvoiceSnapshot:
    """The b2c case as an OSS distance sale to Germany (its goods bear German VAT)."""
    return case("b2c").model_copy(update={"taxing_country": "DE"})


# ----------------------------------------------------------------------------- entries


def test_invoice_debits_customers_with_its_total_and_credits_sales_and_vat() -> None:
    snap = case("b2c")
    sale = book(snap).sale
    assert sale is not None
    (customer,) = postings(sale, "411000")
    assert customer.debit == snap.totals.total_incl and customer.credit == 0
    assert sale.debit == sale.credit == snap.totals.total_incl
    vat = sum(p.credit for p in postings(sale, "445710"))
    assert vat == snap.totals.total_vat


def test_sales_are_split_by_kind_goods_services_and_shipping() -> None:
    sale = book(case("b2c")).sale
    assert sale is not None
    snap = case("b2c")
    goods = sum(ln.total_excl for ln in snap.lines if ln.kind == "product" and ln.nature == "goods")
    assert sum(p.credit for p in postings(sale, "707000")) == goods
    assert sum(p.credit for p in postings(sale, "706000")) == D("13.64")
    assert sum(p.credit for p in postings(sale, "708500")) == D("4.92")


def test_sales_have_one_posting_per_rate_saying_the_rate() -> None:
    sale = book(case("b2c")).sale
    assert sale is not None
    labels = sorted(p.label.rsplit(" ", 3)[-2] for p in postings(sale, "707000"))
    assert labels == ["2,1", "20", "5,5"]


def test_oss_vat_goes_to_its_own_account_services_stay_french() -> None:
    sale = book(oss_sale()).sale
    assert sale is not None
    oss = postings(sale, "445720")
    assert oss and all("OSS DE" in p.label for p in oss)
    french = postings(sale, "445710")
    assert [p.credit for p in french] == [D("1.36")]  # the 10 % service


def test_vat_account_per_rate_when_configured() -> None:
    books = AccountingConfig(accounts=AccountsConfig(vat_by_rate={"5.5": "445713"}))
    sale = book(case("b2c"), books=books).sale
    assert sale is not None
    assert sum(p.credit for p in postings(sale, "445713")) == D("2.34")


def test_payment_is_booked_on_its_day_and_lettered_with_the_invoice() -> None:
    snap = case("b2c")
    booked = book(snap)
    assert booked.money is not None and booked.sale is not None
    assert booked.money.day == snap.payment.paid_on
    bank, customers = booked.money.postings
    assert bank.account == "512000" and bank.debit == snap.totals.amount_paid
    (invoice_side,) = postings(booked.sale, "411000")
    assert customers.letter == invoice_side.letter == letter_code(7)
    assert booked.money.lettered_on == max(snap.issue_date, snap.payment.paid_on)


def test_payment_method_account_is_configurable() -> None:
    snap = case("b2c")
    books = AccountingConfig(
        accounts=AccountsConfig(payment_methods={snap.payment.method: "511500"})
    )
    money = book(snap, books=books).money
    assert money is not None and money.postings[0].account == "511500"


def test_credit_note_reverses_the_sides_and_its_refund_too() -> None:
    note = credit_note()
    booked = book(note, source="refund:1")
    assert booked.sale is not None and booked.money is not None
    (customer,) = postings(booked.sale, "411000")
    assert customer.credit == note.totals.total_incl and customer.debit == 0
    assert all(p.credit == 0 for p in booked.sale.postings if p.account != "411000")
    assert booked.money.postings[1].debit == note.totals.amount_paid
    assert booked.money.postings[0].credit == note.totals.amount_paid


@pytest.mark.parametrize("source", ["reissue:FA-2026-000001", "again:AV-2026-000001"])
def test_documents_whose_money_was_booked_elsewhere_get_no_receipt(source: str) -> None:
    booked = book(case("b2c"), source=source)
    assert booked.money is None
    assert booked.sale is not None and not any(p.letter for p in booked.sale.postings)


def test_free_order_books_nothing() -> None:
    snap = case("b2c").model_copy(update={"lines": [], "vat_breakdown": []})
    assert book(snap).sale is None


def test_negative_line_beyond_its_rate_goes_to_the_other_side() -> None:
    snap = case("b2c")
    discount = snap.lines[-1].model_copy(
        update={"kind": "fee", "total_excl": D("-10.00"), "vat_amount": D("-2.00")}
    )
    sale = book(snap.model_copy(update={"lines": [*snap.lines[:-1], discount]})).sale
    assert sale is not None
    assert sale.debit == sale.credit
    assert [p.debit for p in postings(sale, "708500")] == [D("10.00")]


def test_foreign_currency_is_booked_in_euros_with_the_amount_beside() -> None:
    snap = case("foreign_currency")
    sale = book(snap).sale
    assert sale is not None and snap.eur is not None
    (customer,) = postings(sale, "411000")
    assert customer.currency == "USD" and customer.in_currency == snap.totals.total_incl
    assert customer.debit == sale.credit
    vat_eur = sum(p.credit for p in postings(sale, "445710"))
    assert vat_eur == snap.eur.total_vat


def test_foreign_currency_without_euro_rate_is_refused_by_name() -> None:
    snap = case("foreign_currency")
    totals = snap.totals.model_copy(update={"shop_currency": "", "shop_currency_total_incl": None})
    snap = snap.model_copy(update={"eur": None, "totals": totals})
    with pytest.raises(NoEuroRate, match=f"{snap.number} is in USD"):
        book(snap)


def test_foreign_currency_without_ecb_rate_uses_the_platforms_euro_total() -> None:
    snap = case("foreign_currency")
    assert snap.totals.shop_currency_total_incl is not None
    sale = book(snap.model_copy(update={"eur": None})).sale
    assert sale is not None
    (customer,) = postings(sale, "411000")
    assert abs(customer.debit - snap.totals.shop_currency_total_incl) <= D("0.03")


def test_letter_codes_are_unique_letters() -> None:
    codes = [letter_code(n) for n in range(1, 2000)]
    assert len(set(codes)) == len(codes) and all(c.isalpha() for c in codes)
    assert (letter_code(1), letter_code(26), letter_code(27)) == ("A", "Z", "AA")


# ----------------------------------------------------------------------------- FEC form


def fec_text(snap: InvoiceSnapshot, books: AccountingConfig = BOOKS) -> bytes:
    booked = book(snap, books=books)
    separator = fec.SEPARATORS[books.fec_separator]
    lines = [fec.header(separator)]
    for entry in (booked.sale, booked.money):
        if entry is not None:
            lines.extend(fec.entry_lines(entry, separator, books.fec_encoding))
    return "".join(lines).encode(books.fec_encoding)


def test_fec_lines_have_18_fields_and_balance() -> None:
    lines = read_fec(fec_text(case("b2b")))
    assert len(lines) == 8 and unbalanced(lines) == []


def test_fec_amounts_use_a_decimal_comma_without_sign_or_thousands() -> None:
    assert fec.fec_amount(D("1234.5")) == "1234,50"
    assert fec.fec_amount(D("-3.10")) == "3,10"
    assert fec.fec_amount(D("0")) == "0,00"


def test_fec_file_is_named_siren_fec_closing_date() -> None:
    assert fec.fec_filename("732829320", date(2027, 6, 30)) == "732829320FEC20270630.txt"


@pytest.mark.parametrize("name", ["Dupont\tMarie", "A | B", "Jean\nPaul", "Line\u2028sep"])
def test_labels_lose_separators_and_line_breaks(name: str) -> None:
    snap = case("b2c")
    snap = snap.model_copy(update={"buyer": snap.buyer.model_copy(update={"name": name})})
    for separator in ("tab", "pipe"):
        books = AccountingConfig(fec_separator=separator)
        lines = read_fec(fec_text(snap, books), separator=fec.SEPARATORS[separator])
        assert unbalanced(lines) == []


def test_latin9_writes_an_unknown_character_as_its_letter_or_a_question_mark() -> None:
    assert fec.clean_label("Dvořák 😀 Ørsted €", "iso-8859-15") == "Dvorák ? Ørsted €"
    assert fec.clean_label("Dvořák 😀", "utf-8") == "Dvořák 😀"


# ----------------------------------------------------------------------------- journal


def test_journal_row_of_a_credit_note_is_negative_and_names_the_invoice() -> None:
    row = journal_row(credit_note())
    assert row.kind == "avoir" and row.total_incl < 0
    assert row.credited_number == case("b2b").number
    assert sum(row.base_by_rate.values()) == row.total_excl


def test_journal_has_a_base_and_a_vat_column_per_rate() -> None:
    rates = [D("20"), D("5.5")]
    header = journal_header(rates)
    assert header[10:14] == ["base_20", "tva_20", "base_5,5", "tva_5,5"]
    cells = journal_cells(journal_row(case("b2b")), rates)
    assert len(cells) == len(header) and cells[10] == "265,00" and cells[12] == "180,00"


# ----------------------------------------------------------------------------- numbering


def test_numbering_report_names_each_gap() -> None:
    report = NumberingReport()
    for seq in (1, 2, 5, 6, 9):
        report.add("FA", "2026", seq, f"FA-2026-{seq:06d}")
    (run,) = report.runs()
    assert run.gaps == [(3, 4), (7, 8)] and not report.intact
    assert "  MANQUANT : séquences 3 à 4" in report.lines()


def test_numbering_report_without_gap_is_intact_per_period() -> None:
    report = NumberingReport()
    for period, seq in (("2026", 41), ("2026", 42), ("2027", 1), ("2027", 2)):
        report.add("FA", period, seq, f"FA-{period}-{seq:06d}")
    assert report.intact and [run.count for run in report.runs()] == [2, 2]


def test_numbering_report_flags_a_number_out_of_order() -> None:
    report = NumberingReport()
    for seq in (1, 3, 2):
        report.add("FA", "2026", seq, f"FA-2026-{seq:06d}")
    assert report.runs()[0].out_of_order == ["FA-2026-000002"] and not report.intact


def test_numbering_report_tells_a_gap_without_anything_out_of_order() -> None:
    report = NumberingReport()
    for seq in (1, 2, 5):
        report.add("FA", "2026", seq, f"FA-2026-{seq:06d}")
    assert report.has_gaps and report.out_of_order == []


def test_numbering_report_tells_a_number_out_of_order_without_a_gap() -> None:
    report = NumberingReport()
    for series, seq in (("FA", 2), ("FA", 1), ("AV", 1)):
        report.add(series, "2026", seq, f"{series}-2026-{seq:06d}")
    assert not report.has_gaps and report.out_of_order == ["FA-2026-000001"]


# ----------------------------------------------------------------------------- e-reporting


def categories(snap: InvoiceSnapshot) -> list[str | None]:
    return [category_of(snap, line) for line in snap.lines]


def test_goods_and_their_shipping_are_tlb1_services_tps1() -> None:
    assert categories(case("b2c")) == ["TLB1", "TLB1", "TLB1", "TLB1", "TPS1", "TLB1"]


def test_oss_distance_sale_is_not_subject_to_french_vat() -> None:
    assert categories(oss_sale()) == ["TNT1", "TNT1", "TNT1", "TNT1", "TPS1", "TNT1"]


def test_export_outside_the_eu_is_tnt1() -> None:
    assert set(categories(case("export"))) == {"TNT1"}


def test_franchise_seller_reports_its_sales_at_zero() -> None:
    report = EReporting()
    report.add(case("franchise"))
    assert {g.category for g in report.groups()} == {"TLB1", "TPS1"}
    assert all(set(g.rates) == {D(0)} for g in report.groups())


def test_exempt_lines_under_art_261_are_left_out() -> None:
    snap = case("export")
    exempt = snap.model_copy(
        update={"legal": {"vat_exemption": "Exonération de TVA, art. 261-4-4° a du CGI"}}
    )
    report = EReporting()
    report.add(exempt)
    assert report.groups() == [] and report.left_out_lines == len(snap.lines)


def test_business_buyers_are_not_e_reported() -> None:
    report = EReporting()
    report.add(case("b2b"))
    assert report.groups() == []


def test_credit_note_counts_as_a_negative_transaction() -> None:
    invoice = case("b2c")
    note = credit_note().model_copy(
        update={"buyer": invoice.buyer, "issue_date": invoice.issue_date}
    )
    report = EReporting()
    report.add(invoice)
    report.add(note)
    goods = next(g for g in report.groups() if g.category == "TLB1")
    assert (goods.invoices, goods.credit_notes, goods.transactions) == (1, 1, 2)
    assert goods.base < sum(
        ln.total_excl for ln in invoice.lines if category_of(invoice, ln) == "TLB1"
    )


def test_vat_total_of_a_foreign_currency_day_is_in_euros() -> None:
    snap = case("foreign_currency")
    report = EReporting()
    report.add(snap)
    (group,) = report.groups()
    assert group.currency == "USD" and snap.eur is not None
    assert group.vat_eur == snap.eur.total_vat
    assert group.rates[D(20)].vat == snap.totals.total_vat


# ----------------------------------------------------------------------------- config


def test_closing_date_is_the_next_fiscal_year_end() -> None:
    books = AccountingConfig(fiscal_year_end="06-30")
    assert books.closing_date(date(2027, 6, 30)) == date(2027, 6, 30)
    assert books.closing_date(date(2027, 7, 1)) == date(2028, 6, 30)
    assert AccountingConfig().closing_date(date(2027, 1, 1)) == date(2027, 12, 31)


@pytest.mark.parametrize("value", ["02-29", "13-01", "31-12", "end"])
def test_fiscal_year_end_must_be_a_day_every_year_has(value: str) -> None:
    with pytest.raises(ValidationError, match="a day of every year as MM-DD"):
        AccountingConfig(fiscal_year_end=value)


@pytest.mark.parametrize("account", ["ABC", "41", "411 000", "0411"])
def test_account_numbers_start_with_a_class_digit(account: str) -> None:
    with pytest.raises(ValidationError, match="customers"):
        AccountsConfig(customers=account)


def test_vat_by_rate_keys_are_rates() -> None:
    with pytest.raises(ValidationError, match="VAT rates in percent"):
        AccountsConfig(vat_by_rate={"twenty": "445711"})


def test_store_credit_refund_goes_to_the_customers_credit_account_not_the_bank() -> None:
    note = credit_note()
    note = note.model_copy(
        update={"payment": note.payment.model_copy(update={"method": "store_credit"})}
    )
    money = book(note, source="refund:1").money
    assert money is not None and money.postings[0].account == "419100"


def test_a_payment_account_has_one_label_whatever_the_language() -> None:
    snap = case("b2c")
    books = AccountingConfig(
        accounts=AccountsConfig(payment_methods={snap.payment.method: "512100"})
    )
    labels = set()
    for printed in ("carte bancaire", "credit card"):
        payment = snap.payment.model_copy(update={"method_label": printed})
        money = book(snap.model_copy(update={"payment": payment}), books=books).money
        assert money is not None
        labels.add(money.postings[0].account_label)
    assert labels == {f"Encaissements {snap.payment.method}"}


@pytest.mark.parametrize("name", ['=HYPERLINK("x")', "+33 1", "-1", "@SUM(A1)"])
def test_journal_text_never_runs_as_a_spreadsheet_formula(name: str) -> None:
    snap = case("b2c")
    snap = snap.model_copy(update={"buyer": snap.buyer.model_copy(update={"name": name})})
    cells = journal_cells(journal_row(snap), [D(20)])
    assert cells[3] == "'" + name


def test_vat_in_euros_of_a_day_is_converted_rate_by_rate_like_the_document() -> None:
    snap = case("b2c")
    rate = D("0.8571")
    eur = {r: sum((ln.vat_amount for ln in snap.lines if ln.vat_rate == r), D(0)) for r in
           {ln.vat_rate for ln in snap.lines}}  # fmt: skip
    foreign = snap.model_copy(update={"currency": "USD", "eur": case("foreign_currency").eur})
    assert foreign.eur is not None
    foreign = foreign.model_copy(
        update={
            "eur": foreign.eur.model_copy(
                update={"exchange": foreign.eur.exchange.model_copy(update={"rate": rate})}
            )
        }
    )
    report = EReporting()
    report.add(foreign)
    expected = sum((cents(v / rate) for v in eur.values()), D(0))
    assert sum(g.vat_eur for g in report.groups()) == expected


def refund_by(method: str) -> InvoiceSnapshot:
    note = credit_note()
    return note.model_copy(update={"payment": note.payment.model_copy(update={"method": method})})


def test_refund_split_between_card_and_store_credit_books_no_refund_but_a_problem() -> None:
    booked = book(refund_by("Shopify Payments, store_credit"), source="refund:1")
    assert booked.money is None
    assert booked.problem.startswith(
        "AV-2026-000001: refund split across methods Shopify Payments, store_credit: "
        "book it by hand"
    )


def test_refund_split_between_card_and_store_credit_leaves_its_credit_note_unlettered() -> None:
    booked = book(refund_by("Shopify Payments, store_credit"), source="refund:1")
    assert booked.sale is not None and not any(p.letter for p in booked.sale.postings)
    assert unbalanced(read_fec(fec_text(refund_by("Shopify Payments, store_credit")))) == []


def test_refund_split_between_methods_of_one_account_is_booked_to_that_account() -> None:
    money = book(refund_by("Shopify Payments, PayPal"), source="refund:1").money
    assert money is not None and money.postings[0].account == "512000"


def test_split_refund_named_in_payment_methods_goes_to_that_account() -> None:
    method = "Shopify Payments, store_credit"
    books = AccountingConfig(accounts=AccountsConfig(payment_methods={method: "467000"}))
    money = book(refund_by(method), source="refund:1", books=books).money
    assert money is not None and money.postings[0].account == "467000"


def test_two_methods_on_one_account_give_it_one_label_naming_both() -> None:
    snap = case("b2c")
    books = AccountingConfig(
        accounts=AccountsConfig(payment_methods={"stripe": "512100", "paypal": "512100"})
    )
    labels = set()
    for method in ("stripe", "paypal"):
        payment = snap.payment.model_copy(update={"method": method})
        money = book(snap.model_copy(update={"payment": payment}), books=books).money
        assert money is not None and money.postings[0].account == "512100"
        labels.add(money.postings[0].account_label)
    assert labels == {"Encaissements paypal/stripe"}


def test_a_method_mapped_to_the_bank_account_is_labelled_bank() -> None:
    snap = case("b2c")
    books = AccountingConfig(accounts=AccountsConfig(payment_methods={"stripe": "512000"}))
    money = book(snap, books=books).money
    assert money is not None and money.postings[0].account_label == "Banque"
