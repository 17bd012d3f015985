"""Paid webhook → email of NEW orders while a backlog of paid orders drains, on `quittance run`.

    .venv/bin/python bench/backlog_latency.py [--backlog 1000] [--new 20] [--workers 2]
        [--database sqlite|postgresql] [--start ready|first-email] [--root PATH]

How the backlog is made: the WooCommerce sandbox holds `--backlog` paid orders whose webhooks
were lost (never delivered) while the service was down. One `quittance poll --shop woo` is run
before `quittance run` starts: it records every order with its issue job, page by page, so
exactly `--backlog` issue jobs are pending when the workers start (checked in the database;
the bench stops if not). A short poll interval would instead trickle the backlog in while the
workers already run, and a first poll racing the workers gives no fixed starting queue.
`quittance run` then polls every 24 h: only its poll at start runs. That poll reads the whole
backlog again (not invoiced yet) and may catch a new order paid meanwhile before its webhook's
ingest job ran; such orders are counted and named in the printout (`--start after-poll` pays
the first new order only once that poll is through).

Then, from the moment `quittance run` answers /healthz (the whole backlog still queued; or,
with `--start first-email`, once the first email is out), `--new` new orders are paid one
every `--interval` s, each announced by a signed `order.updated` webhook (the sandbox signs it
like WooCommerce). Each new order's latency runs from just before its webhook is posted to
the moment the capture SMTP server accepts the email addressed to its customer (each order
has its own recipient). Times are taken with time.monotonic() at the events themselves: the
SMTP handler stamps each message on arrival. The drain time runs from the spawn of
`quittance run` to the last of the backlog + new emails.

`--root` is the source tree whose `quittance` runs (default: this repo), with
PYTHONPATH=<root> and cwd=<root>, so the same bench measures an older checkout (e.g. a
`git worktree`). The sandbox, the SMTP server and the config writer are this repo's, the same
for every tree. [jobs] keys the tree's config.example.toml lacks are never written.
Databases: a SQLite file in a temp folder, or a throwaway PostgreSQL database `bench_<hex>`
created on `--pg-url` (trust auth) and dropped at the end.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import requests

BENCH_REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BENCH_REPO))

from sqlalchemy import create_engine, text  # noqa: E402

from bridge.demo import write_demo_config  # noqa: E402
from bridge.devsmtp import CaptureSMTPServer, OutboxHandler, free_port  # noqa: E402
from connectors.woocommerce.sandbox import WooSandbox  # noqa: E402
from connectors.woocommerce.sandbox_orders import Item, make_order  # noqa: E402

SHOP = "woo"
PG_ADMIN_URL = "postgresql://127.0.0.1:5432/test"
NEW_ORDER_IDS = 500_000  # new orders' ids start here, far above the backlog's


# -- the tree under test --------------------------------------------------------------------


def tree_label(root: Path) -> str:
    """`<short commit>` plus how many files `git status` lists (changed or new)."""
    git = ["git", "-C", str(root)]
    commit = subprocess.run(
        [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    changed = subprocess.run(
        [*git, "status", "--porcelain"], capture_output=True, text=True, check=False
    ).stdout.splitlines()
    if not commit:
        return "not a git checkout"
    if not changed:
        return f"{commit} (clean)"
    return f"{commit} + {len(changed)} changed or new file(s) not committed"


def tree_seen(root: Path, at_start: str) -> str:
    """The tree's label, saying so when it changed since `at_start` (others edit it live)."""
    now = tree_label(root)
    return now if now == at_start else f"{at_start} at the start, CHANGED to {now} by the end"


def tree_config_keys(root: Path, table: str) -> set[str]:
    """The keys of `[table]` the tree documents (older trees lack newer keys)."""
    example = root / "config.example.toml"
    if not example.exists():
        return set()
    return set(tomllib.loads(example.read_text(encoding="utf-8")).get(table, {}))


def jobs_table(root: Path, values: dict[str, float]) -> str:
    """A `[jobs]` table with only the keys this tree knows: an older config refuses others."""
    known = tree_config_keys(root, "jobs")
    kept = {k: v for k, v in values.items() if k in known}
    if not kept:
        return ""
    return "\n[jobs]\n" + "".join(f"{k} = {v}\n" for k, v in kept.items())


def jobs_keys(args: argparse.Namespace) -> dict[str, float]:
    """The [jobs] values asked for on the command line (none: the tree's defaults)."""
    asked = {"lease_seconds": args.lease, "heartbeat_seconds": args.heartbeat}
    return {k: v for k, v in asked.items() if v is not None}


def service_env(root: Path) -> dict[str, str]:
    """The tree first on the path; no QUITTANCE_* variable overriding the generated config."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUITTANCE_")}
    return {**env, "PYTHONPATH": str(root), "PYTHONUNBUFFERED": "1"}


def quittance(*args: str) -> list[str]:
    return [sys.executable, "-m", "bridge.cli", *args]


# -- the outside world: database, SMTP, shop -------------------------------------------------


@contextmanager
def fresh_database(kind: str, workdir: Path, pg_url: str) -> Iterator[str]:
    """A SQLite file in `workdir`, or a PostgreSQL database created for this run, dropped after."""
    if kind == "sqlite":
        yield f"sqlite:///{workdir / 'quittance.db'}"
        return
    import psycopg

    name = f"bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    admin = pg_url.rsplit("/", 1)[0]
    try:
        yield f"{admin.replace('postgresql://', 'postgresql+psycopg://', 1)}/{name}"
    finally:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class StampedHandler(OutboxHandler):
    """Also stamps each message with time.monotonic() as it is accepted (same index)."""

    arrivals: list[float] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        at = time.monotonic()
        reply = await super().handle_DATA(server, session, envelope)
        # One event loop thread runs the handler: `received` and `arrivals` stay aligned.
        self.arrivals.append(at)
        return reply


class StampedSMTPServer(CaptureSMTPServer):
    def __init__(self) -> None:
        super().__init__()
        self.handler = StampedHandler(None)
        self._controller.handler = self.handler

    def arrivals(self) -> list[tuple[float, list[str]]]:
        """(arrival time, recipients) of every message accepted so far."""
        count = len(self.handler.arrivals)
        return [(self.handler.arrivals[i], self.received[i].rcpt_tos) for i in range(count)]


def customer(email: str, name: str) -> dict[str, str]:
    return {
        "first_name": "Client", "last_name": name, "email": email, "address_1": "1 rue X",
        "postcode": "69001", "city": "Lyon", "country": "FR",
    }  # fmt: skip


def paid_order(order_id: int, email: str, *, paid: bool = True) -> dict[str, Any]:
    return make_order(
        order_id,
        items=[Item("Théière en fonte", Decimal("40.00"), 1, 1), Item("Thé vert", "8.50", 2, 2)],
        status="processing" if paid else "on-hold",
        paid=paid,
        billing=customer(email, str(order_id)),
    )


def backlog_email(i: int) -> str:
    return f"backlog{i:05d}@example.fr"


def new_email(i: int) -> str:
    return f"new{i:03d}@example.fr"


# -- the service ------------------------------------------------------------------------------


def job_counts(url: str) -> dict[tuple[str, str], int]:
    """(kind, state) → jobs, read straight from the table (same columns in every tree)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT kind, state, count(*) FROM jobs GROUP BY kind, state"))
            return {(kind, state): int(n) for kind, state, n in rows}
    finally:
        engine.dispose()


def record_backlog(root: Path, config: Path, url: str, expected: int) -> tuple[float, str]:
    """One `quittance poll` with the service down: the lost webhooks' orders become pending
    issue jobs. Returns (seconds it took, its summary line); raises unless all are queued."""
    started = time.monotonic()
    done = subprocess.run(
        quittance("poll", "--shop", SHOP, "-c", str(config)),
        cwd=root, env=service_env(root), capture_output=True, text=True, check=False,
    )  # fmt: skip
    took = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"quittance poll failed ({done.returncode}):\n{done.stderr[-3000:]}")
    pending = job_counts(url).get(("issue", "pending"), 0)
    if pending != expected:
        raise SystemExit(f"after the poll {pending} issue jobs are pending, not {expected}")
    return took, " ".join(done.stdout.split())


def start_quittance(root: Path, log: Path, *args: str) -> subprocess.Popen[bytes]:
    """`quittance <args>` of the tree at `root`, its output appended to `log`, in a process
    group of its own (the bench cleans up its workers by group)."""
    with log.open("ab") as sink:
        return subprocess.Popen(
            quittance(*args), cwd=root, env=service_env(root), stdout=sink,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip


def start_service(root: Path, config: Path, workers: int, log: Path) -> subprocess.Popen[bytes]:
    return start_quittance(root, log, "run", "-c", str(config), "--workers", str(workers))


def loopback_email(smtp_port: int, timeout: float) -> str:
    """The `[email]` table of a capture SMTP server on loopback (the demo's sender)."""
    return f"""
[email]
host = "127.0.0.1"
port = {smtp_port}
security = "none"
from_address = "bonjour@latheiere.example.fr"
from_name = "La Théière"
timeout = {timeout}
"""


def wait_healthy(port: int, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"quittance run exited during start-up ({proc.returncode})")
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).ok:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.05)
    raise SystemExit("quittance run did not answer /healthz in time")


def stop_service(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to its process group (the workers too), then SIGKILL past the grace period."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=40)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def log_problems(log: Path, limit: int = 8) -> tuple[int, list[str]]:
    """Warning-or-worse lines of the service log: (count, the first few)."""
    if not log.exists():
        return 0, []
    bad = [
        line
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines()
        if any(f'"level": "{lvl}"' in line or f'"level":"{lvl}"' in line
               for lvl in ("warning", "error", "critical"))
        or "Traceback" in line
    ]  # fmt: skip
    return len(bad), [line[:300] for line in bad[:limit]]


# -- the measurement --------------------------------------------------------------------------


@dataclass
class NewOrder:
    index: int
    order_id: int
    posted: float  # monotonic, just before the webhook is posted
    ack_s: float  # webhook round trip
    status: int
    emailed: float | None = None
    ahead: int = 0  # emails that reached the SMTP server between its webhook and its email


@dataclass
class Run:
    t_spawn: float
    t_ready: float = 0.0
    t_first: float | None = None
    t_last: float | None = None
    emails: int = 0
    new: list[NewOrder] = field(default_factory=list)
    complete: bool = False


def pay_new_order(woo: WooSandbox, target: str, i: int) -> NewOrder:
    order_id = woo.add_order(paid_order(NEW_ORDER_IDS + i, new_email(i), paid=False), notify=False)
    woo.set_status(order_id, "processing", notify=False)  # the payment, date_paid now
    posted = time.monotonic()
    [result] = woo.deliver_webhook(target, order_id)
    return NewOrder(i, order_id, posted, time.monotonic() - posted, result.status)


def match_emails(run: Run, smtp: StampedSMTPServer) -> None:
    arrivals = smtp.arrivals()
    run.emails = len(arrivals)
    if arrivals:
        run.t_first, run.t_last = arrivals[0][0], max(at for at, _ in arrivals)
    by_rcpt = {rcpt: at for at, rcpts in arrivals for rcpt in rcpts}
    for order in run.new:
        order.emailed = by_rcpt.get(new_email(order.index))
        if order.emailed is not None:
            order.ahead = sum(order.posted < at < order.emailed for at, _ in arrivals)


def service_polls_done(url: str) -> int:
    """`poll.done` events so far (the bench's own `quittance poll` is the first)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            query = text("SELECT count(*) FROM events WHERE kind = 'poll.done'")
            return int(conn.execute(query).scalar_one())
    finally:
        engine.dispose()


def may_start(args: argparse.Namespace, emails: int, url: str) -> bool:
    if args.start == "first-email":
        return emails > 0
    if args.start == "after-poll":  # the service's own poll at start is through
        return service_polls_done(url) >= 2
    return True


def caught_by_poll(url: str) -> set[str]:
    """New orders whose issue job a poll queued before their webhook's ingest job had even
    been claimed: their webhook then finds the job there (same dedupe key) and adds nothing."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text(
                "SELECT kind, order_id, payload, created_at, first_attempt_at FROM jobs "
                "WHERE kind IN ('ingest', 'issue')"
            )).all()  # fmt: skip
    finally:
        engine.dispose()
    ingest_claimed = {
        str(json.loads(payload).get("order_ref") or order_id): claimed
        for kind, order_id, payload, _created, claimed in rows
        if kind == "ingest" and claimed is not None
    }
    return {
        str(order_id)
        for kind, order_id, _payload, created, _claimed in rows
        if kind == "issue" and str(order_id) in ingest_claimed
        and created < ingest_claimed[str(order_id)]  # same type: both text or both datetimes
    }  # fmt: skip


def drive(
    args: argparse.Namespace, woo: WooSandbox, smtp: StampedSMTPServer, port: int, run: Run,
    proc: subprocess.Popen[bytes], url: str,
) -> None:  # fmt: skip
    """Pay the new orders on schedule from `--start` (the service answering, or its first
    email); return when every email is in (or at the deadline: `run.complete` says which)."""
    target = f"http://127.0.0.1:{port}/webhooks/woocommerce/{SHOP}"
    expected = args.backlog + args.new
    deadline = run.t_spawn + args.timeout
    next_at: float | None = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"quittance run exited ({proc.returncode}) during the run")
        count = len(smtp.handler.arrivals)
        if next_at is None and may_start(args, count, url):
            next_at = time.monotonic()
        if next_at is not None and len(run.new) < args.new and time.monotonic() >= next_at:
            run.new.append(pay_new_order(woo, target, len(run.new)))
            # From this one's post, not on a fixed grid: a slow answer is no burst after it.
            next_at = run.new[-1].posted + args.interval
        if count >= expected and len(run.new) == args.new:
            match_emails(run, smtp)
            run.complete = all(o.emailed is not None for o in run.new)
            if run.complete:
                return
        time.sleep(0.01)  # polling cadence only: every time is stamped at the event
    match_emails(run, smtp)


def percentile(values: list[float], pct: float) -> float:
    """Nearest rank: the smallest value with at least pct % of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(math.ceil(pct / 100 * len(ordered)) - 1, 0)]


def print_setup(args: argparse.Namespace, root: Path, tree: str, poll: tuple[float, str]) -> None:
    argv = " ".join(map(shlex.quote, sys.argv[1:]))
    print(f"$ .venv/bin/python bench/backlog_latency.py {argv}".rstrip())
    print(
        f"tree {tree_seen(root, tree)}; {args.database}; {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.2f} at the end"
    )
    print(f"backlog: {args.backlog} paid orders, webhooks lost; `quittance poll` before start "
          f"({poll[0]:.1f} s): {poll[1]}")  # fmt: skip
    written = jobs_table(root, jobs_keys(args)).split("\n", 2)[-1].strip().replace("\n", ", ")
    print(
        f"quittance run --workers {args.workers}, [jobs] {written or 'tree defaults'}; "
        f"{args.new} new orders by signed webhook, one every ~{args.interval:g} s from "
        + {"ready": "/healthz OK", "after-poll": "the end of the service's poll at start",
           "first-email": "the first email"}[args.start]
    )  # fmt: skip


def print_timings(args: argparse.Namespace, run: Run, caught: set[str]) -> None:
    first = f"{run.t_first - run.t_spawn:.1f} s" if run.t_first else "none"
    drain = f"{run.t_last - run.t_spawn:.1f} s" if run.t_last and run.complete else "NOT DRAINED"
    print(f"healthz after {run.t_ready - run.t_spawn:.1f} s; first email (any) {first}; drain "
          f"(spawn → last of {args.backlog + args.new} emails) {drain}; "
          f"emails received {run.emails}")  # fmt: skip
    lat = [(o.emailed - o.posted) * 1000 for o in run.new if o.emailed is not None]
    if lat:
        print(f"new orders, webhook → email at SMTP ({len(lat)}/{len(run.new)} emailed): "
              f"p50 {percentile(lat, 50):.0f} ms, p90 {percentile(lat, 90):.0f} ms, "
              f"max {max(lat):.0f} ms")  # fmt: skip
    acks = [o.ack_s * 1000 for o in run.new]
    if acks:
        print(f"webhook answer: p50 {statistics.median(acks):.0f} ms, max {max(acks):.0f} ms, "
              f"statuses {sorted({o.status for o in run.new})}")  # fmt: skip
    mine = [o for o in run.new if str(o.order_id) in caught]
    print(f"new orders queued by the service's poll before their webhook was ingested: "
          f"{len(mine)} {[o.index for o in mine]}")  # fmt: skip
    print("per new order, latency / emails accepted meanwhile: " + " ".join(
        f"#{o.index}:{o.emailed - o.posted:.1f}s/{o.ahead}" if o.emailed else f"#{o.index}:none"
        for o in run.new
    ))  # fmt: skip


def print_service(log: Path, url: str) -> None:
    problems, sample = log_problems(log)
    print(f"service log: {problems} warning/error line(s)")
    for line in sample:
        print(f"  {line}")
    counts = job_counts(url)
    print("jobs at the end: " + ", ".join(
        f"{kind}/{state} {n}" for (kind, state), n in sorted(counts.items())
    ))  # fmt: skip


def measure(args: argparse.Namespace, root: Path, workdir: Path) -> None:
    tree = tree_label(root)
    woo = WooSandbox(seed=False).start()
    port = free_port()
    try:
        for i in range(args.backlog):
            woo.add_order(paid_order(1 + i, backlog_email(i)), notify=False)  # webhook lost
        with (
            StampedSMTPServer() as smtp,
            fresh_database(args.database, workdir, args.pg_url) as url,
        ):
            config = write_demo_config(
                workdir, smtp.port, http_port=port, woo=woo, database_url=url,
                poll_interval=86400, log_level="WARNING", extra=jobs_table(root, jobs_keys(args)),
            )  # fmt: skip
            poll = record_backlog(root, config, url, args.backlog)
            log = workdir / "service.log"
            run = Run(t_spawn=time.monotonic())
            proc = start_service(root, config, args.workers, log)
            try:
                wait_healthy(port, proc)
                run.t_ready = time.monotonic()
                drive(args, woo, smtp, port, run, proc, url)
            finally:
                stop_service(proc)
            print_setup(args, root, tree, poll)
            print_timings(args, run, caught_by_poll(url))
            print_service(log, url)
    finally:
        woo.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backlog", type=int, default=1000)
    parser.add_argument("--new", type=int, default=20)
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between new orders")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--start", choices=["ready", "after-poll", "first-email"], default="ready",
        help="when the first new order is paid: once /healthz answers, once the service's "
        "poll at start is through, or at the first email",
    )  # fmt: skip
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--pg-url", default=PG_ADMIN_URL, help="PostgreSQL admin database")
    parser.add_argument("--root", type=Path, default=BENCH_REPO, help="source tree to run")
    parser.add_argument("--lease", type=int, help="[jobs] lease_seconds (default: the tree's)")
    parser.add_argument(
        "--heartbeat", type=float, help="[jobs] heartbeat_seconds, if the tree has it"
    )
    parser.add_argument("--timeout", type=float, default=540, help="seconds for the whole run")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs, db)")
    args = parser.parse_args()
    root = args.root.resolve()
    workdir = Path(tempfile.mkdtemp(prefix="qbench-backlog-"))
    try:
        measure(args, root, workdir)
    finally:
        if args.keep:
            print(f"work folder kept: {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
