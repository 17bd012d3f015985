"""`quittance run` as a real subprocess: health endpoints, SIGTERM without losing work."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from bridge.config import load_settings
from bridge.demo import SAMPLES_DIR, write_demo_config
from bridge.devsmtp import CaptureSMTPServer, free_port
from bridge.model import Order
from bridge.pipeline import Services, submit_order, verify_archive

pytestmark = pytest.mark.slow


def write_config(tmp_path: Path, smtp_port: int, http_port: int) -> Path:
    return write_demo_config(
        tmp_path, smtp_port, http_port=http_port,
        extra="\n[jobs]\nlease_seconds = 5\nbackoff_initial_seconds = 1\nbackoff_max_seconds = 2\n",
    )  # fmt: skip


def orders(count: int) -> list[Order]:
    base = Order.model_validate_json((SAMPLES_DIR / "01_fr_b2c_card_coupon.json").read_bytes())
    customer = base.customer
    return [
        base.model_copy(
            update={
                "order_id": f"b{i}",
                "reference": f"#B{i}",
                "customer": customer.model_copy(update={"email": f"client{i}@example.fr"}),
            }
        )
        for i in range(count)
    ]


def start_service(config: Path, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "bridge.cli", "run", "-c", str(config), "--workers", "2"],
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def wait_healthy(port: int, proc: subprocess.Popen[bytes], timeout: float = 30) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        assert proc.poll() is None, "service exited during start-up"
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).ok:
                return time.monotonic() - started
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    raise AssertionError("service did not answer /healthz")


def test_health_endpoints_and_sigterm_during_a_burst_loses_nothing(tmp_path: Path) -> None:
    http_port = free_port()
    log = tmp_path / "service.log"
    with CaptureSMTPServer() as smtp:
        config = write_config(tmp_path, smtp.port, http_port)
        svc = Services.from_settings(load_settings(config, environ={}))
        try:
            proc = start_service(config, log)
            wait_healthy(http_port, proc)
            base = f"http://127.0.0.1:{http_port}"
            assert requests.get(f"{base}/readyz", timeout=5).json() == {"status": "ready"}
            unknown = requests.post(f"{base}/webhooks/woocommerce/nope", data=b"{}", timeout=5)
            assert unknown.status_code == 404

            for order in orders(100):
                submit_order(svc, order)
            # Let the workers get going (a cold start compiles modules), then stop mid-burst.
            deadline = time.monotonic() + 30
            while svc.store.job_counts()["done"] < 10 and time.monotonic() < deadline:
                time.sleep(0.05)
            metrics = requests.get(f"{base}/metrics", timeout=5).text
            assert 'quittance_jobs{state="done"}' in metrics
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0
            done_at_stop = svc.store.job_counts()["done"]

            proc = start_service(config, log)
            wait_healthy(http_port, proc)
            deadline = time.monotonic() + 150
            while time.monotonic() < deadline:
                counts = svc.store.job_counts()
                if counts["done"] == 300 or counts["dead"]:
                    break
                time.sleep(0.5)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0
            counts = svc.store.job_counts()
            assert counts["done"] == 300 and counts["dead"] == 0, counts
            assert 0 < done_at_stop < 300, "the SIGTERM did not land mid-burst"
            numbers = [inv.sequence for inv in svc.store.iter_invoices()]
            assert sorted(numbers) == list(range(1, 101))
            assert verify_archive(svc.store, svc.archive)[1] == []
            recipients = [r.rcpt_tos[0] for r in smtp.received]
            assert sorted(recipients) == sorted(f"client{i}@example.fr" for i in range(100))
        finally:
            svc.close()
    lines = [json.loads(x) for x in log.read_text().splitlines() if x.startswith("{")]
    assert any(line.get("event") == "shutting down" for line in lines)
