"""Read-only aggregates for `quittance status` and the metrics."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, false, func, or_, select
from sqlalchemy.engine import Connection

from bridge.store.jobs import WAITING
from bridge.store.outages import FailingJob
from bridge.store.schema import deliveries, invoices, jobs, orders, poll_state, webhook_events


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


@dataclass(frozen=True, slots=True)
class MetricsReport:
    """What /metrics reports, read from the database in one go, at `now` (the store clock)."""

    now: datetime
    documents: dict[tuple[str, str], int]  # (shop, kind) -> documents issued, ever
    deliveries: dict[tuple[str, str], int]  # (channel, status) -> delivery rows
    jobs: dict[tuple[str, str], int]  # (kind, state) -> jobs
    oldest_waiting: dict[str, datetime]  # kind -> earliest run_at of a job due now
    quarantined: dict[str, int]  # shop -> orders quarantined
    webhook_events: dict[tuple[str, str], int]  # (shop, platform) -> events stored, ever
    last_poll_success: dict[str, datetime]  # shop -> last successful poll


def metrics_report(conn: Connection, now: datetime) -> MetricsReport:
    """Seven aggregate queries, each one GROUP BY (no per-shop or per-row query), so a scrape
    costs the same whatever the number of shops."""
    return MetricsReport(
        now=now,
        documents=_pairs(conn, invoices.c.shop, invoices.c.kind),
        deliveries=_pairs(conn, deliveries.c.channel, deliveries.c.status),
        jobs=_pairs(conn, jobs.c.kind, jobs.c.state),
        oldest_waiting=oldest_waiting_jobs(conn, now),
        quarantined={
            shop: int(count)
            for shop, count in conn.execute(
                select(orders.c.shop, func.count())
                .where(orders.c.status == "quarantined")
                .group_by(orders.c.shop)
            )
        },
        webhook_events=_pairs(conn, webhook_events.c.shop, webhook_events.c.platform),
        last_poll_success={
            shop: at
            for shop, at in conn.execute(
                select(poll_state.c.shop, poll_state.c.last_success_at).where(
                    poll_state.c.last_success_at.is_not(None)
                )
            )
        },
    )


def oldest_waiting_jobs(conn: Connection, now: datetime) -> dict[str, datetime]:
    """Per kind, the `run_at` of the longest-waiting job a worker could claim now (pending,
    or retry whose time has come): how far behind the workers are. A retry due later is not
    late, so it does not count."""
    rows = conn.execute(
        select(jobs.c.kind, func.min(jobs.c.run_at))
        .where(jobs.c.state.in_(WAITING), jobs.c.run_at <= now)
        .group_by(jobs.c.kind)
    )
    return {kind: run_at for kind, run_at in rows}


def _pairs(
    conn: Connection, first: ColumnElement[str], second: ColumnElement[str]
) -> dict[tuple[str, str], int]:
    rows = conn.execute(select(first, second, func.count()).group_by(first, second))
    return {(a, b): int(count) for a, b, count in rows}


# -- the operator's views (bridge/overview.py) ---------------------------------------------


def document_counts_since(conn: Connection, since: datetime) -> dict[str, dict[str, int]]:
    """{shop: {kind: count}} of the documents issued since `since`, whatever asked for them
    (a platform's order, `quittance issue`, an import, a refund, a correction)."""
    # The day's rows first, then grouped: without table statistics SQLite grouped along the
    # (shop, order_id, …) index and read every document ever issued.
    day = select(invoices.c.shop, invoices.c.kind).where(invoices.c.issued_at >= since).subquery()
    rows = conn.execute(
        select(day.c.shop, day.c.kind, func.count()).group_by(day.c.shop, day.c.kind)
    )
    out: dict[str, dict[str, int]] = defaultdict(dict)
    for shop, kind, count in rows:
        out[shop][kind] = int(count)
    return dict(out)


def document_shops(conn: Connection) -> set[str]:
    """Every shop that ever had a document: a shop removed from the config still counts."""
    return {shop for (shop,) in conn.execute(select(invoices.c.shop).distinct())}


def quarantined_by_shop(conn: Connection) -> dict[str, int]:
    rows = conn.execute(
        select(orders.c.shop, func.count())
        .where(orders.c.status == "quarantined")
        .group_by(orders.c.shop)
    )
    return {shop: int(count) for shop, count in rows}


_JOB_COLUMNS = (
    jobs.c.id, jobs.c.kind, jobs.c.state, jobs.c.shop, jobs.c.order_id, jobs.c.invoice_id,
    invoices.c.number, jobs.c.attempts, jobs.c.last_error, jobs.c.first_attempt_at,
    jobs.c.created_at, jobs.c.updated_at, jobs.c.run_at,
)  # fmt: skip


def _reason() -> ColumnElement[str]:
    # NULL-safe and case-blind: NOT (… LIKE NULL) would drop a row without a reason
    return func.lower(func.coalesce(jobs.c.last_error, ""))


# -- what needs the owner (bridge/overview.py `failures`): counted and paged in SQL ----------

# (steps, LIKE pattern) of a skip that left the owner nothing to do; `()` steps: any step.
# Decided in bridge/overview.py, from the reasons the steps write; matched case-blind.
RoutineSkips = Sequence[tuple[Sequence[str], str]]
# Where a page of failures starts: the (moved at, rank, row id) of the last one shown.
PageKey = tuple[datetime, int, int]
# At the same instant a quarantined order sorts before a job (newest first, rank desc).
JOB_RANK = 0
ORDER_RANK = 1


@dataclass(frozen=True, slots=True)
class HeldOrder:
    """A quarantined order as the failures list shows it: no payload to parse."""

    row: int
    shop: str
    order_id: str
    reason: str | None
    updated_at: datetime


def _routine(routine: RoutineSkips) -> ColumnElement[bool]:
    matches = [
        and_(jobs.c.kind.in_(list(steps)), _reason().like(like.lower()))
        if steps
        else _reason().like(like.lower())
        for steps, like in routine
    ]
    return and_(jobs.c.state == "skipped", or_(false(), *matches))


def _quarantining() -> ColumnElement[bool]:
    """A job skipped because it quarantined an order still held: the order's own entry
    stands for it (and is the one to retry)."""
    held = (
        select(orders.c.id)
        .where(
            orders.c.status == "quarantined",
            orders.c.shop == func.coalesce(jobs.c.shop, ""),
            orders.c.order_id == func.coalesce(jobs.c.order_id, ""),
        )
        .exists()
    )
    return and_(jobs.c.state == "skipped", _reason().like("quarantined%"), held)


def _after(moved: ColumnElement[datetime], row: ColumnElement[int], rank: int,
           before: PageKey | None) -> list[ColumnElement[bool]]:  # fmt: skip
    """Keyset paging on (moved at, rank, row id) descending: what sorts after `before`."""
    if before is None:
        return []
    at, last_rank, last_row = before
    same_instant = moved == at
    if rank < last_rank:
        return [or_(moved < at, same_instant)]
    if rank > last_rank:
        return [moved < at]
    return [or_(moved < at, and_(same_instant, row < last_row))]


def _attention_where(
    states: Sequence[str], routine: RoutineSkips, routine_only: bool, shop: str | None
) -> list[ColumnElement[bool]]:
    where = [jobs.c.state.in_(list(states)), ~_quarantining()]
    if routine_only:
        where.append(_routine(routine))
    elif routine:
        where.append(~_routine(routine))
    if shop is not None:
        where.append(func.coalesce(jobs.c.shop, "") == shop)
    return where


def attention_jobs(
    conn: Connection, states: Sequence[str], *, routine: RoutineSkips = (),
    routine_only: bool = False, shop: str | None = None, before: PageKey | None = None,
    limit: int | None = None, job_id: int | None = None,
) -> list[FailingJob]:  # fmt: skip
    """Jobs in `states`, last moved first, without the ones that quarantined a held order
    and without (`routine_only`: only) the routine skips; `before` pages on."""
    where = _attention_where(states, routine, routine_only, shop)
    where += _after(jobs.c.updated_at, jobs.c.id, JOB_RANK, before)
    if job_id is not None:
        where.append(jobs.c.id == job_id)
    stmt = (
        select(*_JOB_COLUMNS)
        .select_from(jobs.outerjoin(invoices, invoices.c.id == jobs.c.invoice_id))
        .where(*where)
        .order_by(jobs.c.updated_at.desc(), jobs.c.id.desc())
    )
    if limit is not None:
        stmt = stmt.limit(limit)
    return [FailingJob(**row) for row in conn.execute(stmt).mappings()]


def attention_job_count(
    conn: Connection, states: Sequence[str], *, routine: RoutineSkips = (),
    routine_only: bool = False, shop: str | None = None,
) -> int:  # fmt: skip
    """How many jobs `attention_jobs` would list, counted by the database."""
    where = _attention_where(states, routine, routine_only, shop)
    return int(conn.execute(select(func.count()).select_from(jobs).where(*where)).scalar_one())


_HELD_COLUMNS = (
    orders.c.id.label("row"), orders.c.shop, orders.c.order_id, orders.c.reason,
    orders.c.updated_at,
)  # fmt: skip


def held_orders(
    conn: Connection, *, shop: str | None = None, before: PageKey | None = None,
    limit: int | None = None,
) -> list[HeldOrder]:  # fmt: skip
    """Quarantined orders, last moved first; `before` pages on."""
    where = [orders.c.status == "quarantined"]
    where += _after(orders.c.updated_at, orders.c.id, ORDER_RANK, before)
    if shop is not None:
        where.append(orders.c.shop == shop)
    stmt = (
        select(*_HELD_COLUMNS)
        .where(*where)
        .order_by(orders.c.updated_at.desc(), orders.c.id.desc())
    )
    if limit is not None:
        stmt = stmt.limit(limit)
    return [HeldOrder(**row) for row in conn.execute(stmt).mappings()]


def held_order_count(conn: Connection, *, shop: str | None = None) -> int:
    where = [orders.c.status == "quarantined"]
    if shop is not None:
        where.append(orders.c.shop == shop)
    return int(conn.execute(select(func.count()).select_from(orders).where(*where)).scalar_one())
