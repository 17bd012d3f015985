"""Issued snapshots for tests, all derived from the realistic cases of
`bridge/invoicing/cases.py` (built once through the real `build_invoice`, so legally complete):
a test changes only what it is about (number, dates, order, buyer) and never hand-builds lines,
totals and VAT again.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import cache
from typing import Any

from bridge.invoicing import cases
from bridge.invoicing.snapshot import DocumentKind, InvoiceSnapshot
from bridge.store import IssueResult, Store

# The store tests' "now": any fixed instant does, the store takes it from the injected clock.
T0 = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


@cache
def case(name: str = "b2c") -> InvoiceSnapshot:
    return cases.case_snapshot(name)


def make_snapshot(
    seq: int,
    number: str | None = None,
    *,
    shop: str = "shop-a",
    order_id: str = "1001",
    series: str = "FA",
    issued_at: datetime = T0,
    issue_date: date | None = None,
) -> InvoiceSnapshot:
    """The b2c case as the store would number it: `seq` in `series`, for `shop`/`order_id`."""
    base = case("b2c")
    order = base.order.model_copy(
        update={"shop": shop, "order_id": order_id, "reference": f"#{order_id}"}
    )
    return base.model_copy(
        update={
            "series": series,
            "number": number or f"{series}-{issued_at.year}-{seq:06d}",
            "sequence": seq,
            "issued_at": issued_at,
            "issue_date": issue_date or issued_at.date(),
            "order": order,
        }
    )


def issue(
    store: Store,
    order_id: str,
    *,
    shop: str = "shop-a",
    series: str = "FA",
    period: str = "2026",
    issued_at: datetime = T0,
    follow_up_jobs: list[tuple[str, dict[str, Any]]] | None = None,
) -> IssueResult:
    """Issue the b2c case for `order_id` through the store's numbering."""

    def build(seq: int) -> InvoiceSnapshot:
        return make_snapshot(seq, shop=shop, order_id=order_id, series=series, issued_at=issued_at)

    return store.issue_invoice(
        shop=shop,
        order_id=order_id,
        kind="invoice",
        series=series,
        period=period,
        build=build,
        follow_up_jobs=follow_up_jobs or [],
    )


def receipt_snapshot(
    *,
    locale: str = "fr",
    name: str = "Marie Dupont",
    company: str = "",
    is_business: bool = False,
    email_address: str = "marie.dupont@example.org",
    kind: DocumentKind = DocumentKind.invoice,
    number: str = "FA-2026-000042",
) -> InvoiceSnapshot:
    """The b2c case with the buyer an email test is about."""
    base = case("b2c")
    buyer = base.buyer.model_copy(
        update={
            "name": name,
            "company": company,
            "email": email_address,
            "is_business": is_business,
        }
    )
    return base.model_copy(
        update={"kind": kind, "number": number, "locale": locale, "buyer": buyer}
    )
