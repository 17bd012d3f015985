"""Read-only aggregates for `quittance status` and the metrics."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from bridge.store.schema import invoices, jobs


def invoice_counts_since(conn: Connection, since: datetime) -> dict[str, int]:
    rows = conn.execute(
        select(invoices.c.shop, func.count())
        .where(invoices.c.issued_at >= since)
        .group_by(invoices.c.shop)
    )
    return {shop: int(count) for shop, count in rows}


def job_counts_by_shop(conn: Connection) -> dict[str, dict[str, int]]:
    rows = conn.execute(
        select(jobs.c.shop, jobs.c.state, func.count()).group_by(jobs.c.shop, jobs.c.state)
    )
    out: dict[str, dict[str, int]] = defaultdict(dict)
    for shop, state, count in rows:
        out[shop or ""][state] = int(count)
    return dict(out)
