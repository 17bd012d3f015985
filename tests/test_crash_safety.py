"""Crash safety, for real: a `quittance worker` process SIGKILLed at random moments.

Valid, distinct orders are submitted; a real worker process (`quittance worker
--concurrency 1`, i.e. the worker runs in the CLI process itself) works through them against a
real SMTP server on loopback, and is killed with SIGKILL many times at random moments while it
is busy, then restarted. Afterwards `--once` workers drain what is left (jobs of killed workers
come back when their 1 s lease runs out). Then:

- exactly one invoice per order, numbered 1..N with no gap (invariants 1 and 2),
- every archived PDF and chain link verifies (invariant 5),
- every customer received at least one email, and duplicates <= kills (a kill between the
  SMTP "250" and the job's `done` is the only way to send twice; one worker = one in flight),
- no job is dead, none is left waiting or running (invariant 4).

The suite runs 100 orders and 10 kills; `--full-size` runs 200 orders and 20 kills.
Run: `.venv/bin/pytest -m slow tests/test_crash_safety.py -s --full-size` (-s prints the tally).
"""

from __future__ import annotations

import random
import signal
import socket
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from bridge.audit import verify_archive
from bridge.config import load_settings
from bridge.devsmtp import CaptureSMTPServer
from bridge.pipeline import submit_order
from bridge.services import Services
from bridge.store.schema import jobs as jobs_table
from tests.support.config import smtp_table, write_config
from tests.support.numbering import assert_gapless
from tests.support.orders import distinct_orders
from tests.support.paths import ROOT
from tests.support.service import child_env, queue_idle, quittance_cmd
from tests.support.waiting import HANG, eventually

LEASE_SECONDS = 3
SEED = 20261128

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Campaign:
    orders: int
    kills: int


@pytest.fixture
def campaign(full_size: bool) -> Campaign:
    # as many jobs per kill either way (30), so the queue never drains before the last kill
    return Campaign(200, 20) if full_size else Campaign(100, 10)


def crash_config(tmp_path: Path, database_url: str, smtp_port: int) -> Path:
    return write_config(
        tmp_path / "quittance.toml",
        database_url=database_url,
        # A killed worker's job is taken over LEASE_SECONDS later; one send (5 SMTP replies
        # of at most 0.5 s on loopback) plus a heartbeat fits in that lease.
        email=smtp_table(smtp_port, timeout=0.5),
        jobs={
            "lease_seconds": LEASE_SECONDS,
            "heartbeat_seconds": 0.5,
            "backoff_initial_seconds": 1,
            "backoff_max_seconds": 2,
            "give_up_after_hours": None,
            "quick_retries": 1,
        },
        logging={"level": "WARNING", "format": "json"},
    )


def worker_cmd(cfg: Path, *extra: str) -> list[str]:
    return quittance_cmd("worker", "--config", cfg, "--concurrency", "1", *extra)


def spawn_worker(cfg: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as err:
        return subprocess.Popen(
            worker_cmd(cfg), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err, env=child_env()
        )


def unfinished(svc: Services) -> bool:
    return not queue_idle(svc)


def has_claimed(svc: Services, worker_prefix: str) -> bool:
    """A job is leased by the worker whose id starts `host:pid:` (a random part follows)."""
    with svc.store.engine.connect() as conn:
        row = conn.execute(
            select(jobs_table.c.id)
            .where(jobs_table.c.lease_owner.startswith(worker_prefix, autoescape=True))
            .limit(1)
        ).first()
    return row is not None


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'quittance.db'}"
    return request.getfixturevalue("pg_url")


def test_sigkilled_worker_loses_nothing_and_numbers_stay_gapless(
    tmp_path: Path, database_url: str, campaign: Campaign
) -> None:
    started = time.monotonic()
    rng = random.Random(SEED)
    orders = distinct_orders(campaign.orders)
    log = tmp_path / "worker.log"
    with CaptureSMTPServer(None) as smtp:
        cfg = crash_config(tmp_path, database_url, smtp.port)
        svc = Services.from_settings(load_settings(cfg, environ={}))
        try:
            for order in orders:
                assert submit_order(svc, order) is not None

            # Phase 1: kill a busy worker at random moments, restart it each time.
            kills = 0
            host = socket.gethostname()
            while kills < campaign.kills and unfinished(svc):
                proc = spawn_worker(cfg, log)
                worker_id = f"{host}:{proc.pid}:"

                def claimed(proc=proc, worker_id=worker_id) -> bool:
                    assert proc.poll() is None, f"worker exited with {proc.returncode}: {log}"
                    return has_claimed(svc, worker_id)

                # Start-up (imports, migrations) takes ~1 s: aim the kill at the job loop.
                eventually(f"worker {worker_id} to claim a job", claimed, step=0.01)
                time.sleep(rng.uniform(0.05, 0.6))  # a random moment of its work: not a wait
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=10)
                assert proc.returncode == -signal.SIGKILL
                kills += 1
            assert kills >= campaign.kills, f"the work ended after only {kills} kills"
            killed_at = time.monotonic() - started
            left_after_kills = svc.store.job_counts()

            # Phase 2: `--once` workers until nothing waits; a killed job's lease must expire.
            # each round finishes every job it can claim; a killed job's lease expires within
            # LEASE_SECONDS, so a few rounds always suffice: more means a job is stuck
            for _ in range(20):
                if not unfinished(svc):
                    break
                with log.open("ab") as err:
                    subprocess.run(
                        worker_cmd(cfg, "--once"),
                        cwd=ROOT,
                        check=True,
                        stdout=subprocess.DEVNULL,
                        stderr=err,
                        env=child_env(),
                        timeout=HANG,
                    )
                if unfinished(svc):
                    time.sleep(LEASE_SECONDS + 0.1)  # let the killed worker's lease run out
            assert not unfinished(svc), f"jobs left: {svc.store.job_counts()}"

            counts = svc.store.job_counts()
            invoices = list(svc.store.iter_invoices())
            checked, problems = verify_archive(svc.store, svc.archive)
        finally:
            svc.close()
        received = list(smtp.received)

    elapsed = time.monotonic() - started
    per_customer = Counter(rcpt.lower() for r in received for rcpt in r.rcpt_tos)
    duplicates = len(received) - campaign.orders
    print(
        f"\ncrash safety [{database_url.split(':')[0]}]: {kills} SIGKILLs, "
        f"{len(received)} emails ({duplicates} duplicates), {len(invoices)} invoices, "
        f"jobs {counts}, {elapsed:.1f} s (kill phase ended at {killed_at:.1f} s with "
        f"{left_after_kills})"
    )

    assert counts["dead"] == 0, svc.store.list_jobs(states=("dead",))
    assert counts["skipped"] == 0
    assert counts["done"] == 3 * campaign.orders  # issue + render + email per order
    assert len(invoices) == campaign.orders
    assert_gapless(invoices, campaign.orders)
    assert len({inv.number for inv in invoices}) == campaign.orders
    assert {inv.order_id for inv in invoices} == {o.order_id for o in orders}
    assert all(inv.pdf_sha256 for inv in invoices)
    assert checked == campaign.orders
    assert problems == [], problems
    expected = {o.customer.email.lower() for o in orders if o.customer.email}
    assert len(expected) == campaign.orders
    missing = expected - set(per_customer)
    assert not missing, f"{len(missing)} customers got no email, e.g. {sorted(missing)[:5]}"
    assert set(per_customer) == expected
    assert 0 <= duplicates <= kills, f"{duplicates} duplicate emails for {kills} kills"
