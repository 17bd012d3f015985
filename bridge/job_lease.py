"""A running job's lease, kept for as long as its step runs, and not a moment longer.

    claim (lease) ─ heartbeat every `heartbeat_seconds` ─ … ─ done / retry / dead
                     └ before a hand-over: renewed there and then, or the send is refused
                     └ past `step_timeout_seconds`: no more renewals, retried later

The heartbeat reads the store's clock, so tests move time without sleeping; it ticks a few
times a second on the wall clock to notice. A renewal is one guarded UPDATE: it fails once
another worker took the job over, and from then on every hand-over check raises `LeaseLost`.
A database that cannot be reached is not a loss: the lease holds until it lapses, and the
next beat tries again (the hand-over check refuses to send meanwhile).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import structlog

from bridge.config.service import JobsConfig
from bridge.failures import LeaseLost, TooLateToSend
from bridge.heartbeat import HeartbeatLease
from bridge.store import JobRecord

log = structlog.get_logger()


class LeaseStore(Protocol):
    def clock(self) -> datetime: ...

    def renew_job_lease(self, job_id: int, worker_id: str, lease: timedelta) -> bool: ...


@dataclass(frozen=True)
class LeaseTerms:
    lease: timedelta
    heartbeat: timedelta
    step_timeout: timedelta
    send_budget: timedelta  # the longest this step's hand-over runs after its check

    @classmethod
    def of(cls, jobs: JobsConfig, budget: float) -> LeaseTerms:
        """`budget`: the seconds the step's hand-over may run after its check (an email's
        SMTP replies, a helpdesk's upload and note; see each step's `budget`)."""
        return cls(
            timedelta(seconds=jobs.lease_seconds),
            timedelta(seconds=jobs.heartbeat_seconds),
            timedelta(seconds=jobs.step_timeout_seconds),
            timedelta(seconds=budget),
        )


class JobLease(HeartbeatLease):
    """Context manager around one step's run. `on_overrun(error, record)` is called (from the
    heartbeat thread) when the step outlives `step_timeout`: the worker records the retry
    (`record`) and, in a worker process, exits so the hung call dies with it.

    Once something was handed over, the timeout never records a retry: the retry would send
    it again. The lease is kept while the step finishes (its database calls have their own
    timeouts); only a step still running twice its timeout is abandoned, unrecorded: its
    process exits and the job runs again when the lease lapses, like after a kill."""

    def __init__(
        self,
        store: LeaseStore,
        job: JobRecord,
        worker_id: str,
        terms: LeaseTerms,
        *,
        on_overrun: Callable[[str, bool], None] | None = None,
    ) -> None:
        started = store.clock()
        super().__init__(store.clock, terms.heartbeat, taken_at=started, name=f"lease-{job.id}")
        self._store = store
        self._job = job
        self._worker_id = worker_id
        self.terms = terms
        self._on_overrun = on_overrun
        self._started = started
        self._handed_over_at: datetime | None = None

    def ensure_held(self) -> None:
        """The hand-over check: renew now, so the send that follows fits in a fresh lease.
        A send that could not finish before the step timeout is not started: the timeout
        would retry the job under it, and the retry would send again."""
        if self._lost.is_set():
            raise LeaseLost(self._not_ours())
        now = self._store.clock()
        # a heartbeat of margin: the renewal below and the first reply take time too
        ends = now + self.terms.send_budget + self.terms.heartbeat
        if ends > self._started + self.terms.step_timeout:
            raise TooLateToSend(
                f"the {self._job.kind} step is too close to its timeout "
                f"({int(self.terms.step_timeout.total_seconds())} s, [jobs] "
                "step_timeout_seconds) to start a send: nothing was sent, it runs again later"
            )
        try:
            held = self._renew()
        except Exception as exc:
            raise LeaseLost(
                f"job {self._job.id}: cannot confirm its lease ({type(exc).__name__}), so "
                "nothing is sent; it runs again once its lease lapses"
            ) from None
        if not held:
            raise LeaseLost(self._not_ours())
        with self._lock:
            self._handed_over_at = self._store.clock()

    def _not_ours(self) -> str:
        return (
            f"job {self._job.id} ({self._job.kind}) is no longer this worker's (its lease "
            "was taken over or it ran too long): nothing is sent"
        )

    def _renew_now(self) -> bool:
        return self._store.renew_job_lease(self._job.id, self._worker_id, self.terms.lease)

    def _beat_ends(self, now: datetime) -> bool:
        """Past the step timeout, give the step up, under the lock: neither a hand-over check
        nor the step's end slips in between."""
        with self._lock:
            if self._stop.is_set():
                return True
            ran = now - self._started
            handed = self._handed_over_at is not None
            if ran < self.terms.step_timeout or (handed and ran < 2 * self.terms.step_timeout):
                return False
            self._lost.set()
            self._overrun(record=not handed)
        return True

    def _overrun(self, *, record: bool) -> None:
        error = (
            f"the {self._job.kind} step ran longer than "
            f"{int(self.terms.step_timeout.total_seconds())} s ([jobs] step_timeout_seconds): "
            "stopped, it runs again later"
        )
        log.error("step ran past its timeout", job=self._job.id, job_kind=self._job.kind,
                  recorded=record)  # fmt: skip
        if self._on_overrun is not None:
            self._on_overrun(error, record)
