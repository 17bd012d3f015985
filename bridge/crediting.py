"""Corrections: credit notes (avoirs) for refunds and for the owner's `quittance credit`,
an invoice issued again for a buyer whose details were wrong, and the refunds the shop no
longer shows. Orchestrates store and invoicing like `bridge.pipeline` does for invoices.

    issue_credit      invoice + Credit → credit note numbered in its own series, with its
                      follow-up jobs (render, email, attach) in the same transaction; or
                      refused (`CreditNotIssuable`: it would credit more than remains…)
    reissue_invoice   a fully credited invoice → a new invoice of the same order, read again,
                      with what earlier credit notes gave back credited on it again
    note_deleted_refunds  the order's credited refunds the shop no longer lists → owner told
    reconcile_deleted_refunds  the daily pass reading again the orders refunded lately
    predates_quittance    a refunded order paid before Quittance ran for the shop
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog

from bridge.failures import StepError, TransientStepError
from bridge.invoicing.amounts import Inconsistency
from bridge.invoicing.build import IssueFacts, Numbering, local_date
from bridge.invoicing.credit import Credit, CreditNotIssuable, build_credit_note, whole_invoice
from bridge.invoicing.snapshot import DocumentKind, InvoiceSnapshot
from bridge.model import Order
from bridge.pipeline import AcceptResult, accept_order
from bridge.services import Services, alert_owner
from bridge.store import FollowUp, InvoiceRecord, IssueResult

log = structlog.get_logger()


def issue_credit(
    svc: Services, original: InvoiceRecord, credit: Credit, *, then: Sequence[FollowUp]
) -> IssueResult:
    """Number and freeze the credit note `credit` makes on `original` (idempotent per
    `credit.source` on the order). Raises `CreditNotIssuable` with the reasons; nothing is
    numbered then."""
    numbering_cfg = svc.settings.numbering.for_credit_notes()
    timezone = original.snapshot.timezone  # the one its issue date is read in
    period = numbering_cfg.period_for(local_date(svc.store.clock(), timezone))

    def build(sequence: int, earlier: list[InvoiceSnapshot]) -> InvoiceSnapshot:
        # Read under the series lock, like an invoice's: numbers and dates both chronological.
        issued_at = svc.store.clock()
        issue_day = local_date(issued_at, timezone)
        if numbering_cfg.period_for(issue_day) != period:
            raise TransientStepError("the numbering period changed while waiting: retry")
        number = numbering_cfg.format_number(sequence, issue_day)
        return build_credit_note(
            original.snapshot,
            credit,
            Numbering(numbering_cfg.series, number, sequence),
            issued_at=issued_at,
            earlier=earlier,
        )

    result = svc.store.issue_credit_note(
        original=original, source=credit.source, series=numbering_cfg.series, period=period,
        build=build, follow_up_jobs=then,
    )  # fmt: skip
    log.info(
        "credit note issued" if result.created else "credit note already issued",
        invoice=original.number, credit_note=result.invoice.number, source=credit.source,
    )  # fmt: skip
    return result


def refuse_credit(svc: Services, original: InvoiceRecord, credit: Credit, why: str) -> None:
    """A credit note that cannot be issued: recorded and the owner told, nothing numbered."""
    svc.store.append_event(
        "credit.refused", shop=original.shop, order_id=original.order_id,
        invoice_number=original.number, detail={"source": credit.source, "reason": why},
    )  # fmt: skip
    alert_owner(
        svc,
        key=f"credit-refused:{original.shop}:{original.order_id}:{credit.source}",
        title=f"Quittance: no credit note for {credit.source} on invoice {original.number}",
        body=f"{why}\nA refund is read once, as it was made: changing it on the shop changes "
        f"nothing here. Credit what was given back by hand (`quittance credit "
        f'{original.number} --reason "…" --amount A`); `quittance retry` of this job would '
        "refuse it again.",
    )


def note_deleted_refunds(svc: Services, order: Order) -> list[str]:
    """Credit notes whose refund the shop no longer lists (WooCommerce lets the owner delete
    a refund, and sends no webhook for it): the credit note stays, issued for good; the owner
    is told once per refund to settle it by hand. Returns the credit note numbers."""
    listed = {r.refund_id for r in order.refunds}
    gone = [
        doc
        for doc in svc.store.documents_for_order(order.shop, order.order_id)
        if doc.kind == DocumentKind.credit_note.value
        and doc.source.startswith("refund:")
        and doc.source.removeprefix("refund:") not in listed
    ]
    for doc in gone:
        if svc.store.has_event("refund.deleted", doc.number):
            continue  # every later read of the order lists it missing again: told once
        refund_id = doc.source.removeprefix("refund:")
        sent = alert_owner(
            svc,
            key=f"refund-deleted:{order.shop}:{order.order_id}:{refund_id}",
            title=f"Quittance: refund {refund_id} of order {order.display_reference} was "
            f"deleted on the shop; credit note {doc.number} stays",
            body=f"Credit note {doc.number} credits refund {refund_id}, which the shop no longer "
            "lists. An issued credit note cannot be deleted: if the money was not given back, "
            f"invoice the amount again (`quittance credit` cannot undo it); if it was, nothing "
            "to do but correct the shop.",
        )
        # An alert that did not get through is tried again at the next read; with no alert
        # configured, the event log is where the owner reads it.
        if sent or not svc.alerter.configured:
            svc.store.append_event(
                "refund.deleted", shop=order.shop, order_id=order.order_id,
                invoice_number=doc.number, detail={"refund_id": refund_id},
            )  # fmt: skip
    return [doc.number for doc in gone]


# How far back the daily pass looks for refunds deleted on the shop: a refund deleted months
# after it was made is an accounting question for a person, not a missed webhook.
RECONCILE_WINDOW = timedelta(days=60)


def reconcile_deleted_refunds(svc: Services, shop: str) -> tuple[list[str], list[str]]:
    """Read again every order of `shop` whose refund was credited in the last 60 days and tell
    the owner of any refund deleted since. WooCommerce deletes a refund without a webhook and
    without touching the order's modification date, so neither a webhook nor a poll by date
    can see it: only reading the order can. Returns (credit notes whose refund is gone,
    orders that could not be read)."""
    since = svc.store.clock() - RECONCILE_WINDOW
    gone: list[str] = []
    unread: list[str] = []
    for order_id in svc.store.orders_with_refund_credits(shop, since):
        try:
            fetched = svc.connector(shop).fetch_order(order_id)
        except StepError as exc:
            unread.append(f"order {order_id}: {exc}")
            continue
        if fetched.order is not None:
            gone += note_deleted_refunds(svc, fetched.order)
    return gone, unread


def predates_quittance(svc: Services, order: Order, lookback: timedelta) -> datetime | None:
    """When Quittance started on the shop, if `order` is a refunded order it never knew and
    that was paid before (less `lookback`, the first poll's, whose orders are Quittance's):
    its invoice was made elsewhere, so neither an invoice nor a credit note is ours to issue.
    `quittance backfill` brings such orders in on purpose and is not asked."""
    if not order.refunds or svc.store.get_order(order.shop, order.order_id) is not None:
        return None
    started = svc.store.shop_started_at(order.shop)
    return started if order.payment.paid_at < started - lookback else None


def alert_foreign_refund(svc: Services, order: Order, started: datetime) -> str:
    """The owner's note for a refund on an order Quittance never invoiced; returns it."""
    why = (
        f"order {order.display_reference} was paid on {order.payment.paid_at:%Y-%m-%d}, before "
        f"Quittance ran for shop {order.shop} ({started:%Y-%m-%d}): its refund gets no credit "
        "note here; issue it where the invoice was made (or `quittance backfill --since` to "
        "bring the order in first)"
    )
    alert_owner(
        svc,
        key=f"foreign-refund:{order.shop}:{order.order_id}",
        title=f"Quittance: refund on order {order.display_reference}, never invoiced here",
        body=why,
    )
    svc.store.append_event(
        "refund.foreign", shop=order.shop, order_id=order.order_id, detail={"reason": why}
    )
    return why


@dataclass
class Reissue:
    """A corrected invoice, and what became of the money its predecessor gave back."""

    result: AcceptResult
    credited_again: list[InvoiceRecord] = field(default_factory=list)
    not_credited: list[str] = field(default_factory=list)  # why, per credit note


def reissue_invoice(
    svc: Services, original: InvoiceRecord, order: Order, *, then: Sequence[FollowUp],
    credit_then: Sequence[FollowUp], facts: IssueFacts,
) -> Reissue:  # fmt: skip
    """A new invoice (new number) for an order whose invoice `original` is fully credited:
    the buyer's details were wrong, and are read again from `order`. An order never has two
    invoices in force: refused while anything of `original` is left uncredited.

    Each credit note of `original` that gave money back (a refund, a manual credit) is made
    again on the new invoice: the new invoice states the whole sale, as the old one did, and
    what was given back stays given back. Line by line when the new invoice has the same
    rates, else as an amount over its rates (the buyer became an EU business: 0 %); one that
    still cannot be made is reported, and the owner told."""
    left = original.snapshot.totals.total_incl - svc.store.credited_total(original.id)
    if left > 0:
        raise CreditNotIssuable(
            [Inconsistency("--reissue", f"invoice {original.number} still has {left} uncredited")]
        )
    result = accept_order(svc, order, then=then, facts=facts, source=f"reissue:{original.number}")
    reissue = Reissue(result)
    if result.invoice is None:
        return reissue
    for note in svc.store.credit_notes_of(original.id):
        if note.snapshot.totals.amount_paid == 0:
            continue  # a cancellation (this reissue's own) gave nothing back
        try:
            again = _credit_again(svc, note, result.invoice, credit_then)
            reissue.credited_again.append(again)
        except CreditNotIssuable as exc:
            reissue.not_credited.append(f"{note.number}: {exc}")
    if reissue.not_credited:
        alert_owner(
            svc,
            key=f"reissue-credit:{original.shop}:{original.order_id}",
            title=f"Quittance: {result.invoice.number} replaces {original.number}; credit it "
            "by hand for what was given back",
            body="\n".join(reissue.not_credited),
        )
    return reissue


def _credit_again(
    svc: Services, note: InvoiceRecord, invoice: InvoiceRecord, then: Sequence[FollowUp]
) -> InvoiceRecord:
    try:
        return issue_credit(svc, invoice, credit_again(note, invoice), then=then).invoice
    except CreditNotIssuable:
        by_amount = credit_again(note, invoice, line_by_line=False)
        return issue_credit(svc, invoice, by_amount, then=then).invoice


def credit_again(note: InvoiceRecord, invoice: InvoiceRecord, *, line_by_line: bool = True
                 ) -> Credit:  # fmt: skip
    """The credit note `note` made once more, on `invoice` (the reissue of its invoice)."""
    snap = note.snapshot
    return Credit(
        source=f"again:{note.number}",
        amount=snap.totals.total_incl,
        at=snap.payment.paid_at,
        reason=snap.credit_reason,
        method=snap.payment.method,
        reference=snap.payment.reference,
        lines=whole_invoice(snap) if line_by_line else [],
    )


def awaiting_reissue(svc: Services, invoice: InvoiceRecord) -> bool:
    """`invoice` was cancelled for a reissue that has not been issued yet (the shop could not
    be read): a refund coming now waits for the corrected invoice."""
    notes = svc.store.credit_notes_of(invoice.id)
    return any(n.source.startswith("cancel:") for n in notes) and (
        sum(
            (n.snapshot.totals.total_incl for n in notes),
            start=invoice.snapshot.totals.total_incl * 0,
        )
        >= invoice.snapshot.totals.total_incl
    )
