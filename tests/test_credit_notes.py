"""Credit notes (avoirs) built from an issued invoice: pure, no store (bridge/invoicing/credit.py).

The invoices are the legal cases of `bridge/invoicing/cases.py`, issued with the real rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest

from bridge.invoicing import cases
from bridge.invoicing.build import Numbering, build_invoice
from bridge.invoicing.credit import (
    Credit,
    CreditNotIssuable,
    build_credit_note,
    credit_from_refund,
    lines_of_invoice,
    pro_rata,
    remaining_of,
    whole_invoice,
)
from bridge.invoicing.legal import check_invoice, is_rounding_line
from bridge.invoicing.snapshot import DocumentKind, InvoiceSnapshot
from bridge.model import LineKind, Refund, RefundLine, TaxLine

NOW = datetime.now(UTC)
AV = Numbering("AV", "AV-2026-000001", 1)


def invoice(case: str = "b2c") -> InvoiceSnapshot:
    return cases.case_snapshot(case, sequence=7)


def credit(
    original: InvoiceSnapshot, c: Credit, earlier: list[InvoiceSnapshot] | None = None
) -> InvoiceSnapshot:
    return build_credit_note(original, c, AV, issued_at=NOW, earlier=earlier or [])


def amount_only(amount: str, source: str = "refund:1") -> Credit:
    return Credit(source=source, amount=D(amount), at=NOW, reason="Geste commercial")


def test_credit_note_names_the_invoice_it_corrects_by_number_and_date() -> None:
    original = invoice()
    note = credit(original, amount_only("5.00"))
    assert note.kind is DocumentKind.credit_note
    assert (note.credited_number, note.credited_issue_date) == (
        "FA-2026-000007",
        original.issue_date,
    )
    assert (note.series, note.number) == ("AV", "AV-2026-000001")


def test_credit_note_passes_every_legal_rule() -> None:
    assert check_invoice(credit(invoice(), amount_only("5.00"))) == []


def test_credit_note_without_the_invoice_date_fails_the_reference_rule() -> None:
    note = credit(invoice(), amount_only("5.00")).model_copy(update={"credited_issue_date": None})
    assert [m.rule for m in check_invoice(note)] == ["credit_note_reference"]


def test_refunded_line_is_credited_with_its_own_vat() -> None:
    line = RefundLine(
        name="Théière",
        quantity=D(1),
        amount=D("36.00"),
        taxes=[TaxLine(rate=D(20), amount=D("7.20"))],
    )
    note = credit(invoice(), Credit("refund:1", D("43.20"), NOW, lines=[line]))
    assert [(ln.description, ln.total_excl, ln.vat_amount) for ln in note.lines] == [
        ("Théière", D("36.00"), D("7.20"))
    ]
    assert [(b.rate, b.base, b.amount) for b in note.vat_breakdown] == [
        (D(20), D("36.00"), D("7.20"))
    ]
    assert note.totals.total_incl == D("43.20")


def test_amount_only_refund_is_split_over_the_invoice_rates_pro_rata() -> None:
    original = invoice()
    parts = pro_rata(remaining_of(original, []), D("5.00"))
    assert sum(part for _, part, _ in parts) == D("5.00")
    assert [rate for rate, _, _ in parts] == [b.rate for b in original.vat_breakdown]
    whole = original.totals.total_incl
    largest = max(original.vat_breakdown, key=lambda b: b.base + b.amount)
    for (_rate, part, _vat), bucket in zip(parts, original.vat_breakdown, strict=True):
        if bucket is not largest:  # the largest share takes the cents of rounding
            assert part == (D("5.00") * (bucket.base + bucket.amount) / whole).quantize(D("0.01"))


def test_pro_rata_credit_note_adds_up_to_the_refund() -> None:
    note = credit(invoice(), amount_only("5.00"))
    t = note.totals
    assert (t.total_incl, t.total_excl + t.total_vat) == (D("5.00"), D("5.00"))
    assert sum(b.amount for b in note.vat_breakdown) == t.total_vat


def test_shipping_only_refund_credits_the_shipping_rate() -> None:
    ship = RefundLine(
        kind=LineKind.shipping, name="Livraison", amount=D("4.92"),
        taxes=[TaxLine(rate=D(20), amount=D("0.98"))],
    )  # fmt: skip
    note = credit(invoice(), Credit("refund:9", D("5.90"), NOW, lines=[ship]))
    assert [(ln.kind, ln.total_incl) for ln in note.lines] == [("shipping", D("5.90"))]


def test_credit_beyond_what_remains_is_refused() -> None:
    original = invoice()
    first = credit(original, amount_only(str(original.totals.total_incl - D("1.00"))))
    with pytest.raises(CreditNotIssuable, match="would exceed it"):
        credit(original, amount_only("1.01", "refund:2"), [first])


def test_credit_of_exactly_what_remains_is_issued_and_leaves_nothing_at_any_rate() -> None:
    original = invoice()
    first = credit(original, amount_only(str(original.totals.total_incl - D("1.00"))))
    last = credit(original, amount_only("1.00", "refund:2"), [first])
    assert last.totals.total_incl == D("1.00")
    left = remaining_of(original, [first, last])
    assert left.total == 0 and set(left.base.values()) == {D(0)} == set(left.vat.values())


def test_a_rate_credited_in_full_takes_no_more() -> None:
    original = invoice()
    twenty = [i + 1 for i, ln in enumerate(original.lines) if ln.vat_rate == 20]
    first = credit(
        original,
        Credit(
            "refund:1",
            sum(original.lines[i - 1].total_incl for i in twenty),
            NOW,
            lines=lines_of_invoice(original, [(i, None) for i in twenty]),
        ),
    )
    again = lines_of_invoice(original, [(twenty[0], None)])
    with pytest.raises(CreditNotIssuable, match="at 20 %"):
        credit(
            original, Credit("refund:2", again[0].amount + again[0].tax, NOW, lines=again), [first]
        )
    rest = credit(original, amount_only("5.00", "refund:3"), [first])
    assert 20 not in {b.rate for b in rest.vat_breakdown}


def test_refund_worth_less_than_the_lines_it_names_is_refused_with_the_remedy() -> None:
    line = RefundLine(name="Théière", quantity=D(1), amount=D("36.00"),
                      taxes=[TaxLine(rate=D(20), amount=D("7.20"))])  # fmt: skip
    with pytest.raises(CreditNotIssuable, match=r"--amount 40\.00"):
        credit(invoice(), Credit("refund:1", D("40.00"), NOW, lines=[line]))


def test_zero_credit_is_refused() -> None:
    with pytest.raises(CreditNotIssuable, match="not a positive amount"):
        credit(invoice(), amount_only("0"))


def test_refund_line_at_a_rate_the_invoice_never_charged_is_refused() -> None:
    line = RefundLine(name="X", amount=D("10"), taxes=[TaxLine(rate=D(13), amount=D("1.30"))])
    with pytest.raises(CreditNotIssuable, match="13 % VAT"):
        credit(invoice(), Credit("refund:1", D("11.30"), NOW, lines=[line]))


def test_a_credit_note_cannot_itself_be_credited() -> None:
    note = credit(invoice(), amount_only("5.00"))
    with pytest.raises(CreditNotIssuable, match="is a credit note"):
        credit(note, amount_only("1.00", "refund:2"))


def test_b2b_credit_note_keeps_the_b2b_mentions() -> None:
    original = invoice("b2b")
    note = credit(original, amount_only("10.00"))
    b2b = ("recovery_indemnity", "late_payment_penalties", "early_payment_discount")
    assert all(rule in original.legal for rule in b2b)
    assert {rule: note.legal[rule] for rule in b2b} == {r: original.legal[r] for r in b2b}
    assert [m for m in original.mentions if m in note.mentions] == original.mentions
    assert note.buyer == original.buyer and note.buyer.is_business


def test_foreign_currency_credit_note_states_its_vat_in_euros_at_the_invoice_rate() -> None:
    original = invoice("foreign_currency")
    assert original.eur is not None
    note = credit(original, amount_only("10.00"))
    assert note.currency == "USD" and note.eur is not None
    assert note.eur.exchange == original.eur.exchange
    assert note.eur.total_vat == sum(row.amount for row in note.eur.vat_by_rate)


def test_whole_invoice_credit_gives_back_every_line_exactly() -> None:
    original = invoice()
    lines = whole_invoice(original)
    note = credit(original, Credit("manual:1", original.totals.total_incl, NOW, lines=lines))
    assert note.vat_breakdown == original.vat_breakdown
    assert note.totals.total_incl == original.totals.total_incl


def test_some_units_of_a_line_are_credited_in_proportion() -> None:
    original = invoice()
    line = original.lines[1]  # the teapot, quantity 1 in the case: take it whole
    [picked] = lines_of_invoice(original, [(2, None)])
    assert (picked.amount, picked.tax) == (line.total_excl, line.vat_amount)


def test_a_line_number_beyond_the_invoice_is_refused_with_the_range() -> None:
    original = invoice()
    with pytest.raises(CreditNotIssuable, match=f"lines 1 to {len(original.lines)}"):
        lines_of_invoice(original, [(99, None)])


def test_refund_becomes_a_credit_keyed_by_its_platform_id() -> None:
    refund = Refund(
        refund_id="843", amount=D("12.50"), reason="Cassé", created_at=NOW, method="Stripe"
    )
    c = credit_from_refund(refund, fallback_at=NOW - timedelta(days=1))
    assert (c.source, c.amount, c.at, c.method, c.reference) == (
        "refund:843",
        D("12.50"),
        NOW,
        "Stripe",
        "843",
    )


def test_credit_note_records_the_refund_method_and_date() -> None:
    refund_day = NOW - timedelta(hours=2)
    note = credit(
        invoice(), Credit("refund:1", D("5.00"), refund_day, method="store_credit", reference="1")
    )
    assert (note.payment.paid_at, note.payment.method_label) == (refund_day, "avoir en boutique")
    assert note.totals.amount_paid == D("5.00")


def test_correction_without_money_back_pays_nothing_back() -> None:
    note = credit(invoice(), Credit("manual:1", D("5.00"), NOW, method="none"))
    assert note.totals.amount_paid == 0 and note.payment.method_label == ""


def rounded_invoice(by: str) -> InvoiceSnapshot:
    """The b2c invoice of an order whose platform total is `by` off its lines: a rounding line."""
    order = cases.case_order("b2c")
    order = order.model_copy(update={"total": order.total + D(by)})
    numbering = Numbering("FA", "FA-2026-000008", 8)
    return build_invoice(order, cases.case_seller("b2c"), numbering, issued_at=cases.ISSUED,
                         terms=cases.CASE_TERMS)  # fmt: skip


def test_whole_credit_of_an_invoice_with_a_negative_rounding_line_mirrors_it() -> None:
    original = rounded_invoice("-0.01")
    assert any(is_rounding_line(ln) and ln.total_incl < 0 for ln in original.lines)
    note = credit(original, Credit("manual:1", original.totals.total_incl, NOW,
                                   lines=whole_invoice(original)))  # fmt: skip
    assert note.totals.total_incl == original.totals.total_incl
    assert note.vat_breakdown == original.vat_breakdown


def test_a_partial_credit_takes_nothing_from_the_rounding_line() -> None:
    original = rounded_invoice("0.01")
    for amount in ("5.00", "7.77", "13.13"):
        note = credit(original, amount_only(amount))
        assert 0 not in {b.rate for b in note.vat_breakdown}, amount


def test_named_lines_beyond_a_rate_are_refused_even_when_the_amount_takes_everything() -> None:
    original = invoice()
    five = [i + 1 for i, ln in enumerate(original.lines) if ln.vat_rate == D("5.5")]
    twice = lines_of_invoice(original, [(i, None) for i in five + five])
    with pytest.raises(CreditNotIssuable, match=r"at 5\.5 %"):
        credit(original, Credit("refund:1", original.totals.total_incl, NOW, lines=twice))


def test_lines_a_cent_over_the_refund_give_one_cent_each_back() -> None:
    original = invoice()
    picked = lines_of_invoice(original, [(1, None), (2, None), (3, None)])
    worth = sum(ln.amount + ln.tax for ln in picked)
    note = credit(original, Credit("refund:1", worth - D("0.02"), NOW, lines=picked))
    assert note.totals.total_incl == worth - D("0.02")
    assert check_invoice(note) == []  # unit prices follow the trimmed totals
    assert [ln.total_excl for ln in note.lines] == [
        picked[0].amount,
        picked[1].amount - D("0.01"),
        picked[2].amount - D("0.01"),
    ]
