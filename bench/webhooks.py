"""Webhook intake under load: signed WooCommerce deliveries against `quittance run` on SQLite.

    .venv/bin/python bench/webhooks.py [--requests 10000] [--concurrency 50] [--duplicates 0.1]

Starts `quittance run --workers 0` (intake only: the point is how fast and how safely events are
verified and stored, not the pipeline behind), sends signed `order.updated` deliveries from an
asyncio client (httpx) on loopback, and prints requests/s, p50/p99 latency and whether every
unique event was stored exactly once. Numbers are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bridge.demo import write_demo_config  # noqa: E402
from bridge.devsmtp import free_port  # noqa: E402
from bridge.store import Store  # noqa: E402

SECRET = "bench-webhook-secret"


# Intake only (`--workers 0`): the shop is never called, so any address will do.
UNREACHABLE_SHOP = SimpleNamespace(
    url="http://127.0.0.1:9", consumer_key="ck_bench", consumer_secret="cs_bench",
    webhook_secret=SECRET,
)  # fmt: skip


def signed(body: bytes) -> str:
    return base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()


def deliveries(count: int, duplicate_share: float, seed: int = 7) -> list[tuple[str, bytes]]:
    rng = random.Random(seed)
    unique = int(count * (1 - duplicate_share))
    out: list[tuple[str, bytes]] = []
    for i in range(unique):
        body = json.dumps({"id": 100000 + i, "status": "processing", "number": str(i)}).encode()
        out.append((f"delivery-{i}", body))
    while len(out) < count:
        out.append(out[rng.randrange(unique)])
    rng.shuffle(out)
    return out


async def fire(
    host: str, port: int, path: str, items: list[tuple[str, bytes]], concurrency: int
) -> list[float]:
    """A minimal HTTP/1.1 keep-alive client: requests are pre-serialised bytes, so the load
    generator (on the same 2 cores) spends its CPU on sending, not on building requests.
    httpx here used a whole core for ~250 requests/s and measured itself, not the service."""
    raw = []
    for delivery_id, body in items:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            "Content-Type: application/json\r\nX-WC-Webhook-Topic: order.updated\r\n"
            f"X-WC-Webhook-Delivery-ID: {delivery_id}\r\n"
            f"X-WC-Webhook-Signature: {signed(body)}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        raw.append(head.encode() + body)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for request in raw:
        queue.put_nowait(request)

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while not queue.empty():
                request = queue.get_nowait()
                started = time.perf_counter()
                writer.write(request)
                status_line = await reader.readline()
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.decode().partition(":")
                    if name.lower() == "content-length":
                        length = int(value)
                await reader.readexactly(length)
                latencies.append(time.perf_counter() - started)
                code = int(status_line.split()[1])
                statuses[code] = statuses.get(code, 0) + 1
        finally:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(concurrency)))
    if set(statuses) != {200}:
        print(f"unexpected statuses: {statuses}")
    return latencies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--duplicates", type=float, default=0.1)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="quittance-bench-webhooks-"))
    port = free_port()
    config = write_demo_config(
        workdir, None, http_port=port, woo=UNREACHABLE_SHOP, poll_interval=86400,
        log_level="WARNING",
    )  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "bridge.cli", "run", "-c", str(config), "--workers", "0"],
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        items = deliveries(args.requests, args.duplicates)
        started = time.perf_counter()
        latencies = asyncio.run(
            fire("127.0.0.1", port, "/webhooks/woocommerce/woo", items, args.concurrency)
        )
        wall = time.perf_counter() - started
    finally:
        proc.terminate()
        proc.wait(30)
    unique = len({delivery for delivery, _ in items})
    with Store.open(f"sqlite:///{workdir / 'quittance.db'}") as store:
        stored = store.webhook_counts_since(store.clock().replace(year=2000)).get("woo", 0)
        ingest_jobs = sum(store.job_counts().values())
    ms = sorted(x * 1000 for x in latencies)
    p99 = ms[int(len(ms) * 0.99) - 1]
    print(f"command: {' '.join(sys.argv)}")
    print(f"{args.requests} signed deliveries ({unique} unique), concurrency {args.concurrency}, "
          f"quittance run on SQLite, 2 CPUs")  # fmt: skip
    print(f"{'requests/s':>12} {'p50 ms':>8} {'p99 ms':>8} {'stored':>8} {'jobs':>8}")
    print(
        f"{args.requests / wall:12.0f} {statistics.median(ms):8.1f} {p99:8.1f} "
        f"{stored:8d} {ingest_jobs:8d}"
    )
    exactly_once = stored == unique == ingest_jobs
    print("every unique event stored exactly once:", "yes" if exactly_once else "NO")
    print("targets: >= 500 requests/s, p99 < 50 ms")
    return 0 if exactly_once else 1


if __name__ == "__main__":
    sys.exit(main())
