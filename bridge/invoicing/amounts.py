"""Money arithmetic and the consistency checks an order must pass before it is invoiced.

Pure functions. Rounding rule (documented for the accountant): every amount is rounded
ROUND_HALF_UP to the cent *per line*; totals are sums of rounded line amounts, never rounded
again. The platform's per-line tax amounts are the truth; we never recompute them, we only check
that they are plausible for the line's rate.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Protocol

from bridge.model import Line, LineKind, Order, TaxLine

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
    """Unit price excl. VAT before discount: subtotal / quantity, exact to four decimals
    (see `unit_price`)."""
    return unit_price(line.subtotal, line.quantity)


def unit_price(amount: Decimal, quantity: Decimal) -> Decimal:
    """`amount` / `quantity`, rounded ROUND_HALF_UP at the fourth decimal, then written with
    as few decimals as it needs but never fewer than two: 8.00, 0.125, 3.3333. A price that
    is whole cents keeps the two-decimal form every snapshot had before, so those print as
    they always did."""
    # Four decimals is the usual precision of unit prices on French invoices (fuel,
    # electricity, goods sold per litre, kWh or gram). It lets quantity × unit, rounded to the
    # cent, give back the line's subtotal (3 × 3,3333 € = 9,9999 € → 10,00 €) where a price
    # rounded to the cent cannot (3 × 3,33 € = 9,99 €): the rounding error per unit is at most
    # 0,00005 €, under half a cent for any quantity below 100. Line amounts stay to the cent.
    step = Decimal("0.0001")
    if quantity == 0:
        return cents(amount)
    unit = (amount / quantity).quantize(step, rounding=ROUND_HALF_UP)
    if unit == unit.quantize(CENT):
        return unit.quantize(CENT)
    return unit.normalize()


class Taxed(Protocol):
    @property
    def taxes(self) -> list[TaxLine]: ...


def line_rate(line: Taxed) -> Decimal:
    """The line's VAT rate: the sum of its taxes' (an order line's, a refund line's)."""
    return sum((t.rate for t in line.taxes), ZERO)


@dataclass(frozen=True)
class Inconsistency:
    """Why an order cannot be invoiced as sent; names the figures so the owner can check."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


# What a web order can really hold, checked before any arithmetic: a 31-digit price or a
# quantity of 1e999999 would raise in the middle of issuing, or take a number whose PDF can
# never be rendered. A billion in the order's currency, to the hundred-millionth (platforms
# keep unrounded taxes to 6 decimals at most); quantities up to a million, to the thousandth.
MAX_AMOUNT = Decimal(10) ** 9
MAX_AMOUNT_DECIMALS = 8
MAX_QUANTITY = Decimal(10) ** 6
MAX_QUANTITY_DECIMALS = 3
MAX_RATE = Decimal(100)
MAX_RATE_DECIMALS = 4


def check_magnitudes(order: Order) -> list[Inconsistency]:
    """Every amount, quantity and rate of the order within what a shop can really send."""
    problems = [
        _out_of_range(name, value, MAX_AMOUNT, MAX_AMOUNT_DECIMALS)
        for name, value in _order_amounts(order)
    ]
    for index, line in enumerate(order.lines):
        where = f"lines[{index}] ({line.name[:40]!r})"
        problems.append(
            _out_of_range(f"{where} quantity", line.quantity, MAX_QUANTITY, MAX_QUANTITY_DECIMALS)
        )
        for name, value in (("subtotal", line.subtotal), ("discount", line.discount)):
            problems.append(
                _out_of_range(f"{where} {name}", value, MAX_AMOUNT, MAX_AMOUNT_DECIMALS)
            )
        for tax in line.taxes:
            problems.append(
                _out_of_range(f"{where} VAT", tax.amount, MAX_AMOUNT, MAX_AMOUNT_DECIMALS)
            )
            problems.append(
                _out_of_range(f"{where} VAT rate", tax.rate, MAX_RATE, MAX_RATE_DECIMALS)
            )
    return [p for p in problems if p is not None]


def _order_amounts(order: Order) -> list[tuple[str, Decimal]]:
    amounts = [("total", order.total), ("total_tax", order.total_tax)]
    amounts += [(f"coupons[{i}]", c.amount) for i, c in enumerate(order.coupons)]
    amounts += [(f"refunds[{i}]", r.amount) for i, r in enumerate(order.refunds)]
    extra = (order.payment.amount, order.shop_currency_total, order.shop_currency_tax)
    names = ("payment.amount", "shop_currency_total", "shop_currency_tax")
    return amounts + [(n, v) for n, v in zip(names, extra, strict=True) if v is not None]


def _out_of_range(
    field: str, value: Decimal, limit: Decimal, decimals: int
) -> Inconsistency | None:
    value = Decimal(value)  # a copied model may hold an int where a Decimal was validated
    if value.is_finite() and abs(value) <= limit:
        exponent = value.normalize().as_tuple().exponent  # "12.50" has 1 decimal that counts
        if isinstance(exponent, int) and -exponent <= decimals:
            return None
    shown = str(value) if len(str(value)) <= 40 else str(value)[:39] + "…"
    return Inconsistency(
        field,
        f"{shown} is not a value a shop sends (at most {limit:,} with {decimals} decimals): "
        "check the order on the shop",
    )


def check_order(order: Order) -> list[Inconsistency]:
    """Every reason this order's figures do not add up (empty list = consistent)."""
    problems = check_magnitudes(order)
    if problems:  # no arithmetic on values that could overflow or mean nothing
        return problems
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
                f"{order.total} (difference {lines_total - order.total}, tolerance {tolerance})"
                " — fix the order's lines or total on the shop",
            )
        )
    if abs(lines_tax - order.total_tax) > tolerance:
        problems.append(
            Inconsistency(
                "total_tax",
                f"line taxes add up to {lines_tax} {order.currency} but the order says "
                f"{order.total_tax} (difference {lines_tax - order.total_tax}, "
                f"tolerance {tolerance}) — fix the order's taxes on the shop",
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
    if line.subtotal < 0:
        # A discount sent as its own line (a WooCommerce negative fee): only a fee may be
        # negative, without a discount of its own; its VAT is checked below like any line's.
        if line.kind is not LineKind.fee or line.discount != 0:
            problems.append(
                Inconsistency(
                    where,
                    f"negative subtotal {line.subtotal} (discount {line.discount}): only a "
                    "fee line without discount may be negative",
                )
            )
    elif line.discount < 0 or line.discount > line.subtotal:
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
                f"(expected {expected} ± {allowed}) — fix the line's tax on the shop",
            )
        )
    return problems
