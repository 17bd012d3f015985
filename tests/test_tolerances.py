"""How far an order's figures may be from exact, and no further: a cent per line's VAT
whatever the quantity, and ⌊n / 2⌋ cents (at most ten) on the totals for n taxed lines."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from bridge.invoicing.amounts import TOTAL_TOLERANCE_CAP, cents, check_order, total_tolerance
from bridge.model import Address, Line, Order, Party, Payment, TaxLine

D = Decimal
PAID_AT = datetime.now(UTC)


def line(excl: str, rate: str = "20", *, qty: str = "1", tax: str | None = None) -> Line:
    """A line excl. VAT; `tax` as the platform sent it (default: rate × base, to the cent)."""
    amount = D(tax) if tax is not None else cents(D(excl) * D(rate) / 100)
    return Line(
        name=f"Thé {excl}", quantity=D(qty), subtotal=D(excl),
        taxes=[TaxLine(rate=D(rate), amount=amount)],
    )  # fmt: skip


def order(lines: list[Line], *, short_by: str = "0", tax_short_by: str = "0") -> Order:
    """The order the platform sent: its totals are the lines' sums minus what it says."""
    incl = sum((cents(ln.total) + cents(ln.tax) for ln in lines), D(0))
    tax = sum((cents(ln.tax) for ln in lines), D(0))
    return Order(
        shop="t", order_id="1", created_at=PAID_AT,
        customer=Party(first_name="Ana", last_name="Silva", billing=Address(city="Paris")),
        lines=lines, total=incl - D(short_by), total_tax=tax - D(tax_short_by),
        payment=Payment(method="stripe", paid_at=PAID_AT, transaction_ref="ch_1"),
    )  # fmt: skip


def fields(o: Order) -> list[str]:
    return [problem.field.split(" ")[0] for problem in check_order(o)]


def test_a_line_s_vat_may_not_drift_a_cent_per_unit() -> None:
    # 1,000 × 0,10 € at 20 % is 20,00 € of VAT; 10,01 € used to pass as "20 %".
    wrong = order([line("100.00", qty="1000", tax="10.01")], short_by="9.99", tax_short_by="9.99")
    assert "lines[0]" in fields(wrong)


def test_a_line_s_vat_a_cent_off_the_exact_rate_passes() -> None:
    # 16,66 € at 20 % is 3,332 €: a platform that computed it from 19,99 € incl. says 3,33 or
    # 3,34 depending on where it rounds; both are its rounding, not a wrong rate.
    assert fields(order([line("16.66", tax="3.34")])) == []


def test_a_single_taxed_line_leaves_no_room_on_the_total() -> None:
    assert total_tolerance(order([line("10.00")])) == 0
    assert fields(order([line("10.00")], short_by="0.01")) == ["total"]


def test_tax_rounded_once_at_subtotal_passes_on_three_lines() -> None:
    # Three lines of 0,03 € at 20 %: 0,006 € each, rounded per line 0,01 € (0,03 in all), but
    # once on the order 0,018 → 0,02 €: a cent apart, which ⌊3 / 2⌋ = 1 cent allows.
    lines = [line("0.03"), line("0.03"), line("0.03")]
    assert fields(order(lines, short_by="0.01", tax_short_by="0.01")) == []


def test_an_order_short_by_more_than_its_rounding_is_refused() -> None:
    # 1,000 lines 9,50 € short used to pass with a −9,50 € "rounding" line.
    lines = [line("1.00") for _ in range(1000)]
    assert fields(order(lines, short_by="9.50")) == ["total"]


def test_the_totals_tolerance_stops_at_ten_cents() -> None:
    lines = [line("1.00") for _ in range(300)]
    assert total_tolerance(order(lines)) == TOTAL_TOLERANCE_CAP == D("0.10")
    assert fields(order(lines, short_by="0.10")) == []
    assert fields(order(lines, short_by="0.11")) == ["total"]


def test_untaxed_lines_give_no_rounding_room() -> None:
    free = [line("5.00", rate="0", tax="0") for _ in range(4)]
    assert total_tolerance(order(free)) == 0
