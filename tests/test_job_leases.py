"""A running job's lease lives as long as its step, no longer: renewed by a heartbeat, checked
again just before the document is handed over, given up past the step timeout. Against a real
SMTP server on loopback whose replies the test holds back; time moves through the store clock.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bridge.pipeline import submit_order
from bridge.services import Services
from bridge.store import JobRecord
from bridge.worker import run_job
from tests.support.clock import Clock
from tests.support.config import settings_for
from tests.support.orders import orders_by_id
from tests.support.smtp import HeldHandler, SMTPServer
from tests.support.waiting import HANG, eventually

pytestmark = pytest.mark.filterwarnings("ignore:'imghdr' is deprecated:DeprecationWarning")

LEASE = 160  # TEST_JOBS: lease_seconds (heartbeat 1 s)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def services(tmp_path: Path, port: int, clock: Clock, **jobs: Any) -> Services:
    return Services.from_settings(
        settings_for(tmp_path, smtp_port=port, jobs=jobs or None), clock=clock
    )


def timing_out(tmp_path: Path, port: int, clock: Clock) -> Services:
    """Services whose steps time out after 600 s ([jobs] step_timeout_seconds)."""
    return services(
        tmp_path, port, clock,
        lease_seconds=LEASE, heartbeat_seconds=1, step_timeout_seconds=600,
        backoff_initial_seconds=60, backoff_max_seconds=600, give_up_after_hours=1,
    )  # fmt: skip


def email_ready(svc: Services) -> JobRecord:
    """Order 1001 issued and rendered: its email job is the one left to claim."""
    submit_order(svc, orders_by_id()["1001"])
    while jobs := svc.store.claim_jobs("prep", kinds=["issue", "render"]):
        for job in jobs:
            run_job(svc, job, "prep")
    (job,) = svc.store.claim_jobs("w1", kinds=["email"], lease=timedelta(seconds=LEASE))
    return job


@contextmanager
def email_step_held(svc: Services, handler: HeldHandler) -> Iterator[tuple[JobRecord, list[str]]]:
    """Order 1001's email step running (worker "w1", in a thread) and held by the server;
    let go and joined on the way out. Yields the job and, once out, what run_job answered."""
    job = email_ready(svc)
    outcome: list[str] = []
    thread = threading.Thread(target=lambda: outcome.append(run_job(svc, job, "w1")))
    thread.start()
    try:
        assert handler.arrived.wait(HANG)
        yield job, outcome
    finally:
        handler.release.set()
        thread.join(HANG)


@pytest.fixture
def held_at_data() -> Iterator[tuple[SMTPServer, HeldHandler]]:
    handler = HeldHandler("data")
    with SMTPServer(handler) as server:
        yield server, handler
    handler.release.set()


@pytest.fixture
def held_at_ehlo() -> Iterator[tuple[SMTPServer, HeldHandler]]:
    handler = HeldHandler("ehlo")
    with SMTPServer(handler) as server:
        yield server, handler
    handler.release.set()


def lease_end(svc: Services, job_id: int) -> Any:
    job = svc.store.get_job(job_id)
    assert job is not None
    return job.lease_until


def test_a_send_slower_than_the_lease_keeps_it_and_sends_once(
    tmp_path: Path, clock: Clock, held_at_data: tuple[SMTPServer, HeldHandler]
) -> None:
    smtp, handler = held_at_data
    svc = services(tmp_path, smtp.port, clock)
    with closing(svc), email_step_held(svc, handler) as (job, outcome):
        for _ in range(3):  # three leases go by while the server sits on the message
            before = lease_end(svc, job.id)
            clock.advance(seconds=LEASE - 10)
            eventually("a heartbeat", lambda b=before: lease_end(svc, job.id) > b)  # type: ignore[misc]
            assert svc.store.claim_jobs("w2", kinds=["email"]) == []
    assert outcome == ["done"]
    assert len(smtp.received) == 1


@dataclass
class TakenOver:
    svc: Services
    smtp: SMTPServer
    job: JobRecord  # as the second worker claimed it
    outcome: list[str]  # what the first worker's run_job answered


@pytest.fixture
def taken_over(
    tmp_path: Path,
    clock: Clock,
    held_at_ehlo: tuple[SMTPServer, HeldHandler],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[TakenOver]:
    """The first worker stalls (no heartbeat gets through) while it connects: its lease lapses
    and another worker takes the job over before the first one reaches the message."""
    monkeypatch.setattr("bridge.heartbeat.TICK_SECONDS", HANG)
    smtp, handler = held_at_ehlo
    with closing(services(tmp_path, smtp.port, clock)) as svc:
        with email_step_held(svc, handler) as (_, outcome):
            clock.advance(seconds=LEASE + 1)
            lease = timedelta(seconds=LEASE)
            (taken,) = svc.store.claim_jobs("w2", kinds=["email"], lease=lease)
        yield TakenOver(svc, smtp, taken, outcome)


def test_a_worker_whose_lease_was_taken_over_sends_nothing(taken_over: TakenOver) -> None:
    assert taken_over.outcome == ["lost"]
    assert taken_over.smtp.received == []


def test_the_taken_over_job_keeps_its_new_owner(taken_over: TakenOver) -> None:
    after = taken_over.svc.store.get_job(taken_over.job.id)
    assert after is not None and after.state == "running" and after.lease_owner == "w2"


def test_the_new_owner_sends_the_email_once(taken_over: TakenOver) -> None:
    assert run_job(taken_over.svc, taken_over.job, "w2") == "done"
    assert len(taken_over.smtp.received) == 1


@dataclass
class Overran:
    svc: Services
    smtp: SMTPServer
    job: JobRecord  # as recorded once the step was given up
    outcome: list[str]  # what run_job answered once the hung call returned


@pytest.fixture
def overran(
    tmp_path: Path, clock: Clock, held_at_ehlo: tuple[SMTPServer, HeldHandler]
) -> Iterator[Overran]:
    """An email step hung in the server's greeting past [jobs] step_timeout_seconds (600 s),
    then let go once the worker gave it up."""
    smtp, handler = held_at_ehlo
    with closing(timing_out(tmp_path, smtp.port, clock)) as svc:
        with email_step_held(svc, handler) as (job, outcome):
            clock.advance(seconds=601)
            stopped = eventually(
                "the step given up",
                lambda: (j := svc.store.get_job(job.id)) is not None and j.state == "retry" and j,
            )
        yield Overran(svc, smtp, stopped, outcome)


def test_a_step_past_its_timeout_is_retried_later(overran: Overran) -> None:
    assert "step_timeout_seconds" in (overran.job.last_error or "")
    assert overran.job.run_at > overran.svc.store.clock()


def test_a_step_past_its_timeout_sends_nothing(overran: Overran) -> None:
    assert overran.outcome == ["lost"]
    assert overran.smtp.received == []


def test_the_delivery_log_says_why_a_step_past_its_timeout_waits(overran: Overran) -> None:
    (row,) = overran.svc.store.deliveries_for_order("1001")
    assert row.status == "retrying" and "step_timeout_seconds" in row.detail


def test_a_heartbeat_does_not_outlive_its_step(
    tmp_path: Path, clock: Clock, held_at_data: tuple[SMTPServer, HeldHandler]
) -> None:
    smtp, handler = held_at_data
    handler.release.set()
    with closing(services(tmp_path, smtp.port, clock)) as svc:
        job = email_ready(svc)
        assert run_job(svc, job, "w1") == "done"
    assert not [t for t in threading.enumerate() if t.name == f"lease-{job.id}"]


def test_a_send_that_would_outlast_the_step_timeout_is_not_started(
    tmp_path: Path, clock: Clock, held_at_ehlo: tuple[SMTPServer, HeldHandler]
) -> None:
    # Started this close to the timeout, the timeout would retry the job while the message is
    # on its way, and the retry would send it again: the send is refused, the job waits.
    smtp, handler = held_at_ehlo
    with closing(timing_out(tmp_path, smtp.port, clock)) as svc:
        with email_step_held(svc, handler) as (job, outcome):
            clock.advance(seconds=590)  # a send (5 replies × 3 s) would end past 600 s
        after = svc.store.get_job(job.id)
    assert outcome == ["retry"] and smtp.received == []
    assert after is not None and "too close to its timeout" in (after.last_error or "")


def test_a_step_past_its_timeout_during_a_send_is_not_retried_under_it(
    tmp_path: Path, clock: Clock, held_at_data: tuple[SMTPServer, HeldHandler]
) -> None:
    # The message is on its way when the timeout comes: a retry would send it a second time.
    smtp, handler = held_at_data
    svc = timing_out(tmp_path, smtp.port, clock)
    with closing(svc), email_step_held(svc, handler) as (job, outcome):
        before = lease_end(svc, job.id)
        clock.advance(seconds=601)
        eventually("a heartbeat past the timeout", lambda: lease_end(svc, job.id) > before)
        assert svc.store.get_job(job.id).state == "running"  # type: ignore[union-attr]
    assert outcome == ["done"] and len(smtp.received) == 1
