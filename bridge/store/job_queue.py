"""The durable job queue's side of `Store`: enqueue, claim under a lease, and the guarded
moves out of `running` (done with its followers, retry, dead, skipped, released). Every
move but `requeue_job` succeeds only for the worker still holding the lease.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Connection

from bridge.store import deliveries, jobs
from bridge.store.deliveries import DeliveryIn
from bridge.store.invoices import FollowUp
from bridge.store.records import JOB_STATES, JobRecord

DEFAULT_LEASE = timedelta(seconds=300)


class JobQueue:
    """Mixed into `Store`, which provides the transactions and the clock."""

    def _write(self) -> AbstractContextManager[Connection]:
        raise NotImplementedError

    def _read(self) -> AbstractContextManager[Connection]:
        raise NotImplementedError

    def _now(self) -> datetime:
        raise NotImplementedError

    def enqueue(
        self,
        kind: str,
        payload: Mapping[str, Any],
        *,
        dedupe_key: str,
        run_at: datetime | None = None,
        shop: str | None = None,
        order_id: str | None = None,
        invoice_id: int | None = None,
    ) -> int | None:
        """New job id, or None when a job with this dedupe_key already exists (any state)."""
        with self._write() as conn:
            return jobs.enqueue(
                conn,
                kind,
                payload,
                dedupe_key=dedupe_key,
                run_at=run_at,
                now=self._now(),
                shop=shop,
                order_id=order_id,
                invoice_id=invoice_id,
            )

    def claim_jobs(
        self,
        worker_id: str,
        *,
        limit: int = 1,
        lease: timedelta = DEFAULT_LEASE,
        kinds: Iterable[str] | None = None,
    ) -> list[JobRecord]:
        with self._write() as conn:
            return jobs.claim(
                conn, worker_id, limit=limit, lease=lease, kinds=kinds, now=self._now()
            )

    def renew_job_lease(self, job_id: int, worker_id: str, lease: timedelta) -> bool:
        """True while `worker_id` still holds the job: its lease now runs `lease` from now."""
        with self._write() as conn:
            return jobs.renew(conn, job_id, worker_id, self._now() + lease)

    def complete_job(
        self,
        job_id: int,
        worker_id: str,
        result: Mapping[str, Any] | None = None,
        *,
        then: Sequence[FollowUp] = (),
        delivery: DeliveryIn | None = None,
        pending: Mapping[str, DeliveryIn] | None = None,
    ) -> bool:
        """Mark the job done and, in the same transaction, enqueue the steps that follow it on
        the same document (dedupe key `<kind>:<invoice_id>`: a replay adds nothing) and move
        its delivery row (a channel step's). `pending`: per follower kind of a channel, its
        delivery row, written "pending" with the new job so the log shows what is queued."""
        with self._write() as conn:
            now = self._now()
            if not jobs.complete(conn, job_id, worker_id, result, now):
                return False
            _log_delivery(conn, job_id, delivery, now)
            done = jobs.get(conn, job_id) if then else None  # most completions have none
            for kind, payload in then:
                if done is None or done.invoice_id is None:
                    raise ValueError(f"job {job_id} has no document for its follow-up {kind!r}")
                new = jobs.enqueue(
                    conn, kind, payload, dedupe_key=f"{kind}:{done.invoice_id}", run_at=now,
                    now=now, shop=done.shop, order_id=done.order_id, invoice_id=done.invoice_id,
                )  # fmt: skip
                if new is not None and pending and kind in pending:
                    _log_delivery(conn, new, pending[kind], now)
            return True

    def retry_job(
        self, job_id: int, worker_id: str, *, error: str, run_at: datetime,
        delivery: DeliveryIn | None = None,
    ) -> bool:  # fmt: skip
        with self._write() as conn:
            now = self._now()
            moved = jobs.finish(
                conn, job_id, worker_id, now, state="retry", run_at=run_at, last_error=error
            )
            if moved:
                _log_delivery(conn, job_id, delivery, now)
            return moved

    def kill_job(
        self, job_id: int, worker_id: str, *, error: str, delivery: DeliveryIn | None = None
    ) -> bool:
        with self._write() as conn:
            now = self._now()
            moved = jobs.finish(conn, job_id, worker_id, now, state="dead", last_error=error)
            if moved:
                _log_delivery(conn, job_id, delivery, now)
            return moved

    def skip_job(
        self, job_id: int, worker_id: str, *, reason: str, delivery: DeliveryIn | None = None
    ) -> bool:
        with self._write() as conn:
            now = self._now()
            moved = jobs.finish(conn, job_id, worker_id, now, state="skipped", last_error=reason)
            if moved:
                _log_delivery(conn, job_id, delivery, now)
            return moved

    def release_job(self, job_id: int, worker_id: str) -> bool:
        with self._write() as conn:
            return jobs.release(conn, job_id, worker_id, self._now())

    def requeue_job(self, job_id: int) -> bool:
        with self._write() as conn:
            return jobs.requeue(conn, job_id, self._now())

    def get_job(self, job_id: int) -> JobRecord | None:
        with self._read() as conn:
            return jobs.get(conn, job_id)

    def list_jobs(
        self, states: Sequence[str] = ("dead", "skipped"), *, limit: int | None = None
    ) -> list[JobRecord]:
        unknown = set(states) - set(JOB_STATES)
        if unknown:
            raise ValueError(f"unknown job states {sorted(unknown)}; expected {JOB_STATES}")
        with self._read() as conn:
            return jobs.list_by_state(conn, states, limit)

    def job_counts(self) -> dict[str, int]:
        """Every state, zeros included."""
        with self._read() as conn:
            return jobs.counts(conn)


def _log_delivery(
    conn: Connection, job_id: int, delivery: DeliveryIn | None, now: datetime
) -> None:
    """Record the delivery row of a channel job with its move."""
    if delivery is None:
        return
    job = jobs.get(conn, job_id)
    if job is None or job.invoice_id is None:
        return
    deliveries.record(
        conn, job_id=job_id, invoice_id=job.invoice_id, attempts=job.attempts, entry=delivery,
        now=now,
    )  # fmt: skip
