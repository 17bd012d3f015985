"""The outages table and the job rows it is computed from (bridge/outages.py decides).

One row per cause while it lasts. Every move is a guarded statement whose row count says who
acted, so several schedulers sharing the database tell the owner once each way:

    open    INSERT … ON CONFLICT DO NOTHING        (the row exists: nothing to do)
    alert   UPDATE … SET alerted_at WHERE alerted_at IS NULL   (one claimer sends)
    clear   DELETE … WHERE cause AND opened_at RETURNING       (one deleter sends)

On PostgreSQL a second UPDATE or DELETE of the same row waits for the first to commit and then
finds nothing to change; SQLite's single writer makes them exclusive anyway.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.engine import Connection, RowMapping

from bridge.store._sql import dump_json, insert_for, load_json
from bridge.store.schema import invoices, jobs, outages


@dataclass(frozen=True, slots=True)
class FailingJob:
    """A job whose last attempt failed, with its document's number when it has one."""

    id: int
    kind: str
    state: str
    shop: str | None
    order_id: str | None
    invoice_id: int | None
    number: str | None
    attempts: int
    last_error: str | None
    first_attempt_at: datetime | None
    created_at: datetime
    updated_at: datetime
    run_at: datetime | None = None  # when it is (or was) due


@dataclass(frozen=True, slots=True)
class OutageRecord:
    cause: str
    title: str
    opened_at: datetime
    last_seen_at: datetime
    alerted_at: datetime | None
    affected: int
    sample: list[dict[str, Any]]
    told_dead: int = 0  # documents failed for good the owner was told of


_COLUMNS = (
    jobs.c.id, jobs.c.kind, jobs.c.state, jobs.c.shop, jobs.c.order_id, jobs.c.invoice_id,
    invoices.c.number, jobs.c.attempts, jobs.c.last_error, jobs.c.first_attempt_at,
    jobs.c.created_at, jobs.c.updated_at, jobs.c.run_at,
)  # fmt: skip


def failing_jobs(conn: Connection) -> list[FailingJob]:
    """Retrying and dead jobs, a retry under way (running again), and a job put back in line
    after failing (`quittance retry`, not yet run): each still shows its last error."""
    failing = or_(
        jobs.c.state.in_(("retry", "dead")),
        and_(jobs.c.state == "running", jobs.c.attempts > 1),
        jobs.c.state == "pending",
    )
    stmt = (
        select(*_COLUMNS)
        .select_from(jobs.outerjoin(invoices, invoices.c.id == jobs.c.invoice_id))
        .where(failing, jobs.c.last_error.is_not(None))
        .order_by(jobs.c.id)
    )
    return [_failing(row) for row in conn.execute(stmt).mappings()]


def oldest_waiting(conn: Connection) -> FailingJob | None:
    """The job that has waited longest for its turn (pending or retrying)."""
    stmt = (
        select(*_COLUMNS)
        .select_from(jobs.outerjoin(invoices, invoices.c.id == jobs.c.invoice_id))
        .where(jobs.c.state.in_(("pending", "retry")))
        .order_by(jobs.c.created_at, jobs.c.id)
        .limit(1)
    )
    row = conn.execute(stmt).mappings().first()
    return None if row is None else _failing(row)


def overdue(conn: Connection, due_before: datetime, limit: int) -> list[FailingJob]:
    """Jobs due before `due_before` that no worker has taken: a queue nobody drains."""
    stmt = (
        select(*_COLUMNS)
        .select_from(jobs.outerjoin(invoices, invoices.c.id == jobs.c.invoice_id))
        .where(jobs.c.state.in_(("pending", "retry")), jobs.c.run_at <= due_before)
        .order_by(jobs.c.run_at, jobs.c.id)
        .limit(limit)
    )
    return [_failing(row) for row in conn.execute(stmt).mappings()]


def last_progress(conn: Connection) -> datetime | None:
    """When a worker last claimed or finished a job (a pending job has not moved yet)."""
    return conn.execute(
        select(func.max(jobs.c.updated_at)).where(jobs.c.state != "pending")
    ).scalar_one_or_none()


def list_all(conn: Connection) -> list[OutageRecord]:
    stmt = select(outages).order_by(outages.c.opened_at, outages.c.cause)
    return [_outage(row) for row in conn.execute(stmt).mappings()]


def get(conn: Connection, cause: str) -> OutageRecord | None:
    row = conn.execute(select(outages).where(outages.c.cause == cause)).mappings().first()
    return None if row is None else _outage(row)


def open_(
    conn: Connection, cause: str, *, title: str, opened_at: datetime, now: datetime,
    affected: int, sample: Sequence[dict[str, Any]],
) -> bool:  # fmt: skip
    """True when this call created the row (an open outage of that cause is left alone)."""
    stmt = (
        insert_for(conn, outages)
        .values(
            cause=cause, title=title, opened_at=opened_at, last_seen_at=now, alerted_at=None,
            affected=affected, sample=dump_json(list(sample)),
        )
        .on_conflict_do_nothing(index_elements=[outages.c.cause])
    )  # fmt: skip
    return conn.execute(stmt).rowcount == 1


def tell_dead(conn: Connection, cause: str, opened_at: datetime, told_dead: int) -> None:
    conn.execute(
        update(outages)
        .where(outages.c.cause == cause, outages.c.opened_at == opened_at)
        .where(outages.c.told_dead < told_dead)
        .values(told_dead=told_dead)
    )


def touch(
    conn: Connection, cause: str, opened_at: datetime, *, now: datetime, affected: int,
    sample: Sequence[dict[str, Any]],
) -> bool:  # fmt: skip
    """What the outage holds up now (the digest reads it); no alert depends on it."""
    stmt = (
        update(outages)
        .where(outages.c.cause == cause, outages.c.opened_at == opened_at)
        .values(last_seen_at=now, affected=affected, sample=dump_json(list(sample)))
    )
    return conn.execute(stmt).rowcount == 1


def claim_alert(
    conn: Connection, cause: str, opened_at: datetime, now: datetime, told_dead: int
) -> bool:
    """True for the one caller that is to send the opening alert, which tells `told_dead`
    documents failed for good (set in the same statement: another scheduler reading the row
    as alerted must not take them for new ones)."""
    stmt = (
        update(outages)
        .where(outages.c.cause == cause, outages.c.opened_at == opened_at)
        .where(outages.c.alerted_at.is_(None))
        .values(alerted_at=now, told_dead=told_dead)
    )
    return conn.execute(stmt).rowcount == 1


def release_alert(conn: Connection, cause: str, opened_at: datetime, claimed_at: datetime) -> bool:
    """The opening alert could not be sent: the next check tries again."""
    stmt = (
        update(outages)
        .where(outages.c.cause == cause, outages.c.opened_at == opened_at)
        .where(outages.c.alerted_at == claimed_at)
        .values(alerted_at=None)
    )
    return conn.execute(stmt).rowcount == 1


def close(conn: Connection, cause: str, opened_at: datetime) -> OutageRecord | None:
    """The row as this call deleted it; None when another caller (or a new outage) has it."""
    stmt = (
        delete(outages)
        .where(outages.c.cause == cause, outages.c.opened_at == opened_at)
        .returning(*outages.c)
    )
    row = conn.execute(stmt).mappings().first()
    return None if row is None else _outage(row)


def _failing(row: RowMapping) -> FailingJob:
    return FailingJob(
        id=row["id"], kind=row["kind"], state=row["state"], shop=row["shop"],
        order_id=row["order_id"], invoice_id=row["invoice_id"], number=row["number"],
        attempts=row["attempts"], last_error=row["last_error"],
        first_attempt_at=row["first_attempt_at"], created_at=row["created_at"],
        updated_at=row["updated_at"], run_at=row["run_at"],
    )  # fmt: skip


def _outage(row: RowMapping) -> OutageRecord:
    return OutageRecord(
        cause=row["cause"], title=row["title"], opened_at=row["opened_at"],
        last_seen_at=row["last_seen_at"], alerted_at=row["alerted_at"],
        affected=row["affected"], sample=load_json(row["sample"]) or [],
        told_dead=row["told_dead"],
    )  # fmt: skip
