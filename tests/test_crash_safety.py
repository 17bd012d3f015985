"""Crash safety, for real: a `quittance worker` process SIGKILLed at random moments.

200 valid, distinct orders are submitted; a real worker process (`quittance worker
--concurrency 1`, i.e. the worker runs in the CLI process itself) works through them against a
real SMTP server on loopback, and is killed with SIGKILL at least 20 times at random moments
while it is busy, then restarted. Afterwards a `--once` worker drains what is left (jobs of
killed workers come back when their 1 s lease runs out). Then:

- exactly 200 invoices, numbered 1..200 with no gap (invariants 1 and 2),
- every archived PDF and chain link verifies (invariant 5),
- every customer received at least one email, and duplicates <= kills (a kill between the
  SMTP "250" and the job's `done` is the only way to send twice; one worker = one in flight),
- no job is dead, none is left waiting or running (invariant 4).

Run: `.venv/bin/pytest -m slow tests/test_crash_safety.py -s` (-s prints the tally).
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from bridge.config import load_settings
from bridge.demo import DEMO_CONFIG
from bridge.devsmtp import CaptureSMTPServer
from bridge.model import Order
from bridge.pipeline import Services, submit_order, verify_archive
from bridge.store.schema import jobs as jobs_table

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "bridge" / "samples" / "01_fr_b2c_card_coupon.json"

ORDERS = 200
MIN_KILLS = 20
LEASE_SECONDS = 1
SEED = 20261128
DEADLINE_S = 150  # hard stop for the whole test, so a hang fails instead of blocking CI

pytestmark = pytest.mark.slow


def make_orders(count: int) -> list[Order]:
    base = json.loads(SAMPLE.read_text(encoding="utf-8"))
    orders = []
    for i in range(count):
        data = json.loads(json.dumps(base))
        data["order_id"] = str(50000 + i)
        data["reference"] = f"#{50000 + i}"
        data["customer"]["email"] = f"client{i:04d}@example.fr"
        data["payment"]["transaction_ref"] = f"ch_crash_{i:04d}"
        orders.append(Order.model_validate(data))
    return orders


def write_config(tmp_path: Path, database_url: str, smtp_port: int) -> Path:
    cfg = tmp_path / "quittance.toml"
    cfg.write_text(
        DEMO_CONFIG.read_text(encoding="utf-8")
        + f"""
[storage]
database_url = "{database_url}"
archive_dir = "{tmp_path / "archive"}"

[email]
host = "127.0.0.1"
port = {smtp_port}
security = "none"
from_address = "bonjour@latheiere.example.fr"
from_name = "La Théière"
timeout = 10

[jobs]
lease_seconds = {LEASE_SECONDS}
backoff_initial_seconds = 1
backoff_max_seconds = 2
quick_retries = 1

[logging]
level = "WARNING"
format = "json"
""",
        encoding="utf-8",
    )
    return cfg


def worker_cmd(cfg: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "bridge.cli", "worker", "--config", str(cfg), *extra]


def spawn_worker(cfg: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as err:
        return subprocess.Popen(
            worker_cmd(cfg, "--concurrency", "1"),
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=err,
            env={**os.environ, "QUITTANCE_CONFIG": ""},
        )


def unfinished(svc: Services) -> int:
    counts = svc.store.job_counts()
    return counts["pending"] + counts["retry"] + counts["running"]


def has_claimed(svc: Services, worker_id: str) -> bool:
    with svc.store.engine.connect() as conn:
        row = conn.execute(
            select(jobs_table.c.id).where(jobs_table.c.lease_owner == worker_id).limit(1)
        ).first()
    return row is not None


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'quittance.db'}"
    return request.getfixturevalue("pg_url")


def test_sigkilled_worker_loses_nothing_and_numbers_stay_gapless(
    tmp_path: Path, database_url: str
) -> None:
    started = time.monotonic()
    rng = random.Random(SEED)
    orders = make_orders(ORDERS)
    log = tmp_path / "worker.log"
    with CaptureSMTPServer(None) as smtp:
        cfg = write_config(tmp_path, database_url, smtp.port)
        svc = Services.from_settings(load_settings(cfg, environ={}))
        try:
            for order in orders:
                assert submit_order(svc, order) is not None

            # Phase 1: kill a busy worker at random moments, restart it each time.
            kills = 0
            host = socket.gethostname()
            while kills < MIN_KILLS and unfinished(svc):
                assert time.monotonic() - started < DEADLINE_S, f"stuck after {kills} kills"
                proc = spawn_worker(cfg, log)
                worker_id = f"{host}:{proc.pid}/0"
                # Start-up (imports, migrations) takes ~1 s: aim the kill at the job loop.
                while not has_claimed(svc, worker_id):
                    assert proc.poll() is None, f"worker exited with {proc.returncode}: {log}"
                    assert time.monotonic() - started < DEADLINE_S, "worker never claimed a job"
                    time.sleep(0.01)
                time.sleep(rng.uniform(0.05, 0.6))
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=10)
                assert proc.returncode == -signal.SIGKILL
                kills += 1
            assert kills >= MIN_KILLS, f"the work ended after only {kills} kills"
            killed_at = time.monotonic() - started
            left_after_kills = svc.store.job_counts()

            # Phase 2: `--once` workers until nothing waits; a killed job's lease must expire.
            while unfinished(svc):
                assert time.monotonic() - started < DEADLINE_S, (
                    f"jobs left: {svc.store.job_counts()}"
                )
                with log.open("ab") as err:
                    subprocess.run(
                        worker_cmd(cfg, "--concurrency", "1", "--once"),
                        cwd=ROOT,
                        check=True,
                        stdout=subprocess.DEVNULL,
                        stderr=err,
                        timeout=120,
                    )
                if unfinished(svc):
                    time.sleep(LEASE_SECONDS + 0.1)

            counts = svc.store.job_counts()
            invoices = list(svc.store.iter_invoices())
            checked, problems = verify_archive(svc.store, svc.archive)
        finally:
            svc.close()
        received = list(smtp.received)

    elapsed = time.monotonic() - started
    per_customer = Counter(rcpt.lower() for r in received for rcpt in r.rcpt_tos)
    duplicates = len(received) - ORDERS
    print(
        f"\ncrash safety [{database_url.split(':')[0]}]: {kills} SIGKILLs, "
        f"{len(received)} emails ({duplicates} duplicates), {len(invoices)} invoices, "
        f"jobs {counts}, {elapsed:.1f} s (kill phase ended at {killed_at:.1f} s with "
        f"{left_after_kills})"
    )

    assert counts["dead"] == 0, svc.store.list_jobs(states=("dead",))
    assert counts["skipped"] == 0
    assert counts["done"] == 3 * ORDERS  # issue + render + email per order
    assert len(invoices) == ORDERS
    assert sorted(inv.sequence for inv in invoices) == list(range(1, ORDERS + 1))
    assert len({inv.number for inv in invoices}) == ORDERS
    assert {inv.order_id for inv in invoices} == {o.order_id for o in orders}
    assert all(inv.pdf_sha256 for inv in invoices)
    assert checked == ORDERS
    assert problems == [], problems
    expected = {o.customer.email.lower() for o in orders if o.customer.email}
    assert len(expected) == ORDERS
    missing = expected - set(per_customer)
    assert not missing, f"{len(missing)} customers got no email, e.g. {sorted(missing)[:5]}"
    assert set(per_customer) == expected
    assert 0 <= duplicates <= kills, f"{duplicates} duplicate emails for {kills} kills"
