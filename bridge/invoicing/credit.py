"""Invoice + what is credited → credit note (avoir) snapshot. Pure: no I/O, no clock.

A credit note corrects one issued invoice: it names it (number and date), states what it
gives back line by line with the VAT per rate, and the refund itself (method, date). Amounts
are stored positive; the document's kind says they are credited, and the PDF shows them
negative. What a refund gives back beyond the lines the platform names (an amount-only
refund, an order adjustment) is spread over the invoice's VAT rates in proportion to each
rate's share of the invoice, so the VAT credited follows the VAT charged.

The store calls `build_credit_note` under the credit series lock with the total already
credited on the invoice, so that two refunds racing can never credit more than was invoiced.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from bridge.invoicing.amounts import CENT, ZERO, Inconsistency, cents, line_rate, unit_price
from bridge.invoicing.build import Numbering, OrderNotInvoiceable, eur_conversion, local_date
from bridge.invoicing.legal import check_invoice, is_rounding_line, with_remedy
from bridge.invoicing.snapshot import (
    DocumentKind,
    InvoiceLine,
    InvoiceSnapshot,
    PaymentSnapshot,
    Totals,
    VatBucket,
)
from bridge.model import LineKind, Nature, Refund, RefundLine, TaxLine

# How the money went back when the platform names no gateway: printed on the avoir.
METHOD_LABELS = {
    "fr": {
        "": "moyen de paiement d'origine",
        "manual": "remboursement enregistré par la boutique",
        "store_credit": "avoir en boutique",
        "none": "",
    },
    "en": {
        "": "original payment method",
        "manual": "refund recorded by the shop",
        "store_credit": "store credit",
        "none": "",
    },
}


@dataclass(frozen=True)
class Credit:
    """What one credit note gives back, whatever asked for it (a platform refund, the owner's
    `quittance credit`). `amount` is the total incl. VAT; whatever `lines` do not explain is
    credited pro rata over the invoice's VAT rates. `method` "none": nothing is paid back (a
    correction that cancels the invoice, `--reissue`)."""

    source: str  # "refund:<platform id>" or "manual:<n>": one credit note per source
    amount: Decimal
    at: datetime  # when the money went back (or the correction was decided), UTC
    reason: str = ""
    method: str = ""
    reference: str = ""
    lines: list[RefundLine] = field(default_factory=list)


def credit_from_refund(refund: Refund, *, fallback_at: datetime) -> Credit:
    """A platform refund as a credit; `fallback_at` when the platform gave no date."""
    return Credit(
        source=f"refund:{refund.refund_id}",
        amount=refund.amount,
        at=refund.created_at or fallback_at,
        reason=refund.reason,
        method=refund.method,
        reference=refund.refund_id,
        lines=list(refund.lines),
    )


class CreditNotIssuable(OrderNotInvoiceable):
    """The credit note cannot be issued as asked; `problems` say why (nothing is numbered)."""


@dataclass(frozen=True)
class Remaining:
    """What is left to credit on an invoice once its credit notes are deducted: in all (incl.
    VAT) and per VAT rate (base and VAT), so no rate is ever credited beyond what it charged."""

    total: Decimal
    base: dict[Decimal, Decimal]
    vat: dict[Decimal, Decimal]

    @property
    def credited_out(self) -> bool:
        return self.total <= 0


def remaining_of(original: InvoiceSnapshot, notes: Sequence[InvoiceSnapshot]) -> Remaining:
    """`original` less its credit notes `notes`."""
    left = Remaining(
        total=original.totals.total_incl,
        base={b.rate.normalize(): b.base for b in original.vat_breakdown},
        vat={b.rate.normalize(): b.amount for b in original.vat_breakdown},
    )
    for note in notes:
        left = _less(left, note.vat_breakdown)
    return left


def credit_problems(
    original: InvoiceSnapshot, credit: Credit, left: Remaining
) -> list[Inconsistency]:
    """Why this credit cannot be issued against `original` as asked (empty = go on)."""
    if original.kind is not DocumentKind.invoice:
        return [Inconsistency("credit", f"{original.number} is a credit note, not an invoice")]
    problems: list[Inconsistency] = []
    if credit.amount <= 0:
        problems.append(Inconsistency("credit.amount", f"{credit.amount} is not a positive amount"))
    if credit.amount != cents(credit.amount):
        problems.append(Inconsistency("credit.amount", f"{credit.amount} is not whole cents"))
    if credit.amount > left.total:
        problems.append(
            Inconsistency(
                "credit.amount",
                f"crediting {credit.amount} {original.currency} on invoice {original.number} "
                f"would exceed it: {original.totals.total_incl - left.total} of its "
                f"{original.totals.total_incl} are credited already, {left.total} remain",
            )
        )
    for i, line in enumerate(credit.lines):
        rate = _line_rate(line)
        if rate not in left.base:
            rates = ", ".join(f"{_pct(r)} %" for r in sorted(left.base))
            problems.append(
                Inconsistency(
                    f"refund.lines[{i}]",
                    f"{line.name!r} is credited at {_pct(rate)} % VAT but invoice "
                    f"{original.number} charged only {rates}",
                )
            )
        mirrors_rounding = line.kind is LineKind.fee and not line.taxes  # an invoice's "Arrondi"
        if (line.amount < 0 and not mirrors_rounding) or line.tax < 0 or line.quantity < 0:
            problems.append(
                Inconsistency(f"refund.lines[{i}]", f"{line.name!r} has a negative amount")
            )
    return problems


def _beyond_rates(original: InvoiceSnapshot, breakdown: list[VatBucket], left: Remaining
                  ) -> list[Inconsistency]:  # fmt: skip
    """A rate credited beyond what it charged (a line refunded twice, all of one rate then
    "the rest"): refused. A cent of rounding per rate is let through (one unit of three,
    credited three times, carries its VAT rounded each time)."""
    out = []
    for bucket in breakdown:
        rate = bucket.rate.normalize()
        base_left, vat_left = left.base.get(rate, ZERO), left.vat.get(rate, ZERO)
        if bucket.base > base_left + CENT or bucket.amount > vat_left + CENT:
            out.append(
                Inconsistency(
                    f"credit.vat[{_pct(rate)}]",
                    f"crediting {bucket.base} + {bucket.amount} VAT at {_pct(rate)} % on invoice "
                    f"{original.number} would exceed what it charged at that rate: "
                    f"{base_left} + {vat_left} VAT remain",
                )
            )
    return out


def build_credit_note(
    original: InvoiceSnapshot,
    credit: Credit,
    numbering: Numbering,
    *,
    issued_at: datetime,
    earlier: Sequence[InvoiceSnapshot] = (),
) -> InvoiceSnapshot:
    """The snapshot of the credit note `credit` makes on `original`, whose credit notes so far
    are `earlier`. The seller, buyer, VAT situation and mentions are the invoice's: the credit
    note corrects that document, between the same parties under the same rules.

    Raises `CreditNotIssuable` when it would credit more than remains of the invoice (in all
    or at one VAT rate), at a rate the invoice did not charge, when the lines it names are
    worth more than the money given back, or when the document would miss a mention."""
    left = remaining_of(original, earlier)
    problems = credit_problems(original, credit, left)
    if problems:
        raise CreditNotIssuable(problems)
    lines = credited_lines(original, credit, left)
    breakdown = _breakdown(lines)
    problems = _beyond_rates(original, breakdown, left)
    if problems:
        raise CreditNotIssuable(problems)
    snapshot = original.model_copy(
        update={
            "kind": DocumentKind.credit_note,
            "series": numbering.series,
            "number": numbering.number,
            "sequence": numbering.sequence,
            "issued_at": issued_at,
            "issue_date": local_date(issued_at, original.timezone),
            "lines": lines,
            "vat_breakdown": breakdown,
            "eur": eur_conversion(
                original.currency, breakdown, original.eur.exchange if original.eur else None
            ),
            "totals": _totals(lines, paid_back=ZERO if credit.method == "none" else credit.amount),
            "payment": _refund_payment(credit, original),
            "credited_number": original.number,
            "credited_issue_date": original.issue_date,
            "credit_reason": credit.reason.strip(),
            "operation_date": None,
        }
    )
    missing = check_invoice(snapshot)
    if missing:
        raise CreditNotIssuable(
            [Inconsistency(f"mention {x.rule}", with_remedy(x)) for x in missing], missing
        )
    return snapshot


def credited_lines(original: InvoiceSnapshot, credit: Credit, left: Remaining) -> list[InvoiceLine]:
    """The credit note's lines: those the credit names, then what they leave of its amount as
    one line per VAT rate (pro rata of what remains at each rate; all of it when the credit
    takes everything left)."""
    lines = [_credited_line(ln) for ln in credit.lines]
    problems = _beyond_rates(original, _breakdown(lines), left)
    if problems:  # the named lines alone already credit a rate beyond what it charged
        raise CreditNotIssuable(problems)
    remainder = credit.amount - sum((ln.total_incl for ln in lines), ZERO)
    if remainder < -CENT * len(lines):
        named = credit.amount - remainder
        raise CreditNotIssuable(
            [
                Inconsistency(
                    "refund.lines",
                    f"the refund gives back {credit.amount} but the lines it names are worth "
                    f"{named}: credit what was given back by hand, `quittance credit "
                    f"{original.number} --amount {credit.amount} --reason …`",
                )
            ]
        )
    if remainder < 0:
        return _cents_back(lines, -remainder)
    if remainder > 0:
        # Spread over what the named lines leave at each rate, not over the whole invoice: a
        # rate they credited in full takes nothing more. A rounding line's 0 % takes nothing
        # of a part; it goes only when everything left is credited.
        after = _less(left, _breakdown(lines))
        if remainder == after.total:
            parts = _all_that_remains(after)
        else:
            parts = pro_rata(after, remainder, skip=_rounding_rates(original))
        lines += _remainder_lines(original, parts)
    return lines


def _cents_back(lines: list[InvoiceLine], cents_over: Decimal) -> list[InvoiceLine]:
    """The platform rounded each line up: a cent off each line, from the last, until the
    lines give back exactly what was refunded (at most a cent a line, checked before)."""
    out = list(lines)
    index = len(out) - 1
    while cents_over > 0:
        line = out[index]
        total_excl = line.total_excl - CENT
        out[index] = line.model_copy(
            update={
                "total_excl": total_excl,
                "total_incl": line.total_incl - CENT,
                "unit_price_excl": unit_price(total_excl, line.quantity),
            }
        )
        cents_over -= CENT
        index -= 1
    return out


def _rounding_rates(original: InvoiceSnapshot) -> set[Decimal]:
    """The rates whose only lines are rounding lines (the 0 % "Arrondi" of an invoice)."""
    rates: dict[Decimal, bool] = {}
    for line in original.lines:
        rate = line.vat_rate.normalize()
        rates[rate] = rates.get(rate, True) and is_rounding_line(line)
    return {rate for rate, only in rates.items() if only}


def _less(left: Remaining, buckets: list[VatBucket]) -> Remaining:
    base, vat = dict(left.base), dict(left.vat)
    for bucket in buckets:
        rate = bucket.rate.normalize()
        base[rate] = base.get(rate, ZERO) - bucket.base
        vat[rate] = vat.get(rate, ZERO) - bucket.amount
    return Remaining(total=left.total - sum((b.base + b.amount for b in buckets), ZERO),
                     base=base, vat=vat)  # fmt: skip


def _totals(lines: list[InvoiceLine], *, paid_back: Decimal) -> Totals:
    total_excl = sum((ln.total_excl for ln in lines), ZERO)
    total_vat = sum((ln.vat_amount for ln in lines), ZERO)
    return Totals(
        discount_excl=ZERO,
        total_excl=total_excl,
        total_vat=total_vat,
        total_incl=total_excl + total_vat,
        amount_paid=paid_back,
        amount_due=ZERO,
    )


def _refund_payment(credit: Credit, original: InvoiceSnapshot) -> PaymentSnapshot:
    return PaymentSnapshot(
        method=credit.method,
        method_label=method_label(credit.method, original.locale),
        paid_at=credit.at,
        paid_on=local_date(credit.at, original.timezone),
        reference=credit.reference,
    )


def method_label(method: str, locale: str) -> str:
    """The refund method as printed: a gateway's own name, or our words for the codes."""
    labels = METHOD_LABELS.get(locale, METHOD_LABELS["en"])
    if "," in method:  # the money went back several ways: "Shopify Payments, store_credit"
        return ", ".join(labels.get(part.strip(), part.strip()) for part in method.split(","))
    return labels.get(method, method)


def _line_rate(line: RefundLine) -> Decimal:
    return line_rate(line).normalize() if line.taxes else ZERO


def _credited_line(line: RefundLine) -> InvoiceLine:
    quantity = line.quantity if line.quantity > 0 else Decimal(1)
    total_excl = cents(line.amount)
    vat = cents(line.tax)
    unit = unit_price(line.amount, quantity)
    return InvoiceLine(
        kind=line.kind.value,
        description=line.name,
        sku=line.sku,
        quantity=quantity,
        unit_price_excl=unit,
        total_excl=total_excl,
        vat_rate=_line_rate(line),
        vat_amount=vat,
        total_incl=total_excl + vat,
        nature=line.nature.value,
    )


def pro_rata(
    left: Remaining, amount: Decimal, *, skip: set[Decimal] | None = None
) -> list[tuple[Decimal, Decimal, Decimal]]:
    """`amount` (incl. VAT) split over the VAT rates in proportion to what remains at each
    (but `skip`): [(rate, part incl. VAT, its VAT)], the parts summing to `amount` exactly (the
    largest share takes the rounding). Each part's VAT is what the rate gives on it."""
    rates = [
        r
        for r in sorted(left.base, key=lambda r: left.base[r] + left.vat[r])
        if left.base[r] + left.vat[r] > 0 and r not in (skip or set())
    ]
    whole = sum((left.base[r] + left.vat[r] for r in rates), ZERO)
    if not rates or whole <= 0:
        return [(ZERO, amount, ZERO)]
    # The largest share last: it takes the rounding, the smallest rate's share stays exact.
    parts = []
    rest = amount
    for rate in rates[:-1]:
        part = cents(amount * (left.base[rate] + left.vat[rate]) / whole)
        parts.append((rate, part, part - cents(part * 100 / (100 + rate))))
        rest -= part
    last = rates[-1]
    parts.append((last, rest, rest - cents(rest * 100 / (100 + last))))
    return sorted(parts, key=lambda part: part[0], reverse=True)


def _all_that_remains(left: Remaining) -> list[tuple[Decimal, Decimal, Decimal]]:
    """Everything left at each rate, exactly (no proportion to round). A rate left below zero
    (a line credited a cent over) was refused before; one at zero gives nothing."""
    return [
        (rate, left.base[rate] + left.vat[rate], left.vat[rate])
        for rate in sorted(left.base, reverse=True)
        if left.base[rate] + left.vat[rate] != 0
    ]


def _remainder_lines(
    original: InvoiceSnapshot, parts: list[tuple[Decimal, Decimal, Decimal]]
) -> list[InvoiceLine]:
    """One line per (rate, amount incl. VAT, VAT), each taking the nature of the invoice's
    lines at that rate."""
    rounding = _rounding_rates(original)
    several = len([b for b in original.vat_breakdown if b.rate.normalize() not in rounding]) > 1
    out = []
    for rate, incl, vat in parts:
        if incl == 0:
            continue
        nature = next((ln.nature for ln in original.lines if ln.vat_rate == rate), "goods")
        out.append(
            InvoiceLine(
                kind="fee",
                description=_pro_rata_label(rate, original.locale, several),
                quantity=Decimal(1),
                unit_price_excl=incl - vat,
                total_excl=incl - vat,
                vat_rate=rate,
                vat_amount=vat,
                total_incl=incl,
                nature=nature,
            )
        )
    return out


def _pct(rate: Decimal) -> str:
    """20, 5.5: a rate as people write it (not 2E+1)."""
    return f"{rate.normalize():f}"


def is_pro_rata_line(line: InvoiceLine, locale: str) -> bool:
    """Whether a credit note's line is an amount spread over a rate (`_remainder_lines`)
    rather than a line of the invoice credited: its books follow the invoice's own lines."""
    return line.kind == "fee" and line.description in (
        _pro_rata_label(line.vat_rate, locale, several) for several in (False, True)
    )


def _pro_rata_label(rate: Decimal, locale: str, several: bool) -> str:
    """ "Remboursement", and its rate when the invoice has several: "(TVA 5,5 %)"."""
    label = "Remboursement" if locale == "fr" else "Refund"
    if not several:
        return label
    shown = _pct(rate)
    return (
        f"{label} (TVA {shown.replace('.', ',')} %)"
        if locale == "fr"
        else f"{label} (VAT {shown} %)"
    )


def _breakdown(lines: list[InvoiceLine]) -> list[VatBucket]:
    base: dict[Decimal, Decimal] = defaultdict(lambda: ZERO)
    amount: dict[Decimal, Decimal] = defaultdict(lambda: ZERO)
    for line in lines:
        rate = line.vat_rate.normalize() if line.vat_rate else ZERO
        base[rate] += line.total_excl
        amount[rate] += line.vat_amount
    return [
        VatBucket(rate=rate, base=base[rate], amount=amount[rate])
        for rate in sorted(base, reverse=True)
    ]


def lines_of_invoice(
    original: InvoiceSnapshot, picks: list[tuple[int, Decimal | None]]
) -> list[RefundLine]:
    """Lines of `original` to credit, by their position on the document (1 = first) and a
    quantity (None = the whole line): the owner's `quittance credit --lines 2:1,3`."""
    out = []
    for position, quantity in picks:
        if not 1 <= position <= len(original.lines):
            raise CreditNotIssuable(
                [
                    Inconsistency(
                        "--lines",
                        f"invoice {original.number} has lines 1 to {len(original.lines)}, "
                        f"not {position}",
                    )
                ]
            )
        line = original.lines[position - 1]
        share = Decimal(1) if quantity is None else quantity / line.quantity
        if quantity is not None and not 0 < quantity <= line.quantity:
            raise CreditNotIssuable(
                [
                    Inconsistency(
                        "--lines",
                        f"line {position} ({line.description}) has quantity {line.quantity}: "
                        f"cannot credit {quantity}",
                    )
                ]
            )
        out.append(_refund_line_of(line, share))
    return out


def whole_invoice(original: InvoiceSnapshot) -> list[RefundLine]:
    """Every line of `original`, in full (a credit note that cancels the invoice)."""
    return [_refund_line_of(line, Decimal(1)) for line in original.lines]


def _refund_line_of(line: InvoiceLine, share: Decimal) -> RefundLine:
    vat = cents(line.vat_amount * share)
    return RefundLine(
        kind=LineKind(line.kind),
        name=line.description,
        sku=line.sku,
        quantity=line.quantity * share,
        amount=cents(line.total_excl * share),
        taxes=[TaxLine(rate=line.vat_rate, amount=vat)] if line.vat_rate or vat else [],
        nature=Nature(line.nature),
    )
