"""Chaos at a small size: two replicas on one database, one shop whose webhooks were lost, and
everything that went wrong in the reliability campaign, in one run with an injected clock
(nothing waits on the wall clock to make a lease lapse):

1. replica A is killed in the middle of a poll; B takes the poll over at its first tick after
   A's lease lapses (one heartbeat), not ten minutes later;
2. the archive's disk is full while the invoices are rendered: one alert for the cause once it
   outlasts [alerts] after_minutes, naming how many documents wait, and one when it clears;
3. an SMTP server sits on a message for longer than two leases: the heartbeat keeps the lease,
   nobody else sends it;
4. workers are killed right after the server accepted an email, before they could record it:
   each such kill costs at most one duplicate, never a lost email.

A kill is a `Killed` (a BaseException): nothing after it runs, no `except Exception` sees it,
the heartbeat stops with the step's `with`, the job stays running under a lease that lapses:
what a SIGKILL leaves in the database. Real sandbox, SMTP server, database (SQLite and
PostgreSQL) and a real full disk (a tmpfs); the same campaign with real SIGKILLs and a
PostgreSQL restart is `bench/chaos.py`.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import bridge.delivery.email as email_module
from bridge.config import load_settings
from bridge.outages import check_outages
from bridge.polling import poll_lease_for
from bridge.service import poll_tick
from bridge.services import Services
from bridge.worker import run_job
from connectors.woocommerce.sandbox import WooSandbox
from tests.contract.harness import WooHarness
from tests.support.bridges import SHOP, WOO_HOOK_SECRET, WOO_KEY, WOO_SECRET
from tests.support.clock import FrozenClock
from tests.support.config import smtp_table, write_config
from tests.support.disks import fill, mounted_tmpfs
from tests.support.hook import Hook
from tests.support.numbering import assert_gapless
from tests.support.shops import woo_shop
from tests.support.smtp import HeldHandler, SMTPServer
from tests.support.waiting import HANG, eventually

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:'imghdr' is deprecated:DeprecationWarning"),
]

ORDERS = 8
HEARTBEAT = 5
POLL_LEASE = poll_lease_for(timedelta(seconds=HEARTBEAT))
JOB_LEASE = 160  # outlives one send at [email] timeout 3 s
KILL_AFTER_SENDS = (2, 5)  # the 2nd and 5th emails are accepted, then their worker dies
JOBS = {
    "lease_seconds": JOB_LEASE, "heartbeat_seconds": HEARTBEAT, "quick_retries": 0,
    "backoff_initial_seconds": 60, "backoff_max_seconds": 600, "give_up_after_hours": 72,
}  # fmt: skip


class Killed(BaseException):
    """A SIGKILL, in one process."""


@dataclass
class Campaign:
    clock: FrozenClock
    wc: WooSandbox
    smtp: SMTPServer
    hold: HeldHandler
    hook: Hook
    disk: Path
    a: Services
    b: Services
    kills: int = 0
    workers: Iterator[int] = field(default_factory=lambda: iter(range(1, 1000)))

    def new_worker(self) -> str:
        return f"w{next(self.workers)}"

    def drain(self, svc: Services, kinds: list[str] | None = None) -> None:
        """Run what is due, as restarted workers: a killed one never comes back."""
        while True:
            try:
                if not _work(svc, self.new_worker(), kinds):
                    return
            except Killed:
                self.kills += 1


def _work(svc: Services, worker: str, kinds: list[str] | None) -> int:
    done = 0
    while jobs := svc.store.claim_jobs(worker, kinds=kinds, lease=timedelta(seconds=JOB_LEASE)):
        for job in jobs:
            run_job(svc, job, worker)
            done += 1
    return done


@contextmanager
def campaign(tmp_path: Path, db_url: str) -> Iterator[Campaign]:
    clock = FrozenClock(datetime.now(UTC))
    hold = HeldHandler("data")
    sandbox = WooSandbox(
        consumer_key=WOO_KEY, consumer_secret=WOO_SECRET, webhook_secret=WOO_HOOK_SECRET,
        seed=False,
    )  # fmt: skip
    mounts = mounted_tmpfs(tmp_path / "disk", "32m")
    disk = next(mounts)
    try:
        with sandbox as wc, SMTPServer(hold) as smtp, Hook() as hook:
            start = wc.now() - timedelta(minutes=30)
            for n in range(ORDERS):
                WooHarness().add_order(
                    wc, 6000 + n, paid=True, modified=start + timedelta(minutes=n)
                )
            cfg = write_config(
                tmp_path / "quittance.toml", database_url=db_url, archive_dir=disk / "archive",
                jobs=JOBS, email=smtp_table(smtp.port),
                alerts={"urls": [hook.url], "after_minutes": 15},
                shops=[woo_shop(SHOP, wc, poll_interval_seconds=300)],
            )  # fmt: skip
            settings = load_settings(cfg, environ={})
            a = Services.from_settings(settings, clock=clock)
            b = Services.from_settings(settings, clock=clock)
            try:
                yield Campaign(clock, wc, smtp, hold, hook, disk, a, b)
            finally:
                hold.release.set()
                a.close()
                b.close()
    finally:
        next(mounts, None)


def kill_a_mid_poll(c: Campaign) -> datetime:
    """A reads and records the shop's page, then dies before the poll is through."""
    connector = c.a.connector(SHOP)
    real = connector.iter_paid_pages

    def dying(since: datetime | None, **kwargs: Any) -> Iterator[Any]:
        yield next(real(since, **kwargs))
        raise Killed

    connector.iter_paid_pages = dying  # type: ignore[method-assign]
    with pytest.raises(Killed):
        poll_tick(c.a, SHOP, "replica-a")
    return c.clock.now


def b_ticks_until_it_polls(c: Campaign) -> datetime:
    """B's scheduler ticks every heartbeat: when does one of them poll?"""
    for _ in range(100):
        c.clock.advance(seconds=HEARTBEAT)
        if poll_tick(c.b, SHOP, "replica-b") is not None:
            return c.clock.now
    raise AssertionError("replica B never took the poll over")


def renders_on_a_full_disk(c: Campaign) -> None:
    c.drain(c.b, ["issue"])
    fill(c.disk)
    c.drain(c.b, ["render"])
    c.clock.advance(minutes=16)  # the outage outlasts [alerts] after_minutes
    c.drain(c.b, ["render"])
    check_outages(c.b)
    (c.disk / "filler").unlink()  # the owner frees the disk
    c.clock.advance(minutes=10)
    c.drain(c.b, ["render"])
    check_outages(c.a)  # any replica's minute check


def a_send_slower_than_two_leases(c: Campaign) -> None:
    """One email's DATA is held while two leases go by; the others must not take it."""
    worker = c.new_worker()
    (job,) = c.b.store.claim_jobs(worker, kinds=["email"], lease=timedelta(seconds=JOB_LEASE))
    thread = threading.Thread(target=run_job, args=(c.b, job, worker))
    thread.start()
    assert c.hold.arrived.wait(HANG)
    for _ in range(4):
        before = c.b.store.get_job(job.id).lease_until  # type: ignore[union-attr]
        c.clock.advance(seconds=JOB_LEASE // 2)
        eventually("a heartbeat", lambda b=before: c.b.store.get_job(job.id).lease_until > b)  # type: ignore[misc,union-attr]
        others = c.a.store.claim_jobs("w-other", limit=50, kinds=["email"])
        assert job.id not in [j.id for j in others]
        for other in others:
            c.a.store.release_job(other.id, "w-other")
    c.hold.release.set()
    thread.join(HANG)


def emails_with_kills(c: Campaign, monkeypatch: pytest.MonkeyPatch) -> None:
    real = email_module._send_once
    sends = Counter[str]()

    def send_then_maybe_die(*args: Any, **kwargs: Any) -> None:
        real(*args, **kwargs)
        sends["n"] += 1
        if sends["n"] in KILL_AFTER_SENDS:
            raise Killed

    monkeypatch.setattr(email_module, "_send_once", send_then_maybe_die)
    c.drain(c.a, ["email", "attach"])
    c.clock.advance(seconds=JOB_LEASE + 1)  # the killed workers' leases lapse
    c.drain(c.b)


def emails_per_invoice(c: Campaign) -> Counter[str]:
    names = Counter[str]()
    for message in c.smtp.received:
        for part in message.iter_attachments():
            names[str(part.get_filename()).removesuffix(".pdf")] += 1
    return names


def test_a_chaos_run_loses_nothing_duplicates_at_most_one_email_per_kill(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with campaign(tmp_path, db_url) as c:
        killed_at = kill_a_mid_poll(c)
        polled_at = b_ticks_until_it_polls(c)
        renders_on_a_full_disk(c)
        a_send_slower_than_two_leases(c)
        emails_with_kills(c, monkeypatch)
        invoices = list(c.b.store.iter_invoices())
        counts = c.b.store.job_counts()
        per_invoice = emails_per_invoice(c)
        takeovers = c.b.store.events(kind="poll.taken_over")
        alerts = [post["title"] for post in c.hook.posts]

    # 1. the dead poll's lease is taken over at the first tick after it lapses
    assert polled_at - (killed_at + POLL_LEASE) <= timedelta(seconds=HEARTBEAT)
    assert len(takeovers) == 1
    # every order invoiced once, numbers gapless, every job through
    assert len(invoices) == ORDERS and len({i.order_id for i in invoices}) == ORDERS
    assert_gapless(invoices, ORDERS)
    assert counts["dead"] == counts["retry"] == counts["running"] == counts["pending"] == 0
    # 2. the full disk: one alert when it lasted, one when it cleared
    assert len(alerts) == 2, alerts
    assert f"{ORDERS} documents" in alerts[0] and "resolved" in alerts[1].lower()
    # 3./4. every customer's email came, at most one copy more per kill
    assert set(per_invoice) == {i.number for i in invoices}
    assert sum(per_invoice.values()) - ORDERS <= c.kills == len(KILL_AFTER_SENDS)
    assert max(per_invoice.values()) <= 2
