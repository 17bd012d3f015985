"""The durable job queue: pending -> running (lease) -> done | retry at T | dead | skipped.

Claiming: PostgreSQL locks candidate rows with FOR UPDATE SKIP LOCKED, so concurrent workers
take disjoint jobs without waiting on each other; SQLite has one writer at a time (BEGIN
IMMEDIATE) which makes the same statement exclusive. A running job whose lease ran out is
claimable again (its worker died or hung); every state change after that checks
`lease_owner`, so the worker that lost its lease cannot overwrite the new owner's outcome.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, literal, null, or_, select, update
from sqlalchemy.engine import Connection, RowMapping

from bridge.store._sql import dump_json, insert_for, load_json
from bridge.store.records import JOB_STATES, JobRecord
from bridge.store.schema import UTCDateTime, jobs

WAITING = ("pending", "retry")

# Claim order, lowest first. Handing a document over comes before making new work, so under a
# backlog each order is finished (issued, rendered, sent) before the next one starts: the
# first customer's email does not wait for the thousandth invoice. Among new work, what a
# webhook brings now comes before what polling catches up, and that before a bulk backfill.
# A customer waiting for their link and an owner told of an unhappy one come first too.
PRIORITIES = {"email": 0, "attach": 0, "portal_link": 0, "survey_alert": 0, "render": 1}
LANES = {"live": 2, "catch_up": 3, "bulk": 4}


def priority_of(kind: str, lane: str = "live") -> int:
    """A document step's place is its kind's; an entry step's (ingest, issue, credit) its
    lane's: where the work came from."""
    if kind in PRIORITIES:
        return PRIORITIES[kind]
    if lane not in LANES:
        raise ValueError(f"unknown lane {lane!r}; expected one of {sorted(LANES)}")
    return LANES[lane]


def enqueue(
    conn: Connection,
    kind: str,
    payload: Mapping[str, Any],
    *,
    dedupe_key: str,
    run_at: datetime | None,
    now: datetime,
    shop: str | None = None,
    order_id: str | None = None,
    invoice_id: int | None = None,
    lane: str = "live",
) -> int | None:
    stmt = (
        insert_for(conn, jobs)
        .values(
            kind=kind,
            dedupe_key=dedupe_key,
            payload=dump_json(dict(payload)),
            state="pending",
            attempts=0,
            run_at=run_at or now,
            shop=shop,
            order_id=order_id,
            invoice_id=invoice_id,
            created_at=now,
            updated_at=now,
            priority=priority_of(kind, lane),
        )
        .on_conflict_do_nothing(index_elements=[jobs.c.dedupe_key])
        .returning(jobs.c.id)
    )
    job_id = conn.execute(stmt).scalar_one_or_none()
    if job_id is None:
        _raise_priority(conn, dedupe_key, priority_of(kind, lane))
        return None
    return int(job_id)


def _raise_priority(conn: Connection, dedupe_key: str, priority: int) -> None:
    """The same work asked again from a faster lane (a webhook for an order a catch-up poll
    queued a moment before) keeps the better place: it would otherwise wait behind the whole
    backlog that poll found."""
    conn.execute(
        update(jobs)
        .where(jobs.c.dedupe_key == dedupe_key, jobs.c.state.in_(WAITING))
        .where(jobs.c.priority > priority)
        .values(priority=priority)
    )


def claim(
    conn: Connection,
    worker_id: str,
    *,
    limit: int,
    lease: timedelta,
    kinds: Iterable[str] | None,
    now: datetime,
) -> list[JobRecord]:
    due = or_(
        and_(jobs.c.state.in_(WAITING), jobs.c.run_at <= now),
        and_(jobs.c.state == "running", jobs.c.lease_until <= now),
    )
    candidates = (
        select(jobs.c.id)
        .where(due)
        .order_by(jobs.c.priority, jobs.c.run_at, jobs.c.id)
        .limit(limit)
    )
    if kinds is not None:
        candidates = candidates.where(jobs.c.kind.in_(list(kinds)))
    # skip_locked: rows another worker is claiming right now are passed over, not waited for.
    # (SQLite renders no FOR UPDATE; its BEGIN IMMEDIATE already excludes other claimers.)
    candidates = candidates.with_for_update(skip_locked=True)
    stmt = (
        update(jobs)
        .where(jobs.c.id.in_(candidates.scalar_subquery()))
        .values(
            state="running",
            attempts=jobs.c.attempts + 1,
            lease_owner=worker_id,
            lease_until=now + lease,
            updated_at=now,
            first_attempt_at=func.coalesce(jobs.c.first_attempt_at, literal(now, UTCDateTime())),
        )
        .returning(*jobs.c)
    )
    claimed = [_record(row) for row in conn.execute(stmt).mappings()]
    return sorted(claimed, key=lambda job: (job.priority, job.run_at, job.id))


def finish(
    conn: Connection,
    job_id: int,
    worker_id: str,
    now: datetime,
    **values: Any,
) -> bool:
    """Move a job out of `running`, only if `worker_id` still holds its lease."""
    result = conn.execute(
        update(jobs)
        .where(jobs.c.id == job_id, jobs.c.state == "running", jobs.c.lease_owner == worker_id)
        .values(lease_until=None, updated_at=now, **values)
    )
    return result.rowcount == 1


def renew(conn: Connection, job_id: int, worker_id: str, until: datetime) -> bool:
    """Extend a running job's lease, only for the worker holding it (the heartbeat)."""
    result = conn.execute(
        update(jobs)
        .where(jobs.c.id == job_id, jobs.c.state == "running", jobs.c.lease_owner == worker_id)
        .values(lease_until=until)
    )
    return result.rowcount == 1


def complete(
    conn: Connection, job_id: int, worker_id: str, result: Mapping[str, Any] | None, now: datetime
) -> bool:
    body = None if result is None else dump_json(dict(result))
    return finish(conn, job_id, worker_id, now, state="done", result=body)


def release(conn: Connection, job_id: int, worker_id: str, now: datetime) -> bool:
    # Handing a job back (e.g. on shutdown) is not a failed attempt: the counter goes back.
    return finish(
        conn,
        job_id,
        worker_id,
        now,
        state="pending",
        run_at=now,
        lease_owner=None,
        attempts=func.max(jobs.c.attempts - 1, 0)
        if conn.dialect.name == "sqlite"
        else func.greatest(jobs.c.attempts - 1, 0),
        # Nor did the give-up clock start, if this was the first attempt.
        first_attempt_at=case((jobs.c.attempts <= 1, null()), else_=jobs.c.first_attempt_at),
    )


def requeue(conn: Connection, job_id: int, now: datetime) -> bool:
    """dead/skipped -> pending now, as a fresh job (attempts and give-up clock restart).

    `last_error` is kept so the operator still sees why it died until the next attempt.
    """
    result = conn.execute(
        update(jobs)
        .where(jobs.c.id == job_id, jobs.c.state.in_(("dead", "skipped")))
        .values(
            state="pending",
            run_at=now,
            attempts=0,
            first_attempt_at=None,
            lease_owner=None,
            lease_until=None,
            updated_at=now,
        )
    )
    return result.rowcount == 1


def requeue_for_order(conn: Connection, shop: str, order_id: str, now: datetime) -> int:
    """An order's finished jobs from before it had an invoice go back to pending.

    Only invoice-less jobs: they are the ones that decided "quarantine"; anything tied to an
    invoice (render, email...) cannot exist for a quarantined order anyway.
    """
    result = conn.execute(
        update(jobs)
        .where(jobs.c.shop == shop, jobs.c.order_id == order_id, jobs.c.invoice_id.is_(None))
        .where(jobs.c.state.in_(("done", "dead", "skipped")))
        .values(
            state="pending",
            run_at=now,
            attempts=0,
            first_attempt_at=None,
            lease_owner=None,
            lease_until=None,
            updated_at=now,
        )
    )
    return result.rowcount


# How a credit job that ran before its invoice existed says so: issuing the invoice re-arms it.
WAITING_FOR_INVOICE = "waiting for the invoice"


def rearm_waiting_credits(conn: Connection, shop: str, order_id: str, now: datetime) -> int:
    """The order's credit jobs waiting for its invoice (retrying, or given up on after days
    of quarantine) run now: the refund seen before the invoice is credited right after it."""
    result = conn.execute(
        update(jobs)
        .where(jobs.c.shop == shop, jobs.c.order_id == order_id, jobs.c.kind == "credit")
        .where(jobs.c.state.in_(("retry", "dead")))
        .where(jobs.c.last_error.like(f"%{WAITING_FOR_INVOICE}%"))
        .values(
            state="pending", run_at=now, attempts=0, first_attempt_at=None,
            lease_owner=None, lease_until=None, updated_at=now,
        )
    )  # fmt: skip
    return result.rowcount


def get(conn: Connection, job_id: int) -> JobRecord | None:
    row = conn.execute(select(jobs).where(jobs.c.id == job_id)).mappings().first()
    return None if row is None else _record(row)


def list_by_state(conn: Connection, states: Sequence[str], limit: int | None) -> list[JobRecord]:
    stmt = select(jobs).where(jobs.c.state.in_(list(states))).order_by(jobs.c.id)
    if limit is not None:
        stmt = stmt.limit(limit)
    return [_record(row) for row in conn.execute(stmt).mappings()]


def counts(conn: Connection) -> dict[str, int]:
    totals = dict.fromkeys(JOB_STATES, 0)
    for state, n in conn.execute(select(jobs.c.state, func.count()).group_by(jobs.c.state)):
        totals[state] = int(n)
    return totals


def _record(row: RowMapping) -> JobRecord:
    return JobRecord(
        id=row["id"],
        kind=row["kind"],
        payload=load_json(row["payload"]),
        state=row["state"],
        attempts=row["attempts"],
        run_at=row["run_at"],
        lease_owner=row["lease_owner"],
        lease_until=row["lease_until"],
        last_error=row["last_error"],
        shop=row["shop"],
        order_id=row["order_id"],
        invoice_id=row["invoice_id"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        first_attempt_at=row["first_attempt_at"],
        dedupe_key=row["dedupe_key"],
        result=load_json(row["result"]),
        priority=row["priority"],
    )
