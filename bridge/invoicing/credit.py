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
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from bridge.invoicing.amounts import CENT, ZERO, Inconsistency, cents
from bridge.invoicing.build import Numbering, OrderNotInvoiceable, eur_conversion, local_date
from bridge.invoicing.legal import check_invoice, with_remedy
from bridge.invoicing.snapshot import (
    DocumentKind,
    InvoiceLine,
    InvoiceSnapshot,
    PaymentSnapshot,
    SellerSnapshot,
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


def remaining_creditable(original: InvoiceSnapshot, already_credited: Decimal) -> Decimal:
    return original.totals.total_incl - already_credited


def credit_problems(
    original: InvoiceSnapshot, credit: Credit, already_credited: Decimal
) -> list[Inconsistency]:
    """Why this credit cannot be issued against `original` (empty = go on)."""
    if original.kind is not DocumentKind.invoice:
        return [Inconsistency("credit", f"{original.number} is a credit note, not an invoice")]
    problems: list[Inconsistency] = []
    if credit.amount <= 0:
        problems.append(Inconsistency("credit.amount", f"{credit.amount} is not a positive amount"))
    if credit.amount != cents(credit.amount):
        problems.append(Inconsistency("credit.amount", f"{credit.amount} is not whole cents"))
    left = remaining_creditable(original, already_credited)
    if credit.amount > left:
        problems.append(
            Inconsistency(
                "credit.amount",
                f"crediting {credit.amount} {original.currency} on invoice {original.number} "
                f"would exceed it: {already_credited} of its {original.totals.total_incl} are "
                f"credited already, {left} remain",
            )
        )
    invoiced = {b.rate for b in original.vat_breakdown}
    for i, line in enumerate(credit.lines):
        rate = _line_rate(line)
        if rate not in invoiced:
            rates = ", ".join(f"{r} %" for r in sorted(invoiced))
            problems.append(
                Inconsistency(
                    f"refund.lines[{i}]",
                    f"{line.name!r} is credited at {rate} % VAT but invoice {original.number} "
                    f"charged only {rates}: fix the refund's taxes on the shop",
                )
            )
        if line.amount < 0 or line.tax < 0 or line.quantity < 0:
            problems.append(
                Inconsistency(f"refund.lines[{i}]", f"{line.name!r} has a negative amount")
            )
    return problems


def build_credit_note(
    original: InvoiceSnapshot,
    credit: Credit,
    numbering: Numbering,
    *,
    seller: SellerSnapshot,
    issued_at: datetime,
    already_credited: Decimal,
) -> InvoiceSnapshot:
    """The snapshot of the credit note `credit` makes on `original`.

    Raises `CreditNotIssuable` when it would credit more than remains of the invoice, at a
    VAT rate the invoice did not charge, or when the document would miss a mention."""
    problems = credit_problems(original, credit, already_credited)
    if problems:
        raise CreditNotIssuable(problems)
    locale = original.locale
    lines = [_credited_line(ln) for ln in credit.lines]
    remainder = credit.amount - sum((ln.total_incl for ln in lines), ZERO)
    if remainder:
        lines += _pro_rata_lines(original, remainder, locale)
    breakdown = _breakdown(lines)
    total_excl = sum((ln.total_excl for ln in lines), ZERO)
    total_vat = sum((ln.vat_amount for ln in lines), ZERO)
    paid_back = ZERO if credit.method == "none" else credit.amount
    snapshot = original.model_copy(
        update={
            "kind": DocumentKind.credit_note,
            "series": numbering.series,
            "number": numbering.number,
            "sequence": numbering.sequence,
            "issued_at": issued_at,
            "issue_date": local_date(issued_at, original.timezone),
            "seller": seller,
            "lines": lines,
            "vat_breakdown": breakdown,
            "eur": eur_conversion(
                original.currency, breakdown, original.eur.exchange if original.eur else None
            ),
            "totals": Totals(
                discount_excl=ZERO,
                total_excl=total_excl,
                total_vat=total_vat,
                total_incl=total_excl + total_vat,
                amount_paid=paid_back,
                amount_due=ZERO,
            ),
            "payment": PaymentSnapshot(
                method=credit.method,
                method_label=method_label(credit.method, locale),
                paid_at=credit.at,
                paid_on=local_date(credit.at, original.timezone),
                reference=credit.reference,
            ),
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


def method_label(method: str, locale: str) -> str:
    """The refund method as printed: a gateway's own name, or our words for the codes."""
    labels = METHOD_LABELS.get(locale, METHOD_LABELS["en"])
    return labels.get(method, method)


def _line_rate(line: RefundLine) -> Decimal:
    return sum((t.rate for t in line.taxes), ZERO).normalize() if line.taxes else ZERO


def _credited_line(line: RefundLine) -> InvoiceLine:
    quantity = line.quantity if line.quantity > 0 else Decimal(1)
    total_excl = cents(line.amount)
    vat = cents(line.tax)
    unit = (line.amount / quantity).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)
    unit = unit.quantize(CENT) if unit == unit.quantize(CENT) else unit.normalize()
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


def pro_rata(original: InvoiceSnapshot, amount: Decimal) -> list[tuple[Decimal, Decimal]]:
    """`amount` (incl. VAT) split over the invoice's VAT rates in proportion to each rate's
    share of its total incl. VAT: [(rate, part incl. VAT)], the parts summing to `amount`
    exactly (the last rate takes the rounding)."""
    buckets = [b for b in original.vat_breakdown if b.base + b.amount != 0]
    whole = sum((b.base + b.amount for b in buckets), ZERO)
    if not buckets or whole == 0:
        return [(ZERO, amount)]
    parts: list[tuple[Decimal, Decimal]] = []
    left = amount
    for bucket in buckets[:-1]:
        part = cents(amount * (bucket.base + bucket.amount) / whole)
        parts.append((bucket.rate, part))
        left -= part
    parts.append((buckets[-1].rate, left))
    return parts


def _pro_rata_lines(original: InvoiceSnapshot, amount: Decimal, locale: str) -> list[InvoiceLine]:
    label = "Remboursement" if locale == "fr" else "Refund"
    multi = len(original.vat_breakdown) > 1
    out = []
    for rate, incl in pro_rata(original, amount):
        if incl == 0:
            continue
        excl = cents(incl * 100 / (100 + rate))
        rate_text = f"{rate.normalize():f}".replace(".", "," if locale == "fr" else ".")
        what = f"{label} (TVA {rate_text} %)" if multi and locale == "fr" else label
        if multi and locale != "fr":
            what = f"{label} (VAT {rate_text} %)"
        out.append(
            InvoiceLine(
                kind="fee",
                description=what,
                quantity=Decimal(1),
                unit_price_excl=excl,
                total_excl=excl,
                vat_rate=rate,
                vat_amount=incl - excl,
                total_incl=incl,
                nature=original.lines[0].nature if original.lines else "goods",
            )
        )
    return out


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
