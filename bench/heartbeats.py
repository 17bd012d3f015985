"""What job-lease heartbeats cost: one fixed workload, default vs very short heartbeat.

    .venv/bin/python bench/heartbeats.py [--orders 300] [--workers 2] [--runs 3]
        [--short 0.5] [--root PATH]

The workload: `--orders` paid WooCommerce orders (sandbox), queued as issue jobs by one
`quittance poll` (not timed), then `quittance worker --concurrency W` issues, renders and
emails them to a capture SMTP server on loopback; SQLite. The clock runs from the worker's
spawn to the moment the SMTP server accepts the last email (stamped with time.monotonic() on
arrival), start-up included; "steady" is first → last email. Each run gets a fresh sandbox,
database and SMTP server, so every run does the same work.

Two configs that differ only in `[jobs] heartbeat_seconds`: its default (10) and `--short`.
Both use lease_seconds 30 and [email] timeout 1 s, so the config accepts the short beat (a
lease must outlast 5 SMTP replies × timeout + one heartbeat, and hold 3 beats). Runs alternate
A B A B … (`--runs` of each) so a drift in machine load hits both; prints each run, the median
throughput (orders/s) of each config and their ratio.

`--root` is the source tree whose `quittance` runs (default: this repo), with PYTHONPATH=<root>
and cwd=<root>; it must know `[jobs] heartbeat_seconds`.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

# The sibling bench: its helpers, and this repo put first on sys.path for the imports below.
from backlog_latency import (
    BENCH_REPO,
    StampedSMTPServer,
    backlog_email,
    job_counts,
    log_problems,
    loopback_email,
    paid_order,
    record_backlog,
    start_quittance,
    stop_service,
    tree_config_keys,
    tree_label,
    tree_seen,
)

from bridge.demo import write_demo_config
from connectors.woocommerce.sandbox import WooSandbox

DEFAULT_HEARTBEAT = 10.0
LEASE_SECONDS = 30
EMAIL_TIMEOUT = 1
STUCK = ("dead", "retry", "skipped")  # a run with any of these did less than the workload


@dataclass
class Result:
    heartbeat: float
    wall_s: float  # worker spawn → last email
    steady_s: float  # first → last email
    emails: int
    bad_jobs: int  # dead, retry or skipped at the end (an attach may still be pending)
    log_problems: int

    def per_s(self, orders: int) -> float:
        return orders / self.wall_s

    def steady_per_s(self, orders: int) -> float:
        return (orders - 1) / self.steady_s if self.steady_s > 0 else 0.0


def settings_tables(smtp_port: int, heartbeat: float) -> str:
    """[email] (a 1 s timeout) and [jobs]; the heartbeat is the variable."""
    jobs = f"\n[jobs]\nlease_seconds = {LEASE_SECONDS}\nheartbeat_seconds = {heartbeat}\n"
    return loopback_email(smtp_port, EMAIL_TIMEOUT) + jobs


def start_worker(root: Path, config: Path, workers: int, log: Path) -> subprocess.Popen[bytes]:
    return start_quittance(root, log, "worker", "-c", str(config), "--concurrency", str(workers))


def wait_for_emails(
    smtp: StampedSMTPServer, proc: subprocess.Popen[bytes], count: int, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while len(smtp.handler.arrivals) < count:
        if proc.poll() is not None:
            raise SystemExit(f"quittance worker exited early ({proc.returncode})")
        if time.monotonic() > deadline:
            raise SystemExit(f"only {len(smtp.handler.arrivals)}/{count} emails in {timeout} s")
        time.sleep(0.02)  # polling cadence only: arrivals are stamped by the SMTP handler


def run_once(args: argparse.Namespace, root: Path, heartbeat: float) -> Result:
    workdir = Path(tempfile.mkdtemp(prefix="qbench-heartbeat-"))
    woo = WooSandbox(seed=False).start()
    try:
        for i in range(args.orders):
            woo.add_order(paid_order(1 + i, backlog_email(i)), notify=False)
        with StampedSMTPServer() as smtp:
            url = f"sqlite:///{workdir / 'quittance.db'}"
            config = write_demo_config(
                workdir, None, woo=woo, database_url=url, poll_interval=86400,
                log_level="WARNING", extra=settings_tables(smtp.port, heartbeat),
            )  # fmt: skip
            record_backlog(root, config, url, args.orders)
            log = workdir / "worker.log"
            spawned = time.monotonic()
            proc = start_worker(root, config, args.workers, log)
            try:
                wait_for_emails(smtp, proc, args.orders, args.timeout)
            finally:
                stop_service(proc)
            arrivals = smtp.handler.arrivals
            counts = job_counts(url)
            bad = sum(n for (_, state), n in counts.items() if state in STUCK)
            return Result(
                heartbeat=heartbeat,
                wall_s=arrivals[args.orders - 1] - spawned,
                steady_s=arrivals[args.orders - 1] - arrivals[0],
                emails=len(arrivals),
                bad_jobs=bad,
                log_problems=log_problems(log)[0],
            )
    finally:
        woo.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def print_report(args: argparse.Namespace, root: Path, tree: str, results: list[Result]) -> None:
    argv = " ".join(map(shlex.quote, sys.argv[1:]))
    print(f"$ .venv/bin/python bench/heartbeats.py {argv}".rstrip())
    print(
        f"tree {tree_seen(root, tree)}; SQLite; quittance worker --concurrency {args.workers}; "
        f"{args.orders} orders issue+render+email per run; lease_seconds {LEASE_SECONDS}, "
        f"[email] timeout {EMAIL_TIMEOUT} s; {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.2f} at the end"
    )
    print(f"{'run':>4}{'heartbeat s':>13}{'wall s':>8}{'orders/s':>10}{'steady/s':>10}"
          f"{'emails':>8}{'jobs not done':>15}{'log warn+':>11}")  # fmt: skip
    for n, r in enumerate(results, 1):
        print(f"{n:>4}{r.heartbeat:>13g}{r.wall_s:>8.1f}{r.per_s(args.orders):>10.2f}"
              f"{r.steady_per_s(args.orders):>10.2f}{r.emails:>8}{r.bad_jobs:>15}"
              f"{r.log_problems:>11}")  # fmt: skip
    medians = {}
    for beat in (DEFAULT_HEARTBEAT, args.short):
        mine = [r for r in results if r.heartbeat == beat]
        medians[beat] = (
            statistics.median(r.per_s(args.orders) for r in mine),
            statistics.median(r.steady_per_s(args.orders) for r in mine),
        )
        print(f"heartbeat {beat:g} s: median {medians[beat][0]:.2f} orders/s "
              f"(steady {medians[beat][1]:.2f}) over {len(mine)} runs")  # fmt: skip
    short, default = medians[args.short], medians[DEFAULT_HEARTBEAT]
    print(f"ratio short/default: {short[0] / default[0]:.3f} (steady {short[1] / default[1]:.3f})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3, help="runs of each config, alternated")
    parser.add_argument("--short", type=float, default=0.5, help="the short heartbeat, seconds")
    parser.add_argument("--root", type=Path, default=BENCH_REPO, help="source tree to run")
    parser.add_argument("--timeout", type=float, default=300, help="seconds for one run")
    args = parser.parse_args()
    root = args.root.resolve()
    if "heartbeat_seconds" not in tree_config_keys(root, "jobs"):
        raise SystemExit(f"{root}: this tree has no [jobs] heartbeat_seconds")
    tree = tree_label(root)
    results = []
    for n in range(args.runs * 2):
        beat = DEFAULT_HEARTBEAT if n % 2 == 0 else args.short
        print(f"run {n + 1}/{args.runs * 2}: heartbeat {beat:g} s …", file=sys.stderr, flush=True)
        results.append(run_once(args, root, beat))
    print_report(args, root, tree, results)
    return 1 if any(r.bad_jobs or r.emails != args.orders for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
