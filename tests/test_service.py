"""`quittance run` as a real subprocess: health endpoints, SIGTERM without losing work."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from bridge.audit import verify_archive
from bridge.config import load_settings
from bridge.devsmtp import CaptureSMTPServer, free_port
from bridge.pipeline import submit_order
from bridge.services import Services
from tests.support.config import SOON_RETRY_JOBS, smtp_table, write_config
from tests.support.numbering import assert_gapless
from tests.support.orders import distinct_orders
from tests.support.service import log_lines, start_service, stop, wait_healthy
from tests.support.waiting import eventually

pytestmark = pytest.mark.slow


def service_config(tmp_path: Path, smtp_port: int, http_port: int, metrics_port: int) -> Path:
    return write_config(
        tmp_path / "quittance.toml",
        # A killed worker's job comes back after 5 s; one send (5 replies) fits in it.
        email=smtp_table(smtp_port, timeout=0.8),
        jobs={**SOON_RETRY_JOBS, "lease_seconds": 5, "heartbeat_seconds": 1},
        server={"host": "127.0.0.1", "port": http_port, "metrics_port": metrics_port},
        logging={"format": "json"},
    )


def test_health_endpoints_and_sigterm_during_a_burst_loses_nothing(tmp_path: Path) -> None:
    http_port, metrics_port = free_port(), free_port()
    log = tmp_path / "service.log"
    with CaptureSMTPServer() as smtp:
        config = service_config(tmp_path, smtp.port, http_port, metrics_port)
        svc = Services.from_settings(load_settings(config, environ={}))
        try:
            proc = start_service(config, log)
            wait_healthy(http_port, proc)
            base = f"http://127.0.0.1:{http_port}"
            assert requests.get(f"{base}/readyz", timeout=5).json() == {"status": "ready"}
            unknown = requests.post(f"{base}/webhooks/woocommerce/nope", data=b"{}", timeout=5)
            assert unknown.status_code == 401

            orders = distinct_orders(100)
            for order in orders:
                submit_order(svc, order)
            # Let the workers get going (a cold start compiles modules), then stop mid-burst.
            eventually("10 done jobs", lambda: svc.store.job_counts()["done"] >= 10)
            metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
            metrics = requests.get(metrics_url, timeout=5).text
            done = sum(
                sample.value
                for family in text_string_to_metric_families(metrics)
                if family.name == "quittance_jobs"
                for sample in family.samples
                if sample.labels["state"] == "done"
            )
            assert done >= 10  # read from the database: what the worker processes did
            assert stop(proc) == 0
            done_at_stop = svc.store.job_counts()["done"]

            proc = start_service(config, log)
            wait_healthy(http_port, proc)

            def finished() -> bool:
                counts = svc.store.job_counts()
                return counts["done"] == 300 or counts["dead"] > 0

            eventually("all 300 jobs done (or one dead)", finished, timeout=300, step=0.2)
            assert stop(proc) == 0
            counts = svc.store.job_counts()
            assert counts["done"] == 300 and counts["dead"] == 0, counts
            assert 0 < done_at_stop < 300, "the SIGTERM did not land mid-burst"
            assert_gapless(svc.store.iter_invoices(), 100)
            assert verify_archive(svc.store, svc.archive)[1] == []
            recipients = [r.rcpt_tos[0] for r in smtp.received]
            assert sorted(recipients) == sorted(o.customer.email for o in orders)
        finally:
            svc.close()
    assert any(line.get("event") == "shutting down" for line in log_lines(log))
