"""Money arithmetic and the consistency checks an order must pass before it is invoiced.

Pure functions. Rounding rule (documented for the accountant): every amount is rounded
ROUND_HALF_UP to the cent *per line*; totals are sums of rounded line amounts, never rounded
again. The platform's per-line tax amounts are the truth; we never recompute them, we only check
that they are plausible for the line's rate.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from bridge.model import Line, Order

CENT = Decimal("0.01")
ZERO = Decimal(0)
# A line's VAT is the platform's rounding of rate × base: within a cent of ours, whatever the
# quantity (a cent per unit would let 1,000 × 0,10 € carry 10,01 € of VAT as "20 %").
LINE_VAT_TOLERANCE = Decimal("0.01")
# A platform that rounds the order's tax once (at subtotal) instead of per line: each line's
# unrounded tax is within half a cent of its rounded value, so the two sums differ by less
# than 0,005 × (n + 1) for n taxed lines; both are whole cents, hence at most ⌊n / 2⌋ cents.
# Capped: a gap beyond ten cents is not rounding any platform produces on a real basket, but
# a wrong payload, and a person must look before anything is issued.
TOTAL_TOLERANCE_CAP = Decimal("0.10")


def total_tolerance(order: Order) -> Decimal:
    """How far the order's total (and total tax) may be from the sum of its lines."""
    taxed_lines = sum(1 for line in order.lines if line.tax)
    return min(CENT * (taxed_lines // 2), TOTAL_TOLERANCE_CAP)


def cents(amount: Decimal) -> Decimal:
    """Round half up to the cent (the French commercial rounding)."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def unit_price_excl(line: Line) -> Decimal:
    """Unit price excl. VAT before discount, rounded to the cent for display."""
    if line.quantity == 0:
        return cents(line.subtotal)
    return cents(line.subtotal / line.quantity)


def line_rate(line: Line) -> Decimal:
    return sum((t.rate for t in line.taxes), ZERO)


@dataclass(frozen=True)
class Inconsistency:
    """Why an order cannot be invoiced as sent; names the figures so the owner can check."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


def check_order(order: Order) -> list[Inconsistency]:
    """Every reason this order's figures do not add up (empty list = consistent)."""
    problems: list[Inconsistency] = []
    if not order.lines:
        problems.append(Inconsistency("lines", "the order has no line to invoice"))
    for index, line in enumerate(order.lines):
        problems.extend(_check_line(index, line))
    tolerance = total_tolerance(order)
    lines_total = sum((cents(ln.total) + cents(ln.tax) for ln in order.lines), ZERO)
    lines_tax = sum((cents(ln.tax) for ln in order.lines), ZERO)
    if abs(lines_total - order.total) > tolerance:
        problems.append(
            Inconsistency(
                "total",
                f"lines add up to {lines_total} {order.currency} incl. VAT but the order total is "
                f"{order.total} (difference {lines_total - order.total}, tolerance {tolerance})",
            )
        )
    if abs(lines_tax - order.total_tax) > tolerance:
        problems.append(
            Inconsistency(
                "total_tax",
                f"line taxes add up to {lines_tax} {order.currency} but the order says "
                f"{order.total_tax} (difference {lines_tax - order.total_tax}, "
                f"tolerance {tolerance})",
            )
        )
    if order.total < 0:
        problems.append(Inconsistency("total", f"negative order total {order.total}"))
    return problems


def _check_line(index: int, line: Line) -> list[Inconsistency]:
    where = f"lines[{index}] ({line.name!r})"
    problems: list[Inconsistency] = []
    if line.quantity <= 0:
        problems.append(Inconsistency(where, f"quantity {line.quantity} must be positive"))
    if line.discount < 0 or line.discount > line.subtotal:
        problems.append(
            Inconsistency(where, f"discount {line.discount} outside 0..subtotal {line.subtotal}")
        )
    for tax in line.taxes:
        if tax.rate < 0 or tax.rate > 100:
            problems.append(Inconsistency(where, f"VAT rate {tax.rate} % is not a percentage"))
    expected = cents(line.total * line_rate(line) / 100)
    allowed = LINE_VAT_TOLERANCE
    if abs(cents(line.tax) - expected) > allowed:
        problems.append(
            Inconsistency(
                where,
                f"VAT {line.tax} does not match {line_rate(line)} % of {line.total} "
                f"(expected {expected} ± {allowed})",
            )
        )
    return problems
