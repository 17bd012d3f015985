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
# Platforms round per line (or per unit): one cent per line is the tolerance the law's
# "totals must add up" check is allowed; more than that means the payload is wrong.
TOLERANCE_PER_LINE = Decimal("0.01")


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
    n_lines = max(len(order.lines), 1)
    tolerance = TOLERANCE_PER_LINE * n_lines
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
    # Platforms that round per unit can drift by a cent per unit on multi-quantity lines.
    units = max(int(line.quantity.to_integral_value(rounding=ROUND_HALF_UP)), 1)
    allowed = TOLERANCE_PER_LINE * units
    if abs(cents(line.tax) - expected) > allowed:
        problems.append(
            Inconsistency(
                where,
                f"VAT {line.tax} does not match {line_rate(line)} % of {line.total} "
                f"(expected {expected} ± {allowed})",
            )
        )
    return problems
