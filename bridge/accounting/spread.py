"""A credit note given as an amount ("Remboursement", spread over a rate) names no line of its
invoice; its books must still reverse the invoice's own accounts and e-reporting categories.
`spread` shares such a line's amounts over the invoice's lines at the same rate, in proportion
to their bases, to the cent (the largest share takes the rounding). Pure."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from decimal import ROUND_HALF_UP, Decimal
from typing import TypeVar

from bridge.invoicing.credit import is_pro_rata_line
from bridge.invoicing.snapshot import DocumentKind, InvoiceLine, InvoiceSnapshot

K = TypeVar("K", bound=Hashable)
ZERO = Decimal(0)
CENT = Decimal("0.01")


def booked_lines(
    snapshot: InvoiceSnapshot,
    credited: InvoiceSnapshot | None,
    key: Callable[[InvoiceSnapshot, InvoiceLine], K],
) -> list[tuple[K, InvoiceLine]]:
    """The document's lines keyed by `key` (an account, a category), a credit note's amount
    lines spread over its invoice's keys at their rate (`credited`: that invoice, when known)."""
    out: list[tuple[K, InvoiceLine]] = []
    for line in snapshot.lines:
        shares = _shares(snapshot, credited, line, key)
        if shares is None:
            out.append((key(snapshot, line), line))
        else:
            out.extend(shares)
    return out


def _shares(
    snapshot: InvoiceSnapshot,
    credited: InvoiceSnapshot | None,
    line: InvoiceLine,
    key: Callable[[InvoiceSnapshot, InvoiceLine], K],
) -> list[tuple[K, InvoiceLine]] | None:
    if (
        credited is None
        or snapshot.kind is not DocumentKind.credit_note
        or not is_pro_rata_line(line, snapshot.locale)
    ):
        return None
    bases: dict[K, Decimal] = {}
    vats: dict[K, Decimal] = {}
    for original in credited.lines:
        if original.vat_rate == line.vat_rate:
            k = key(credited, original)
            bases[k] = bases.get(k, ZERO) + original.total_excl
            vats[k] = vats.get(k, ZERO) + original.vat_amount
    if len(bases) < 2:
        return [(next(iter(bases)), line)] if bases else None
    # The VAT follows the invoice's VAT (its lines' VAT is rounded apart from their bases),
    # the base its bases; a rate of no VAT or no base at all, the other.
    excl = spread(line.total_excl, bases if any(bases.values()) else vats)
    vat = spread(line.vat_amount, vats if any(vats.values()) else bases)
    return [
        (k, line.model_copy(update={"total_excl": excl[k], "vat_amount": vat[k],
                                    "total_incl": excl[k] + vat[k]}))
        for k in bases
        if excl[k] or vat[k]  # a key given nothing is left out, not counted at 0
    ]  # fmt: skip


def spread(amount: Decimal, weights: dict[K, Decimal]) -> dict[K, Decimal]:
    """`amount` shared in proportion to `weights`, to the cent, the shares summing to `amount`
    exactly: the largest weight takes what rounding leaves. All weights zero: the first."""
    total = sum(weights.values(), ZERO)
    if total == ZERO:
        return {k: amount if n == 0 else ZERO for n, k in enumerate(weights)}
    shares = {k: (amount * w / total).quantize(CENT, ROUND_HALF_UP) for k, w in weights.items()}
    largest = max(weights, key=lambda k: abs(weights[k]))
    shares[largest] += amount - sum(shares.values(), ZERO)
    return shares
