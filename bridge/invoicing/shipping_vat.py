"""Does shipping carry the VAT of the goods it delivers? A check that alerts, never refuses.

Pure. Delivery is accessory to the sale, so its VAT follows the goods (CGI art. 267 I-2°;
BOI-TVA-BASE-10-10-10): the goods' single rate; over several rates, either pro rata of the
goods' bases or, as the administration accepts, the highest of them. A shipping line that
matches none of these is not refused — the invoice shows what the customer was charged, and
only the owner can correct their shop's shipping tax class — but the owner is told, with the
figures, because the VAT declared on it is then wrong.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from bridge.invoicing.amounts import CENT, ZERO, cents
from bridge.model import Line, LineKind, Order


def goods_bases(order: Order) -> dict[Decimal, Decimal]:
    """Base excl. VAT per rate of the goods (products, not shipping or fees)."""
    bases: dict[Decimal, Decimal] = defaultdict(lambda: ZERO)
    for line in order.lines:
        if line.kind is LineKind.product and line.total > 0:
            bases[_rate(line)] += line.total
    return dict(bases)


def shipping_vat_notes(order: Order) -> list[str]:
    """One sentence per shipping line whose VAT follows neither the goods' main (or highest)
    rate nor their pro rata; empty when shipping is taxed as the goods are."""
    bases = goods_bases(order)
    if not bases:
        return []
    notes = []
    for line in order.lines:
        if line.kind is LineKind.shipping and line.total > 0 and not _follows(line, bases):
            notes.append(_note(line, bases, order.currency))
    return notes


def _rate(line: Line) -> Decimal:
    return _plain(sum((t.rate for t in line.taxes), ZERO))


def _plain(rate: Decimal) -> Decimal:
    """20.00 → 20 and 5.50 → 5.5, never 2E+1: rates are dictionary keys and printed."""
    return Decimal(format(rate.normalize(), "f"))


def _follows(line: Line, bases: dict[Decimal, Decimal]) -> bool:
    charged = _rate(line)
    main = max(bases, key=lambda rate: bases[rate])
    if len(line.taxes) <= 1 and charged in (main, max(bases)):
        return abs(cents(line.tax) - cents(line.total * charged / 100)) <= CENT
    return _is_pro_rata(line, bases)


def _pro_rata(line: Line, bases: dict[Decimal, Decimal]) -> dict[Decimal, Decimal]:
    """The shipping VAT per rate when shipping is split like the goods' bases."""
    total = sum(bases.values(), ZERO)
    return {rate: line.total * base / total * rate / 100 for rate, base in bases.items() if rate}


def _is_pro_rata(line: Line, bases: dict[Decimal, Decimal]) -> bool:
    expected = _pro_rata(line, bases)
    charged: dict[Decimal, Decimal] = defaultdict(lambda: ZERO)
    for tax in line.taxes:
        if tax.amount or tax.rate:
            charged[_plain(tax.rate)] += tax.amount
    if set(charged) != set(expected):
        return False
    return all(abs(cents(charged[r]) - cents(expected[r])) <= CENT for r in expected)


def _note(line: Line, bases: dict[Decimal, Decimal], currency: str) -> str:
    main = max(bases, key=lambda rate: bases[rate])
    pro_rata = ", ".join(
        f"{cents(amount)} at {rate} %" for rate, amount in sorted(_pro_rata(line, bases).items())
    )
    expected = f"{cents(line.total * main / 100)} {currency} at the goods' {main} %"
    if len(bases) > 1:
        expected += f", or pro rata {pro_rata or '0.00'}, or {max(bases)} % (the highest)"
    return (
        f"shipping {line.name!r} ({line.total} {currency} excl. VAT) carries {line.tax} "
        f"{currency} of VAT at {_rate(line)} %, but its VAT follows the goods: expected "
        f"{expected}. The invoice shows what was charged; set the shipping tax class on the "
        'shop (WooCommerce: Settings → Tax → Shipping tax class "based on cart items")'
    )
