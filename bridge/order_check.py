"""`quittance check-orders`: the fiscal rules over a shop's recent paid orders, issuing nothing.

An existing shop connecting Quittance sees, before the first invoice, which of its orders would
be quarantined and why (a 0 % line without reason, a rate that does not exist, a figure that
does not add up), and what an issued invoice would ask the owner to check. Orders are read
from the shop and built with the real rules and a sample number; nothing is written to the
store or the archive, and no number is taken.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from bridge.failures import OutsideFactUnavailable
from bridge.invoicing.build import OrderNotInvoiceable
from bridge.issue_facts import gather_issue_facts
from bridge.model import Order
from bridge.pipeline import owner_notes, trial_invoice
from bridge.services import Services


class Verdict(StrEnum):
    issue = "would issue"
    issue_with_notes = "would issue, tells you"
    quarantine = "would quarantine"
    waits = "would wait"  # VIES or the ECB rates cannot answer now: issuing retries
    invoiced = "already invoiced"


@dataclass(frozen=True)
class OrderVerdict:
    order: str  # what the owner sees on the shop: #1001
    verdict: Verdict
    reasons: list[str] = field(default_factory=list)


def check_shop_orders(svc: Services, shop: str, since: datetime) -> Iterator[OrderVerdict]:
    """Each paid order of `shop` modified since `since`, oldest first, with its verdict."""
    now = svc.store.clock()
    for page in svc.connector(shop).iter_paid_pages(since):
        for unreadable in page.unreadable:
            yield OrderVerdict(unreadable.order_id, Verdict.quarantine, [unreadable.reason])
        for error in page.errors:
            yield OrderVerdict("?", Verdict.quarantine, [error])
        for order in page.orders:
            yield order_verdict(svc, order, now)


def order_verdict(svc: Services, order: Order, now: datetime) -> OrderVerdict:
    invoice = svc.store.get_invoice_for_order(order.shop, order.order_id)
    if invoice is not None:
        return OrderVerdict(order.display_reference, Verdict.invoiced, [invoice.number])
    try:
        # What the issue step reads first: the ECB rate from this machine's file, and VIES
        # for a claimed intra-EU exemption (a read-only question, as issuing would ask it).
        facts = gather_issue_facts(svc, order)
        snapshot = trial_invoice(svc, order, at=now, facts=facts)
    except OutsideFactUnavailable as exc:  # issuing waits for it, unless waiting cannot help
        verdict = Verdict.waits if exc.max_wait else Verdict.quarantine
        return OrderVerdict(order.display_reference, verdict, [str(exc)])
    except OrderNotInvoiceable as exc:
        return OrderVerdict(
            order.display_reference, Verdict.quarantine, [str(p) for p in exc.problems]
        )
    notes = owner_notes(order, snapshot)
    verdict = Verdict.issue_with_notes if notes else Verdict.issue
    return OrderVerdict(order.display_reference, verdict, notes)
