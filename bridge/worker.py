"""The job worker: claim a job under a lease, run its step, record what happened.

    pending ─► running (lease) ─► done (+ what follows) | skipped | retry at T | dead

The steps, their order and their rules are declared in `bridge.steps`; this loop only runs
them, and decides from the failure vocabulary (`bridge.failures`) what a failure does next.

Quick retries of transient errors happen inside a step (tenacity, seconds); this loop owns the
durable backoff (minutes to hours) and the decision to give up, so a long SMTP outage costs a
few attempts per job, not a busy loop. A worker killed mid-job loses nothing: its lease
expires and another worker (or the same one restarted) runs the job again.
"""

from __future__ import annotations

import multiprocessing
import os
import secrets
import signal
import socket
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

import structlog

from bridge.config import ConfigError
from bridge.failures import LeaseLost, RetryClass, StepTimedOut, classify_failure
from bridge.handover import handover_check
from bridge.job_lease import JobLease, LeaseTerms
from bridge.logs import bind, unbind_all
from bridge.services import Services, load_process_settings
from bridge.steps import STEPS, JobResult, Pipeline, Skipped, Step, StepRun
from bridge.store import FollowUp, JobRecord
from bridge.store.deliveries import DeliveryIn

log = structlog.get_logger()
MAX_ATTEMPTS = 50
# A worker process that stopped a step past its timeout exits with this (EX_TEMPFAIL): its
# supervisor starts a fresh one.
EXIT_STEP_OVERRAN = 75


@dataclass(frozen=True)
class Backoff:
    initial: timedelta
    maximum: timedelta
    give_up_after: timedelta

    def delay(self, attempts: int) -> timedelta:
        """About 1 min, doubling each attempt, capped (6 h by default)."""
        factor = 2 ** min(max(attempts - 1, 0), (self.maximum // self.initial).bit_length())
        return min(self.initial * factor, self.maximum)


def backoff_from(svc: Services) -> Backoff:
    jobs = svc.settings.jobs
    return Backoff(
        initial=timedelta(seconds=jobs.backoff_initial_seconds),
        maximum=timedelta(seconds=jobs.backoff_max_seconds),
        give_up_after=timedelta(hours=jobs.give_up_after_hours),
    )


def default_worker_id() -> str:
    """host:pid and a few random characters: two containers started the same way share a
    host name and a pid, and one must never renew the other's lease."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def run_job(
    svc: Services, job: JobRecord, worker_id: str, steps: Pipeline = STEPS, *,
    exit_on_overrun: bool = False,
) -> str:  # fmt: skip
    """Run one claimed job to its next state; returns that state. Never raises for a step.

    `exit_on_overrun`: a worker process exits when a step outlives `[jobs]
    step_timeout_seconds` (after recording its retry), so the hung call dies with it and
    the supervisor starts a fresh worker; in-process callers (tests, the demo) only record."""
    bind(job=job.id, job_kind=job.kind, shop=job.shop, order=job.order_id)
    try:
        step = steps.step(job.kind)
        if step is None:
            svc.store.kill_job(job.id, worker_id, error=f"no step for job kind {job.kind!r}")
            return "dead"
        run = StepRun(svc, job, then=())
        if job.attempts > MAX_ATTEMPTS:
            return _give_up_lost(svc, job, worker_id, _delivery(step, run, "failed"))
        try:
            run = StepRun(svc, job, then=steps.follow_ups_for_job(svc, job))
            reason = step.skip(run)
            result = (
                Skipped(reason)
                if reason
                else _run_leased(svc, step, run, worker_id, exit_on_overrun)
            )
        except LeaseLost as exc:
            # Another worker holds the job now: whatever happens next is its run's to record.
            log.warning("step stopped, its lease is lost", error=str(exc), attempts=job.attempts)
            return "lost"
        except Exception as exc:
            return _after_failure(svc, job, worker_id, exc, step=step, run=run)
        if isinstance(result, Skipped):
            skipped = _delivery(step, run, "skipped", detail=result.reason)
            svc.store.skip_job(job.id, worker_id, reason=result.reason, delivery=skipped)
            log.info("step skipped", reason=result.reason)
            return "skipped"
        # `issue` committed its followers with the number; the others' commit with "done".
        then = () if step.opens_document else run.then
        sent = _sent_delivery(step, run, result)
        queued = _queued_deliveries(steps, run, then)
        if not svc.store.complete_job(
            job.id, worker_id, result=result, then=then, delivery=sent, pending=queued
        ):
            # Our lease ran out mid-step and another worker holds the job: its run records
            # the outcome and enqueues the followers (dedupe keys make both runs one).
            log.warning("step finished after its lease was taken over", attempts=job.attempts)
            return "lost"
        return "done"
    finally:
        unbind_all()


def _run_leased(
    svc: Services, step: Step, run: StepRun, worker_id: str, exit_on_overrun: bool
) -> JobResult:
    """The step under its lease: renewed by a heartbeat while it runs, renewed again before
    anything is handed over (`bridge.handover`), given up past the step timeout."""

    def overran(error: str, record: bool) -> None:
        try:  # retried with backoff, dead past the give-up delay, like any failure
            if record:
                _after_failure(svc, run.job, worker_id, StepTimedOut(error), step=step, run=run)
        finally:
            if exit_on_overrun:  # even when the database refused: the hung call must die
                os._exit(EXIT_STEP_OVERRAN)

    terms = LeaseTerms.of(svc.settings.jobs, step.budget(svc, run.job))
    with (
        JobLease(svc.store, run.job, worker_id, terms, on_overrun=overran) as lease,
        handover_check(lease.ensure_held),
    ):
        return step.run(run)


def _delivery(
    step: Step, run: StepRun, status: str, *, external_id: str = "", detail: str = ""
) -> DeliveryIn | None:
    """The delivery log row of a channel step's job as it moves (None for other steps)."""
    if not step.channel:
        return None
    try:
        target = step.target(run)
    except Exception:  # the document cannot be read: the job's own error says why
        target = ""
    return DeliveryIn(step.channel, target, status, external_id, detail[:2000])


def _sent_delivery(step: Step, run: StepRun, result: dict[str, object]) -> DeliveryIn | None:
    """The delivery row of a channel's success: the service's id for what it wrote (the
    message id, the ticket comment), and where exactly it went when the channel says."""
    entry = _delivery(
        step, run, "sent",
        external_id=str(result.get("message_id") or result.get("external_id") or ""),
        detail=str(result.get("detail") or ""),
    )  # fmt: skip
    if entry is not None and result.get("target"):
        entry = replace(entry, target=str(result["target"]))
    return entry


def _queued_deliveries(
    steps: Pipeline, run: StepRun, then: Sequence[FollowUp]
) -> dict[str, DeliveryIn]:
    """The pending delivery rows of the channel steps about to be enqueued. Their target is
    read now, from this job: a follower is on the same document, and a resend's address
    travels in its own job, which writes its own row."""
    out = {}
    for kind, _options in then:
        follower = steps.step(kind)
        if follower is not None and follower.channel:
            entry = _delivery(follower, run, "pending")
            if entry is not None:
                out[kind] = entry
    return out


def _give_up_lost(
    svc: Services, job: JobRecord, worker_id: str, delivery: DeliveryIn | None
) -> str:
    # Normal backoff reaches ~20 attempts in the 72 h give-up window, and a step that hangs
    # is retried with backoff (step timeout); this many starts means its worker process died
    # under it each time (killed, out of memory, a crash in a native library): stop the loop.
    # The outage check (bridge.outages) tells the owner, with the other dead jobs of the cause.
    why = (
        f"started {MAX_ATTEMPTS} times and never finished: its worker process died during "
        "the step each time (killed, out of memory?); see the logs for this job"
    )
    if delivery is not None:
        delivery = replace(delivery, detail=why)
    svc.store.kill_job(job.id, worker_id, error=why, delivery=delivery)
    log.error("job dead", error=why, attempts=job.attempts)
    return "dead"


def _after_failure(
    svc: Services, job: JobRecord, worker_id: str, exc: Exception, *, step: Step, run: StepRun
) -> str:
    failure = classify_failure(exc)
    now = svc.store.clock()  # the store's clock: tests move time without sleeping
    policy = backoff_from(svc)
    first = job.first_attempt_at or job.created_at
    too_long = now - first >= policy.give_up_after
    if failure.retry_class is RetryClass.permanent or too_long:
        why = (
            failure.message
            if not too_long
            else f"gave up after {policy.give_up_after}: {failure.message}"
        )
        failed = _delivery(step, run, "failed", detail=why)
        svc.store.kill_job(job.id, worker_id, error=why, delivery=failed)
        # No alert from here: the outage check groups the dead jobs of one cause into one
        # alert naming them all, within a minute (bridge.outages).
        log.error("job dead", error=why, attempts=job.attempts)
        return "dead"
    # A service that said how long to wait (429 Retry-After) is not asked again sooner, up
    # to the longest backoff: a wait past it would outlast the give-up delay.
    asked = min(failure.retry_after or timedelta(0), policy.maximum)
    run_at = now + max(policy.delay(job.attempts), asked)
    retrying = _delivery(step, run, "retrying", detail=failure.message)
    svc.store.retry_job(job.id, worker_id, error=failure.message, run_at=run_at, delivery=retrying)
    (log.exception if failure.unexpected else log.warning)(
        "step failed, will retry",
        error=failure.message,
        retry_at=run_at.isoformat(),
        attempts=job.attempts,
    )
    return "retry"


def work(
    svc: Services,
    *,
    worker_id: str | None = None,
    once: bool = False,
    stop: threading.Event | None = None,
    idle_sleep: float = 0.5,
    steps: Pipeline = STEPS,
    exit_on_overrun: bool = False,
) -> int:
    """Process jobs until `stop` is set (or, with `once`, until nothing is ready). Returns count.

    A job claimed as the stop arrives is handed back (`release_job`): the next worker takes it
    at once instead of waiting for the lease to expire, and it does not count as an attempt."""
    worker_id = worker_id or default_worker_id()
    lease = timedelta(seconds=svc.settings.jobs.lease_seconds)
    done = 0
    outage = 0
    while not (stop and stop.is_set()):
        try:
            jobs = svc.store.claim_jobs(worker_id, limit=1, lease=lease)
            for job in jobs:
                if stop is not None and stop.is_set():
                    svc.store.release_job(job.id, worker_id)
                    log.info("job handed back on shutdown", job=job.id, job_kind=job.kind)
                    continue
                run_job(svc, job, worker_id, steps, exit_on_overrun=exit_on_overrun)
                done += 1
            outage = 0
        except Exception:
            # The database itself failed (restart, lock timeout): nothing to record it in. The
            # worker must outlive it; a job caught mid-way comes back when its lease expires.
            outage += 1
            log.exception("worker loop error, retrying", consecutive=outage)
            pause = min(2.0**outage, 60.0)
            (stop.wait(pause) if stop else time.sleep(pause))
            continue
        if not jobs:
            if once:
                break
            (stop.wait(idle_sleep) if stop else time.sleep(idle_sleep))
    return done


def watch_parent(parent_pid: int, stop: threading.Event, every: float = 1.0) -> threading.Thread:
    """Stop (after the current job) once the process that started us is gone: a `quittance
    run` killed with SIGKILL must not leave workers running its old configuration, holding
    database connections. Polling the parent's pid rather than the kernel's parent-death
    signal, which fires when the *thread* that forked exits (our supervisor respawns workers
    from a scheduler thread)."""

    def watch() -> None:
        while not stop.wait(every):
            if os.getppid() != parent_pid:
                log.warning("parent process gone, worker stopping", parent=parent_pid)
                stop.set()

    thread = threading.Thread(target=watch, name="parent-watch", daemon=True)
    thread.start()
    return thread


def _worker_process(
    config_path: str | None, once: bool, index: int, parent_pid: int | None = None
) -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    if parent_pid is not None:
        watch_parent(parent_pid, stop)
    try:
        settings = load_process_settings(Path(config_path) if config_path else None)
    except ConfigError as exc:  # the file changed since `run` checked it
        print(f"Configuration error\n{exc}", file=sys.stderr)
        raise SystemExit(2) from None
    svc = Services.from_settings(settings)
    try:
        # A step past its timeout ends this process (exit 75): under `quittance run` or a
        # multi-process `quittance worker` a new one is started, alone its supervisor
        # (systemd's Restart=, Docker's restart policy) starts it again.
        work(
            svc, worker_id=f"{default_worker_id()}/{index}", once=once, stop=stop,
            exit_on_overrun=True,
        )  # fmt: skip
    finally:
        svc.close()


def start_worker_processes(
    config_path: Path | None, count: int, *, once: bool = False
) -> list[multiprocessing.process.BaseProcess]:
    """Spawn `count` worker processes (spawn: no inherited DB connections or locks)."""
    return [spawn_worker(config_path, i, once=once) for i in range(count)]


def spawn_worker(
    config_path: Path | None, index: int, *, once: bool = False
) -> multiprocessing.process.BaseProcess:
    proc = multiprocessing.get_context("spawn").Process(
        target=_worker_process,
        args=(str(config_path) if config_path else None, once, index, os.getpid()),
        name=f"quittance-worker-{index}",
    )
    proc.start()
    return proc


def signal_processes(procs: list[multiprocessing.process.BaseProcess], signum: int) -> None:
    for proc in procs:
        if proc.pid and proc.is_alive():
            os.kill(proc.pid, signum)


def run_worker_processes(config_path: Path | None, concurrency: int, once: bool) -> int:
    """`quittance worker`: N processes (rendering is CPU-bound, the GIL would serialise it)."""
    if concurrency <= 1:
        _worker_process(str(config_path) if config_path else None, once, 0)
        return 0
    procs = start_worker_processes(config_path, concurrency, once=once)
    stopping = threading.Event()

    def forward(signum: int, _frame: object) -> None:
        stopping.set()
        signal_processes(procs, signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    codes: dict[int, int] = {}
    while len(codes) < len(procs):
        for index, proc in enumerate(procs):
            if index in codes or proc.is_alive():
                continue
            if proc.exitcode == EXIT_STEP_OVERRAN and not stopping.is_set() and not once:
                procs[index] = spawn_worker(config_path, index)  # it stopped a hung step
                continue
            codes[index] = proc.exitcode or 0
        stopping.wait(0.5)
    return max(codes.values())
