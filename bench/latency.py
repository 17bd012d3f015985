"""Paid webhook → email accepted by the SMTP server, on an idle `quittance run`.

    .venv/bin/python bench/latency.py [--orders 200] [--workers 2]

Starts the WooCommerce sandbox, a capture SMTP server and `quittance run` (SQLite) against
them; then, one order at a time, marks an order paid in the sandbox, delivers its signed
webhook and measures until the customer's email reaches the SMTP server. Prints p50/p99.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bridge.demo import write_demo_config  # noqa: E402
from bridge.devsmtp import CaptureSMTPServer, free_port  # noqa: E402
from connectors.woocommerce.sandbox import WooSandbox  # noqa: E402
from connectors.woocommerce.sandbox_orders import Item, make_order  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="quittance-bench-latency-"))
    woo = WooSandbox(seed=False).start()
    port = free_port()
    latencies: list[float] = []
    with CaptureSMTPServer() as smtp:
        config = write_demo_config(
            workdir, smtp.port, http_port=port, woo=woo, poll_interval=86400,
            log_level="WARNING", extra="\n[jobs]\nlease_seconds = 160\n",
        )  # fmt: skip
        proc = subprocess.Popen(
            [sys.executable, "-m", "bridge.cli", "run", "-c", str(config),
             "--workers", str(args.workers)],
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).ok:
                        break
                except requests.ConnectionError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
            target = f"http://127.0.0.1:{port}/webhooks/woocommerce/woo"
            for i in range(args.orders):
                email = f"client{i}@example.fr"
                order_id = woo.add_order(
                    make_order(
                        50_000 + i,
                        items=[Item("Théière en fonte", Decimal("40.00"), 1, 1)],
                        status="on-hold",
                        paid=False,
                        billing={"first_name": "Client", "last_name": str(i), "email": email,
                                 "address_1": "1 rue X", "postcode": "69001", "city": "Lyon",
                                 "country": "FR"},
                    ),
                    notify=False,
                )  # fmt: skip
                before = len(smtp.received)
                started = time.perf_counter()
                woo.set_status(order_id, "processing", notify=False)
                [result] = woo.deliver_webhook(target, order_id)
                assert result.status == 200, result
                while len(smtp.received) == before:
                    if time.perf_counter() - started > 60:
                        raise TimeoutError(f"order {order_id}: no email after 60 s")
                    time.sleep(0.005)
                latencies.append(time.perf_counter() - started)
        finally:
            proc.terminate()
            proc.wait(30)
            woo.stop()
    ms = sorted(x * 1000 for x in latencies)
    print(f"command: {' '.join(sys.argv)}")
    print(f"{len(ms)} orders, one at a time, quittance run --workers {args.workers} on SQLite")
    print(f"{'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    print(f"{statistics.median(ms):8.0f} {ms[max(int(len(ms) * 0.99) - 1, 0)]:8.0f} {ms[-1]:8.0f}")
    print("target: p50 < 2000 ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
