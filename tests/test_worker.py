"""The worker's durable retry policy against a real SMTP server on loopback: quick retries,
permanent failures, outages with backoff, giving up, expired leases, secrets kept out of logs.
Time moves through the store clock, never by sleeping."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import structlog

from bridge.devsmtp import free_port
from bridge.logs import configure_logging
from bridge.outages import check_outages
from bridge.pipeline import submit_order
from bridge.services import Services
from bridge.store import JobRecord
from bridge.worker import Backoff, run_job, work
from tests.support.clock import Clock
from tests.support.config import settings_for
from tests.support.hook import Hook
from tests.support.orders import orders_by_id
from tests.support.smtp import SMTP_PASSWORD, SMTP_USER, ScriptedHandler, SMTPServer
from tests.support.waiting import HANG

pytestmark = [
    pytest.mark.filterwarnings("ignore:'imghdr' is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning"),
    pytest.mark.filterwarnings("ignore:Remove `format_exc_info`:UserWarning"),
]

REJECT = "550 5.1.1 Mailbox unavailable"


@pytest.fixture(autouse=True)
def _json_logs() -> Iterator[None]:
    configure_logging("DEBUG", "json")
    yield
    structlog.reset_defaults()


@pytest.fixture
def hook() -> Iterator[Hook]:
    with Hook() as h:
        yield h


def email_job(svc: Services, order_id: str = "1001") -> JobRecord:
    for state in ("pending", "running", "retry", "done", "dead", "skipped"):
        for job in svc.store.list_jobs(states=(state,)):
            if job.kind == "email" and job.order_id == order_id:
                return job
    raise AssertionError(f"no email job for order {order_id}")


def run_until_email(svc: Services, worker_id: str = "w1") -> None:
    """Run issue and render (not email) for everything queued."""
    while jobs := svc.store.claim_jobs(worker_id, kinds=["issue", "render"]):
        for job in jobs:
            run_job(svc, job, worker_id)


# --------------------------------------------------------------------------- backoff


def test_backoff_doubles_and_is_capped() -> None:
    policy = Backoff(
        initial=timedelta(seconds=60),
        maximum=timedelta(seconds=600),
        give_up_after=timedelta(hours=1),
    )
    delays = [policy.delay(n).total_seconds() for n in range(0, 8)]
    assert delays == [60, 60, 120, 240, 480, 600, 600, 600]
    assert policy.delay(1000) == timedelta(seconds=600)


# --------------------------------------------------------------------------- transient


def test_451_twice_then_accepted_is_delivered_once(tmp_path: Path) -> None:
    handler = ScriptedHandler(["451 4.3.0 Try again later"] * 2)
    with SMTPServer(handler) as smtp:
        svc = Services.from_settings(settings_for(tmp_path, smtp_port=smtp.port, quick_retries=2))
        try:
            submit_order(svc, orders_by_id()["1001"])
            work(svc, once=True)
            job = email_job(svc)
            assert job.state == "done" and job.attempts == 1
            assert handler.data_calls == 3
            assert len(smtp.received) == 1
        finally:
            svc.close()


def test_server_down_retries_with_backoff_then_delivers(tmp_path: Path) -> None:
    clock = Clock()
    port = free_port()  # nothing listens there yet
    svc = Services.from_settings(settings_for(tmp_path, smtp_port=port), clock=clock)
    try:
        submit_order(svc, orders_by_id()["1001"])
        before = clock()
        work(svc, once=True)
        job = email_job(svc)
        assert job.state == "retry" and job.attempts == 1
        expected = before + timedelta(seconds=60)
        assert abs((job.run_at - expected).total_seconds()) < 5
        assert "127.0.0.1" in (job.last_error or "")

        assert work(svc, once=True) == 0  # not due yet
        clock.advance(seconds=30)
        assert work(svc, once=True) == 0
        assert email_job(svc).state == "retry"

        with SMTPServer(port=port) as smtp:
            clock.advance(seconds=31)
            assert work(svc, once=True) == 1
            job = email_job(svc)
            assert job.state == "done" and job.attempts == 2
            assert len(smtp.received) == 1
    finally:
        svc.close()


def test_second_failure_backs_off_twice_as_long(tmp_path: Path) -> None:
    clock = Clock()
    svc = Services.from_settings(settings_for(tmp_path, smtp_port=free_port()), clock=clock)
    try:
        submit_order(svc, orders_by_id()["1001"])
        work(svc, once=True)
        clock.advance(seconds=61)
        now = clock()
        assert work(svc, once=True) == 1
        job = email_job(svc)
        assert job.state == "retry" and job.attempts == 2
        assert abs((job.run_at - (now + timedelta(seconds=120))).total_seconds()) < 5
    finally:
        svc.close()


def test_gives_up_after_the_configured_delay(tmp_path: Path, hook: Hook) -> None:
    clock = Clock()
    svc = Services.from_settings(
        settings_for(tmp_path, smtp_port=free_port(), alert_url=hook.url), clock=clock
    )
    try:
        submit_order(svc, orders_by_id()["1001"])
        work(svc, once=True)
        assert email_job(svc).state == "retry"
        assert hook.posts == []
        clock.advance(hours=1, seconds=1)  # give_up_after_hours = 1
        assert work(svc, once=True) == 1
        job = email_job(svc)
        assert job.state == "dead"
        assert "gave up" in (job.last_error or "")
        check_outages(svc)  # the minute's outage check tells the owner
        assert len(hook.posts) == 1
        assert "email" in hook.posts[0]["title"].lower()
    finally:
        svc.close()


# --------------------------------------------------------------------------- permanent


def test_550_is_dead_at_once_one_alert_then_retry_delivers(tmp_path: Path, hook: Hook) -> None:
    handler = ScriptedHandler()
    handler.reject_all(REJECT)
    with SMTPServer(handler) as smtp:
        svc = Services.from_settings(
            settings_for(tmp_path, smtp_port=smtp.port, alert_url=hook.url, quick_retries=2)
        )
        try:
            orders = orders_by_id()
            for oid in ("1001", "1002", "1003"):
                submit_order(svc, orders[oid])
            work(svc, once=True)
            dead = svc.store.list_jobs(states=("dead",))
            assert sorted(j.order_id for j in dead) == ["1001", "1002", "1003"]
            assert all(j.kind == "email" and j.attempts == 1 for j in dead)
            assert all("550" in (j.last_error or "") for j in dead)
            assert handler.data_calls == 3  # no quick retries of a permanent failure
            check_outages(svc)
            assert len(hook.posts) == 1  # same cause, one alert
            assert [j.id for j in svc.store.list_jobs()] == [j.id for j in dead]

            handler.accept_all()
            for job in dead:
                assert svc.store.requeue_job(job.id)
            assert svc.store.requeue_job(dead[0].id) is False  # already pending
            work(svc, once=True)
            assert len(smtp.received) == 3
            assert all(email_job(svc, oid).state == "done" for oid in ("1001", "1002", "1003"))
            assert svc.store.list_jobs() == []
        finally:
            svc.close()


def test_login_failure_is_dead_and_the_password_never_shows(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], hook: Hook
) -> None:
    configure_logging("DEBUG", "json")  # after capfd is active: logs go to its stderr
    with SMTPServer(auth=True) as smtp:
        svc = Services.from_settings(
            settings_for(
                tmp_path,
                smtp_port=smtp.port,
                username=SMTP_USER,
                password=SMTP_PASSWORD,
                alert_url=hook.url,
                quick_retries=2,
            )
        )
        try:
            submit_order(svc, orders_by_id()["1001"])
            work(svc, once=True)
            job = email_job(svc)
            assert job.state == "dead" and job.attempts == 1
            assert "535" in (job.last_error or "") or "auth" in (job.last_error or "").lower()
            assert smtp.received == []
            check_outages(svc)
            assert len(hook.posts) == 1
            events = svc.store.events(limit=1000)
        finally:
            svc.close()
    out, err = capfd.readouterr()
    assert "email.failed" in out + err  # the failure was logged (structlog, JSON)...
    for text in (out, err, job.last_error or "", repr(events), repr(hook.posts)):
        assert SMTP_PASSWORD not in text  # ...without the password


def test_unexpected_smtp_failure_console_log_hides_the_password(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure nobody foresaw is logged with its traceback (console format, as on a
    terminal) and retried; the traceback shows no password."""
    configure_logging("INFO", "console")  # after capfd is active: logs go to its stderr

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("something nobody foresaw")

    monkeypatch.setattr(smtplib.SMTP, "send_message", broken)
    with SMTPServer() as smtp:
        svc = Services.from_settings(
            settings_for(tmp_path, smtp_port=smtp.port, username="", password=SMTP_PASSWORD)
        )
        try:
            submit_order(svc, orders_by_id()["1001"])
            run_until_email(svc)
            (job,) = svc.store.claim_jobs("w1", kinds=["email"])
            assert run_job(svc, job, "w1") == "retry"
        finally:
            svc.close()
    out, err = capfd.readouterr()
    assert "something nobody foresaw" in out + err
    assert SMTP_PASSWORD not in out + err


# --------------------------------------------------------------------------- leases


def test_job_of_a_dead_worker_is_taken_over_after_its_lease(tmp_path: Path) -> None:
    clock = Clock()
    with SMTPServer() as smtp:
        svc = Services.from_settings(settings_for(tmp_path, smtp_port=smtp.port), clock=clock)
        try:
            submit_order(svc, orders_by_id()["1001"])
            run_until_email(svc)
            (claimed,) = svc.store.claim_jobs(
                "ghost", kinds=["email"], lease=timedelta(seconds=2)
            )  # ...and the ghost dies here
            assert work(svc, worker_id="w2", once=True) == 0  # lease still held
            assert smtp.received == []

            clock.advance(seconds=3)
            assert work(svc, worker_id="w2", once=True) == 1
            job = email_job(svc)
            assert job.state == "done" and job.attempts == 2 and job.lease_owner == "w2"
            assert len(smtp.received) == 1
            # the ghost coming back cannot overwrite the new owner's outcome
            assert svc.store.complete_job(claimed.id, "ghost", {"x": 1}) is False
            assert svc.store.kill_job(claimed.id, "ghost", error="late") is False
            assert email_job(svc).state == "done"
        finally:
            svc.close()


def test_worker_survives_a_database_outage(tmp_path: Path) -> None:
    """A failing claim (DB restarting) is logged and retried; the worker keeps running."""
    import threading

    from sqlalchemy.exc import OperationalError

    svc = Services.from_settings(settings_for(tmp_path))
    calls = {"n": 0}
    real_claim = svc.store.claim_jobs

    def flaky_claim(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] <= 2:
            raise OperationalError("SELECT", {}, Exception("server closed the connection"))
        stop.set()
        return real_claim(*args, **kwargs)

    stop = threading.Event()
    svc.store.claim_jobs = flaky_claim  # type: ignore[method-assign]
    try:
        worker = threading.Thread(
            target=work, args=(svc,), kwargs={"stop": stop, "idle_sleep": 0.01}, daemon=True
        )
        worker.start()
        worker.join(HANG)  # returns once the third claim sets `stop`: the cap only catches hangs
        assert not worker.is_alive(), "the worker stopped claiming after the outage"
        assert calls["n"] == 3  # two failures survived, third claim went through
    finally:
        svc.close()


def test_a_job_claimed_as_shutdown_arrives_is_handed_back_unrun(tmp_path: Path) -> None:
    """SIGTERM landing between a claim and its run: the job goes back to pending at once (not
    after its lease), without counting an attempt, and its step did not run."""
    import threading

    svc = Services.from_settings(settings_for(tmp_path))
    stop = threading.Event()
    claim = svc.store.claim_jobs

    def claim_then_signal(*args: object, **kwargs: object) -> list[JobRecord]:
        claimed = claim(*args, **kwargs)  # type: ignore[arg-type]
        stop.set()  # the signal handler of `quittance worker` sets this event
        return claimed

    try:
        submit_order(svc, orders_by_id()["1001"])
        svc.store.claim_jobs = claim_then_signal  # type: ignore[method-assign]
        assert work(svc, worker_id="w1", stop=stop) == 0
        (job,) = svc.store.list_jobs(("pending",))
        assert (job.kind, job.attempts, job.lease_owner) == ("issue", 0, None)
        assert list(svc.store.iter_invoices()) == []
    finally:
        svc.close()
