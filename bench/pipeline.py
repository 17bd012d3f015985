"""Pipeline bench: N paid orders → issue → render → archive → email, by real worker processes.

    .venv/bin/python bench/pipeline.py                 # 1,000 orders, SQLite + PostgreSQL
    .venv/bin/python bench/pipeline.py --orders 200 --db sqlite --workers 1
    .venv/bin/python bench/pipeline.py --profile 100   # + cProfile of one in-process worker

For each database: a fresh store (SQLite file in a temp folder, or a fresh PostgreSQL schema at
$QUITTANCE_TEST_PG via search_path, dropped at the end), N distinct 10-line orders submitted
(`submit_order`, not timed), then `quittance worker --concurrency W` started as a subprocess
against a real SMTP server on loopback (aiosmtpd `CaptureSMTPServer`, messages kept in memory).
The clock runs from the worker's start to the moment every email job is done (worker start-up
included). The worker processes' RSS is read from /proc when the first 100 and the last 100
invoices are emailed (flatness), and their peak RSS (VmHWM) just before they are stopped.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from bridge.audit import verify_archive  # noqa: E402
from bridge.config import load_settings  # noqa: E402
from bridge.demo import write_demo_config  # noqa: E402
from bridge.devsmtp import CaptureSMTPServer  # noqa: E402
from bridge.model import Order  # noqa: E402
from bridge.pipeline import submit_order  # noqa: E402
from bridge.services import Services  # noqa: E402
from bridge.store.schema import events as events_table  # noqa: E402
from bridge.store.schema import jobs as jobs_table  # noqa: E402
from tests.support.postgres import drop_schema, new_schema_url  # noqa: E402

SAMPLE = ROOT / "bridge" / "samples" / "01_fr_b2c_card_coupon.json"
FLAT_WINDOW = 100  # RSS is compared between "first 100 done" and "last 100 done"


# -- inputs -------------------------------------------------------------------------------------


def ten_line_order(i: int) -> Order:
    """A valid FR B2C order with 9 products (20 % VAT) + shipping: 10 invoice lines."""
    data = json.loads(SAMPLE.read_text(encoding="utf-8"))
    lines = []
    for k in range(9):
        subtotal = Decimal(10 + k) + Decimal(i % 7) / 4
        lines.append(
            {
                "kind": "product",
                "name": f"Thé n° {k + 1} — mélange « maison »",
                "sku": f"THE-{k:03d}",
                "quantity": "1",
                "subtotal": f"{subtotal:.2f}",
                "taxes": [{"rate": "20", "amount": f"{subtotal / 5:.2f}", "label": "TVA 20 %"}],
            }
        )
    lines.append(
        {
            "kind": "shipping",
            "name": "Livraison Colissimo",
            "quantity": "1",
            "subtotal": "5.00",
            "taxes": [{"rate": "20", "amount": "1.00", "label": "TVA 20 %"}],
        }
    )
    tax = sum(Decimal(line["taxes"][0]["amount"]) for line in lines)
    total = sum(Decimal(line["subtotal"]) for line in lines) + tax
    data.update(
        order_id=str(100000 + i),
        reference=f"#{100000 + i}",
        lines=lines,
        coupons=[],
        total=f"{total:.2f}",
        total_tax=f"{tax:.2f}",
    )
    data["customer"]["email"] = f"client{i:05d}@example.fr"
    data["payment"].update(amount=f"{total:.2f}", transaction_ref=f"ch_bench_{i:05d}")
    return Order.model_validate(data)


# -- process memory -----------------------------------------------------------------------------


def _status_kb(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def worker_pids(cli_pid: int, concurrency: int) -> list[int]:
    """The processes that run jobs: the CLI itself at concurrency 1, else its spawned children."""
    if concurrency <= 1:
        return [cli_pid]
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            ppid = int(stat.rpartition(")")[2].split()[1])
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        if ppid == cli_pid and b"resource_tracker" not in cmdline:
            pids.append(int(entry.name))
    return sorted(pids)


def rss_mb(pids: list[int]) -> list[float]:
    return [_status_kb(pid, "VmRSS") / 1024 for pid in pids]


# -- one run ------------------------------------------------------------------------------------


@dataclass
class Result:
    db: str
    orders: int
    workers: int
    wall_s: float
    first_s: float  # time to the first invoice emailed (start-up + first render)
    steady_per_s: float  # invoices/s between "first 100 done" and "last 100 done"
    peak_rss_mb: float  # max VmHWM over the worker processes
    rss_first_mb: float  # max over workers, when the first 100 were done
    rss_last_mb: float  # max over workers, when all but the last 100 were done
    emails: int
    renders: int  # "invoice.archived" events: renders that archived a PDF (ideal = orders)
    problems: int

    @property
    def per_s(self) -> float:
        return self.orders / self.wall_s


def emailed(svc: Services) -> int:
    with svc.store.engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count())
                .select_from(jobs_table)
                .where(jobs_table.c.kind == "email", jobs_table.c.state == "done")
            ).scalar_one()
        )


def archived_renders(svc: Services) -> int:
    with svc.store.engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count())
                .select_from(events_table)
                .where(events_table.c.kind == "invoice.archived")
            ).scalar_one()
        )


def run_one(db: str, orders: list[Order], workers: int) -> Result:
    schema = None
    with tempfile.TemporaryDirectory(prefix=f"qbench-{db}-") as tmp, CaptureSMTPServer() as smtp:
        workdir = Path(tmp)
        if db == "sqlite":
            url = f"sqlite:///{workdir / 'quittance.db'}"
        else:
            url, schema = new_schema_url("bench")
        try:
            cfg = write_demo_config(workdir, smtp.port, database_url=url, log_level="WARNING")
            svc = Services.from_settings(load_settings(cfg, environ={}))
            try:
                for order in orders:
                    submit_order(svc, order)
                n = len(orders)
                first_mark, last_mark = min(FLAT_WINDOW, n), max(n - FLAT_WINDOW, 1)
                cmd = [
                    sys.executable, "-m", "bridge.cli", "worker",
                    "--config", str(cfg), "--concurrency", str(workers),
                ]  # fmt: skip
                log = (workdir / "worker.log").open("wb")
                t0 = time.perf_counter()
                proc = subprocess.Popen(
                    cmd, cwd=ROOT, stdout=log, stderr=log, start_new_session=True
                )
                first_s = t_first_mark = t_last_mark = None
                rss_first: list[float] = []
                rss_last: list[float] = []
                peak_kb: dict[int, int] = {}
                try:
                    while True:
                        done = emailed(svc)
                        pids = worker_pids(proc.pid, workers)
                        for pid in pids:
                            peak_kb[pid] = max(peak_kb.get(pid, 0), _status_kb(pid, "VmHWM"))
                        now = time.perf_counter()
                        if first_s is None and done >= 1:
                            first_s = now - t0
                        if t_first_mark is None and done >= first_mark:
                            t_first_mark, rss_first = now, rss_mb(pids)
                        if t_last_mark is None and done >= last_mark:
                            t_last_mark, rss_last = now, rss_mb(pids)
                        if done >= n:
                            wall = now - t0
                            break
                        if proc.poll() is not None:
                            raise SystemExit(f"worker exited early ({proc.returncode}); see log")
                        time.sleep(0.05)
                finally:
                    if proc.poll() is None:
                        os.killpg(proc.pid, signal.SIGTERM)
                        try:
                            proc.wait(timeout=30)
                        except subprocess.TimeoutExpired:
                            os.killpg(proc.pid, signal.SIGKILL)
                            proc.wait()
                    log.close()
                counts = svc.store.job_counts()
                _checked, problems = verify_archive(svc.store, svc.archive)
                renders = archived_renders(svc)
                bad = counts["dead"] + counts["skipped"] + len(problems)
            finally:
                svc.close()
        finally:
            if schema:
                drop_schema(schema)
        assert t_first_mark is not None and t_last_mark is not None and first_s is not None
        steady = (
            (last_mark - first_mark) / (t_last_mark - t_first_mark)
            if last_mark > first_mark
            else 0.0
        )
        return Result(
            db=db,
            orders=n,
            workers=workers,
            wall_s=wall,
            first_s=first_s,
            steady_per_s=steady,
            peak_rss_mb=max(peak_kb.values(), default=0) / 1024,
            rss_first_mb=max(rss_first, default=0.0),
            rss_last_mb=max(rss_last, default=0.0),
            emails=len(smtp.received),
            renders=renders,
            problems=bad,
        )


def print_table(results: list[Result]) -> None:
    head = (
        f"{'db':<11}{'orders':>7}{'workers':>8}{'wall s':>8}{'inv/s':>7}{'steady/s':>9}"
        f"{'1st s':>7}{'peak RSS MB':>12}{'RSS@100 MB':>11}{'RSS@N-100':>10}{'growth MB':>10}"
        f"{'emails':>7}{'renders':>8}{'problems':>9}"
    )
    print(head)
    print("-" * len(head))
    for r in results:
        print(
            f"{r.db:<11}{r.orders:>7}{r.workers:>8}{r.wall_s:>8.1f}{r.per_s:>7.1f}"
            f"{r.steady_per_s:>9.1f}{r.first_s:>7.1f}{r.peak_rss_mb:>12.1f}"
            f"{r.rss_first_mb:>11.1f}{r.rss_last_mb:>10.1f}"
            f"{r.rss_last_mb - r.rss_first_mb:>+10.1f}{r.emails:>7}{r.renders:>8}{r.problems:>9}"
        )


def profile_one_worker(orders: list[Order], top: int = 15) -> None:
    """cProfile of `work(once=True)` in this process (SQLite, same SMTP) over `orders`."""
    from bridge.logs import configure_logging
    from bridge.worker import work

    configure_logging("WARNING", "json")
    with tempfile.TemporaryDirectory(prefix="qbench-prof-") as tmp, CaptureSMTPServer() as smtp:
        workdir = Path(tmp)
        cfg = write_demo_config(workdir, smtp.port, log_level="WARNING")
        svc = Services.from_settings(load_settings(cfg, environ={}))
        try:
            for order in orders:
                submit_order(svc, order)
            profiler = cProfile.Profile()
            t0 = time.perf_counter()
            profiler.enable()
            processed = work(svc, once=True)
            profiler.disable()
            wall = time.perf_counter() - t0
        finally:
            svc.close()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).sort_stats("cumulative")
    stats.print_stats(top)
    print(
        f"\ncProfile, one in-process worker, SQLite: {len(orders)} orders, {processed} jobs in "
        f"{wall:.1f} s ({len(orders) / wall:.1f} invoices/s under the profiler), top {top} "
        "cumulative:"
    )
    print("\n".join(line for line in out.getvalue().splitlines() if line.strip())[:6000])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--workers", type=int, default=2, help="quittance worker --concurrency")
    parser.add_argument(
        "--profile", type=int, default=0, metavar="N", help="also cProfile one worker on N orders"
    )
    args = parser.parse_args()
    orders = [ten_line_order(i) for i in range(args.orders)]
    dbs = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    results = []
    for db in dbs:
        print(f"running {db} …", file=sys.stderr, flush=True)
        results.append(run_one(db, orders, args.workers))
    command = " ".join([".venv/bin/python", "bench/pipeline.py", *map(shlex.quote, sys.argv[1:])])
    print(f"$ {command}")
    print(
        f"{os.cpu_count()} CPUs, load average before the last run "
        f"{os.getloadavg()[0]:.2f}; 10-line invoices; worker = `quittance worker "
        f"--concurrency {args.workers}`; wall = worker start → last email accepted\n"
    )
    print_table(results)
    if args.profile:
        profile_one_worker([ten_line_order(i) for i in range(args.profile)])
    return 1 if any(r.problems or r.emails < r.orders for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
