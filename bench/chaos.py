"""Reliability campaign at full size: two `quittance run` on one PostgreSQL, under fire.

    .venv/bin/python bench/chaos.py [--orders 300] [--kills 11] [--poll-kills 2]
        [--service-kills 3] [--burst 150] [--seed N] [--no-pg-restart] [--keep]

The scene: a throwaway PostgreSQL database (created on `--pg-admin`, trust auth, dropped at
the end), one WooCommerce sandbox shop polled every `--poll-interval` s (10, the config's
floor), two `quittance run --workers 2` services on that database and one config (their own
HTTP ports), `[jobs] heartbeat_seconds = 1`, `lease_seconds = 10`, `[email] timeout = 1`.

`--orders` paid orders arrive over `--burst` seconds: 70 % are announced by a signed webhook
posted to either live service, 30 % only exist in the sandbox (webhook lost: polling must find
them). The shop's order list answers after `--list-latency` s, as a real shop does, so a poll
lasts long enough to be killed in the middle. During the burst, evenly spaced:

- `--kills` SIGKILLs in all: `--poll-kills` of the service holding the poll lease while it
  polls (seen in the `poll_state` row), `--service-kills` of a random whole service (each
  killed service is restarted at once; its workers must exit by themselves), the rest of a
  worker process, preferably one holding a job lease (its service respawns it);
- one PostgreSQL restart (`pg_ctlcluster … restart`, once: other clients share the server);
- an SMTP server whose DATA reply waits `--slow-delay` s for the next `--slow-count` messages.

Then the queue must go idle (no pending/running/retry job), one poll begun after that must
finish, and the queue must be idle again (capped by `--drain-timeout`). Printed: orders,
invoices, duplicate invoices, numbering gaps, emails (max per order, duplicates vs kills,
orders never emailed), the lag from each poll crash to the next finished poll, dead jobs and
the wall time, with the command. Exit 1 if an invariant fails, 2 if the run could not be
set up. `--keep` keeps the work folder (config, service logs) and the database.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
import requests  # noqa: E402

# The sibling bench's launcher and [email] table (this folder is on sys.path when run).
from backlog_latency import loopback_email, start_quittance  # noqa: E402
from sqlalchemy import select  # noqa: E402
from sqlalchemy.exc import DBAPIError  # noqa: E402

from bridge.audit import verify_archive  # noqa: E402
from bridge.config import load_settings  # noqa: E402
from bridge.demo import write_demo_config  # noqa: E402
from bridge.devsmtp import CaptureSMTPServer, OutboxHandler, free_port  # noqa: E402
from bridge.services import Services  # noqa: E402
from bridge.store import Store  # noqa: E402
from bridge.store.schema import jobs as jobs_table  # noqa: E402
from bridge.store.schema import poll_state  # noqa: E402
from connectors.sandbox_server import Reply, Request  # noqa: E402
from connectors.woocommerce.sandbox import WooSandbox  # noqa: E402
from connectors.woocommerce.sandbox_orders import Item, make_order  # noqa: E402

SHOP = "woo"
# Lease owners are "<host>:<pid>:<random>" (a service) or "<host>:<pid>:<random>/<n>" (one of
# its workers); this bench names processes by "<host>:<pid>" (`process_of`).
HOST = socket.gethostname()
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
LEASE_SECONDS = 10
HEARTBEAT_SECONDS = 1
EMAIL_TIMEOUT = 1
T = TypeVar("T")


# -- the outside world: database, SMTP, shop ----------------------------------------------------


@contextmanager
def fresh_database(admin_url: str, *, keep: bool) -> Iterator[str]:
    """A database made for this run on the admin URL's server, dropped (FORCE) afterwards
    unless `keep` (its job rows and events are the evidence when something went wrong)."""
    name = f"chaos_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        yield f"{base}/{name}"
    finally:
        if keep:
            print(f"database kept: {name}", file=sys.stderr)
        else:
            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class SlowHandler(OutboxHandler):
    """The capture handler, whose DATA reply waits `delay` s for the next `slow_left` messages.

    A client that gives up meanwhile closes the connection; aiosmtpd then cancels this
    coroutine and the message is not kept: nothing was accepted, as with a real server that
    never got to say 250."""

    delay: float = 15.0
    slow_left: int = 0  # set from the main thread; an int store is atomic enough here
    delayed: int = 0
    abandoned: int = 0  # the client hung up before the reply: not delivered
    late: int = 0  # delivered after the delay (the client was still waiting)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.slow_left > 0:
            self.slow_left -= 1  # one event-loop thread runs every handler: no race
            self.delayed += 1
            try:
                await asyncio.sleep(self.delay)
            except asyncio.CancelledError:
                self.abandoned += 1
                raise
            self.late += 1
        return await super().handle_DATA(server, session, envelope)


class SlowSMTPServer(CaptureSMTPServer):
    def __init__(self, delay: float) -> None:
        super().__init__()
        self.handler = SlowHandler(None, delay=delay)
        self._controller.handler = self.handler


class SlowListShop(WooSandbox):
    """The sandbox, whose order *list* (what a poll reads, page by page) takes `latency` s,
    as a real shop's does: a poll then lasts long enough to be killed mid-way."""

    def __init__(self, latency: float) -> None:
        super().__init__(seed=False)
        self.latency = latency
        self.hang_ups = 0  # a service killed mid-request: counted, not printed as a traceback
        self._server.handle_error = self._hung_up  # type: ignore[method-assign]

    def _hung_up(self, _request: Any, _address: Any) -> None:
        self.hang_ups += 1

    def route(self, request: Request) -> Reply:
        if request.method == "GET" and request.path.rstrip("/").endswith("/wc/v3/orders"):
            time.sleep(self.latency)  # a server thread per request: others are not held up
        return super().route(request)


def customer(email: str, name: str) -> dict[str, str]:
    return {
        "first_name": "Client", "last_name": name, "email": email, "address_1": "1 rue X",
        "postcode": "69001", "city": "Lyon", "country": "FR",
    }  # fmt: skip


def order_email(i: int) -> str:
    return f"chaos{i:04d}@example.fr"


def pay_order(woo: WooSandbox, i: int) -> int:
    """Add an unpaid order, then pay it now: `date_paid` and `date_modified` are now, as on a
    live shop (an order born paid would be dated half an hour ago, behind the poll cursor)."""
    raw = make_order(
        70_000 + i,
        items=[Item("Théière en fonte", Decimal("40.00"), 1, 1), Item("Thé vert", "8.50", 2, 2)],
        status="on-hold",
        paid=False,
        billing=customer(order_email(i), str(i)),
    )
    order_id = woo.add_order(raw, notify=False)
    woo.set_status(order_id, "processing", notify=False)
    return order_id


def config_tables(smtp_port: int) -> str:
    """[email] with a 1 s timeout and [jobs] with short leases: a lease must outlast 5 SMTP
    replies × timeout + one heartbeat (the config refuses less); retries come back soon."""
    return (
        loopback_email(smtp_port, EMAIL_TIMEOUT)
        + f"""
[jobs]
lease_seconds = {LEASE_SECONDS}
heartbeat_seconds = {HEARTBEAT_SECONDS}
backoff_initial_seconds = 1
backoff_max_seconds = 5
"""
    )


# -- the services ---------------------------------------------------------------------------


def children_of(pid: int) -> list[int]:
    """The worker processes of a service (multiprocessing's resource tracker left out)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        fields = stat.rpartition(")")[2].split()
        if int(fields[1]) == pid and fields[0] != "Z" and b"resource_tracker" not in cmdline:
            found.append(int(entry.name))
    return sorted(found)


def running(pid: int) -> bool:
    """Alive and not a zombie (a killed service's orphans are reaped by init, not by us)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


@dataclass
class Service:
    name: str
    port: int
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0
    pgids: list[int] = field(default_factory=list)

    @property
    def owner(self) -> str:
        return f"{HOST}:{self.proc.pid}" if self.proc else ""

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def healthy(self) -> bool:
        try:
            return requests.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).ok
        except requests.RequestException:
            return False


@dataclass
class Exit:
    """A service that exited without being killed by us (evidence, with its log tail)."""

    service: str
    code: int | None
    at: float
    tail: list[str]


class Fleet:
    """The two services: start, SIGKILL, restart; notices unplanned exits and orphans."""

    def __init__(self, config: Path, workdir: Path, workers: int) -> None:
        self.config = config
        self.workdir = workdir
        self.workers = workers
        self.services = [Service("A", free_port()), Service("B", free_port())]
        self.exits: list[Exit] = []
        self.orphans: dict[int, float] = {}  # worker pid of a killed service → kill time
        self.orphan_life: list[float] = []  # seconds each orphan outlived its service
        self.names: dict[str, str] = {}  # lease owner → "A"/"B", over every (re)start

    def log_path(self, svc: Service) -> Path:
        return self.workdir / f"service-{svc.name}-{svc.starts}.log"

    def start(self, svc: Service) -> None:
        svc.starts += 1
        svc.proc = start_quittance(  # its own group: cleaned up by pgid at the end
            ROOT, self.log_path(svc), "run", "-c", str(self.config),
            "--workers", str(self.workers), "--port", str(svc.port),
        )  # fmt: skip
        svc.pgids.append(svc.proc.pid)
        self.names[svc.owner] = svc.name

    def kill(self, svc: Service) -> list[int]:
        """SIGKILL the service's main process only (a crash): its workers must notice."""
        assert svc.proc is not None
        workers = children_of(svc.proc.pid)
        svc.proc.send_signal(signal.SIGKILL)
        svc.proc.wait(10)
        now = time.monotonic()
        self.orphans.update(dict.fromkeys(workers, now))
        return workers

    def supervise(self, now: float) -> None:
        """Restart a service that died on its own (recorded), and time the orphans' exit."""
        for svc in self.services:
            if svc.proc is not None and svc.proc.poll() is not None:
                tail = self.log_path(svc).read_text(errors="replace").splitlines()[-15:]
                self.exits.append(Exit(svc.name, svc.proc.returncode, now, tail))
                self.start(svc)
        for pid, killed_at in list(self.orphans.items()):
            if not running(pid):
                self.orphan_life.append(now - killed_at)
                del self.orphans[pid]

    def stop_all(self) -> None:
        """SIGTERM, a grace period, then SIGKILL of every process group we started."""
        for svc in self.services:
            if svc.alive() and svc.proc is not None:
                svc.proc.send_signal(signal.SIGTERM)
        for svc in self.services:
            if svc.proc is not None:
                with suppress(subprocess.TimeoutExpired):
                    svc.proc.wait(40)
        for svc in self.services:
            for pgid in svc.pgids:
                with suppress(ProcessLookupError, PermissionError):
                    os.killpg(pgid, signal.SIGKILL)
            if svc.proc is not None and svc.proc.poll() is None:
                svc.proc.wait(10)


# -- the campaign ---------------------------------------------------------------------------


@dataclass
class Kill:
    kind: str  # "worker", "service" or "poll" (the service holding the poll lease)
    at: float  # monotonic
    at_utc: datetime
    service: str
    owner: str  # the killed process's lease-owner id
    detail: str = ""
    polling: bool = False  # the poll lease named the killed service at that moment


@dataclass
class Webhooks:
    ok: int = 0
    failed: list[str] = field(default_factory=list)  # not 200: the order is polling's now


@dataclass
class Campaign:
    args: argparse.Namespace
    rng: random.Random
    fleet: Fleet
    store: Store
    smtp: SlowSMTPServer
    woo: SlowListShop
    t0: float
    kills: list[Kill] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    webhooks: Webhooks = field(default_factory=Webhooks)
    order_ids: list[int] = field(default_factory=list)
    fed: threading.Event = field(default_factory=threading.Event)
    pg_outage: float | None = None

    def t(self) -> float:
        return time.monotonic() - self.t0

    def note(self, text: str) -> None:
        self.notes.append(f"+{self.t():6.1f}s {text}")
        print(f"+{self.t():6.1f}s {text}", file=sys.stderr, flush=True)


def db_retry(fn: Callable[[], T], timeout: float = 120) -> T:
    """Our own reads ride out the PostgreSQL restart like the services must."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return fn()
        except DBAPIError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def wait_until(c: Campaign, what: str, pred: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        c.fleet.supervise(time.monotonic())
        if pred():
            return True
        time.sleep(0.02)  # the poll lease is read at this rate: a poll lasts > 0.5 s
    c.note(f"gave up waiting for {what} after {timeout:g} s")
    return False


def feed_orders(c: Campaign) -> None:
    """Pay the orders over the burst; post the webhook of 70 % of them to a live service."""
    n = c.args.orders
    lost = set(c.rng.sample(range(n), round(n * c.args.lost_share)))
    for i in range(n):
        pause = c.t0 + c.args.burst * i / n - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        order_id = pay_order(c.woo, i)
        c.order_ids.append(order_id)
        if i not in lost:
            deliver(c, order_id)
    c.fed.set()


def deliver(c: Campaign, order_id: int) -> None:
    # As a load balancer would: a service that does not answer /healthz gets no traffic.
    live = [s for s in c.fleet.services if s.alive() and s.healthy()] or c.fleet.services
    svc = c.rng.choice(live)
    target = f"http://127.0.0.1:{svc.port}/webhooks/woocommerce/{SHOP}"
    [result] = c.woo.deliver_webhook(target, order_id)
    if result.status == 200:
        c.webhooks.ok += 1
    else:
        c.webhooks.failed.append(f"{order_id}→{svc.name}:{result.status}")


def poll_holder(c: Campaign) -> str | None:
    """The owner of a live poll lease on the shop, if any (read from `poll_state`)."""
    with c.store.engine.connect() as conn:
        row = conn.execute(
            select(poll_state.c.lease_owner, poll_state.c.lease_until).where(
                poll_state.c.shop == SHOP
            )
        ).first()
    if row is None or row[0] is None or row[1] is None or row[1] < datetime.now(UTC):
        return None
    return process_of(str(row[0]))


def process_of(owner: str) -> str:
    """ "<host>:<pid>" of a lease owner id."""
    host, pid = owner.split(":")[:2]
    return f"{host}:{pid.split('/', 1)[0]}"


def running_job_owners(c: Campaign) -> list[tuple[str, str]]:
    """(lease owner, kind) of every running job."""
    with c.store.engine.connect() as conn:
        rows = conn.execute(
            select(jobs_table.c.lease_owner, jobs_table.c.kind).where(
                jobs_table.c.state == "running"
            )
        ).all()
    return [(str(owner), str(kind)) for owner, kind in rows if owner]


def safe(c: Campaign, fn: Callable[[], T], default: T) -> T:
    """A read that may meet the PostgreSQL restart: no answer is `default`, not a crash."""
    try:
        return fn()
    except DBAPIError:
        return default


def kill_service(c: Campaign, svc: Service, kind: str, detail: str = "") -> None:
    holder = safe(c, lambda: poll_holder(c), None)
    owner = svc.owner
    at, at_utc = time.monotonic(), datetime.now(UTC)
    workers = c.fleet.kill(svc)
    c.kills.append(Kill(kind, at, at_utc, svc.name, owner, detail, holder == owner))
    c.note(f"SIGKILL service {svc.name} ({kind}{', polling' if holder == owner else ''}); "
           f"its workers {workers} left to stop by themselves; restarted")  # fmt: skip
    c.fleet.start(svc)  # right after, as a supervisor would


def kill_while_polling(c: Campaign) -> None:
    def polling() -> bool:
        holder = safe(c, lambda: poll_holder(c), None)
        return holder is not None and any(s.owner == holder and s.alive()
                                          for s in c.fleet.services)  # fmt: skip

    for _attempt in range(3):  # a poll may end between our read and the kill: try again
        if not wait_until(c, "a poll to start", polling, timeout=45):
            return
        holder = safe(c, lambda: poll_holder(c), None)
        for svc in c.fleet.services:
            if svc.owner == holder and svc.alive():
                kill_service(c, svc, "poll", detail=f"poll lease owner pid {owner_pid(holder)}")
                return
        c.note("the poll ended before the kill could land; waiting for the next one")


def kill_random_service(c: Campaign) -> None:
    live = [s for s in c.fleet.services if s.alive() and s.healthy()]
    if not live:
        c.note("no healthy service to kill")
        return
    kill_service(c, c.rng.choice(live), "service")


def kill_worker(c: Campaign) -> None:
    """A worker that holds a job lease if one can be found (the interesting moment), else any
    worker of a live service."""
    ours = {pid: svc for svc in c.fleet.services if svc.alive() and svc.proc
            for pid in children_of(svc.proc.pid)}  # fmt: skip
    leased = [(o, k) for o, k in safe(c, lambda: running_job_owners(c), [])
              if o.startswith(f"{HOST}:") and owner_pid(o) in ours]  # fmt: skip
    if leased:
        owner, kind = c.rng.choice(leased)
        pid, detail = owner_pid(owner), f"holding a job ({kind})"
    elif ours:
        pid = c.rng.choice(sorted(ours))
        owner, detail = f"{HOST}:{pid}/?", "no job leased"
    else:
        c.note("no worker process to kill")
        return
    with suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    c.kills.append(Kill("worker", time.monotonic(), datetime.now(UTC), ours[pid].name, owner,
                        detail))  # fmt: skip
    c.note(f"SIGKILL worker pid {pid} of service {ours[pid].name} ({detail})")


def owner_pid(owner: str) -> int:
    return int(process_of(owner).split(":")[1])


def pg_cluster() -> list[str]:
    """`<version> main` of the local cluster (one version is installed)."""
    versions = sorted(os.listdir("/etc/postgresql"))
    return [versions[-1], "main"]


def restart_postgres(c: Campaign) -> None:
    """Restart the server once, and make sure it is back (start it if the restart failed)."""
    # Most of a restart is the shutdown checkpoint writing dirty buffers: one taken now, while
    # the server still answers, keeps the outage the other clients of this server see short.
    with suppress(psycopg.Error), psycopg.connect(c.args.pg_admin, autocommit=True) as conn:
        conn.execute("CHECKPOINT")
    started = time.monotonic()
    cmd = ["pg_ctlcluster", "--skip-systemctl-redirect", *pg_cluster(), "restart"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        c.note(f"pg_ctlcluster restart failed ({done.returncode}): {done.stderr.strip()[:300]}")
    if not wait_pg(c.args.pg_admin, 60):
        start = ["pg_ctlcluster", "--skip-systemctl-redirect", *pg_cluster(), "start"]
        subprocess.run(start, capture_output=True, timeout=120, check=False)
        wait_pg(c.args.pg_admin, 60)
    c.pg_outage = time.monotonic() - started
    c.note(f"PostgreSQL restarted: answering again after {c.pg_outage:.1f} s")


def wait_pg(url: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with psycopg.connect(url, connect_timeout=2):
                return True
        except psycopg.Error:
            time.sleep(0.1)
    return False


def slow_smtp(c: Campaign) -> None:
    c.smtp.handler.slow_left = c.args.slow_count
    c.note(f"SMTP: the next {c.args.slow_count} DATA replies wait {c.args.slow_delay:g} s")


def plan(c: Campaign) -> list[tuple[float, Callable[[Campaign], None]]]:
    """Evenly spaced actions over the burst (10 % → 90 %), in a seeded random order; the
    PostgreSQL restart and the slow SMTP at fixed points so they never sit at the edges."""
    a = c.args
    kills: list[Callable[[Campaign], None]] = [kill_while_polling] * a.poll_kills
    kills += [kill_random_service] * a.service_kills
    kills += [kill_worker] * (a.kills - a.poll_kills - a.service_kills)
    c.rng.shuffle(kills)
    steps = [a.burst * (0.1 + 0.8 * i / max(len(kills) - 1, 1)) for i in range(len(kills))]
    actions = list(zip(steps, kills, strict=True))
    actions.append((a.burst * 0.3, slow_smtp))
    if a.pg_restart:
        actions.append((a.burst * 0.55, restart_postgres))
    return sorted(actions, key=lambda pair: pair[0])


def run_chaos(c: Campaign) -> None:
    for at, action in plan(c):
        wait_until(c, "the next action", lambda at=at: c.t() >= at, timeout=c.args.burst * 3)
        action(c)


def queue_idle(c: Campaign) -> bool:
    counts = safe(c, c.store.job_counts, None)
    return counts is not None and counts["pending"] + counts["running"] + counts["retry"] == 0


def poll_done_since(c: Campaign, moment: datetime) -> bool:
    return any(
        e.shop == SHOP and e.detail.get("claimed_at")
        and datetime.fromisoformat(e.detail["claimed_at"]) >= moment
        for e in safe(c, lambda: c.store.events(50, "poll.done"), [])
    )  # fmt: skip


def drain(c: Campaign) -> bool:
    """Idle queue, then a whole poll begun after that (it finds any lost order left), then
    idle again: nothing can happen later without a job existing by then."""
    deadline = time.monotonic() + c.args.drain_timeout

    def left() -> float:
        return max(deadline - time.monotonic(), 0.0)

    if not wait_until(c, "all orders paid", c.fed.is_set, left()):
        return False
    if not wait_until(c, "an idle queue", lambda: queue_idle(c), left()):
        return False
    idle_at = db_retry(c.store.clock)
    c.note("queue idle; waiting for a poll begun after that")
    if not wait_until(c, "a later poll", lambda: poll_done_since(c, idle_at), left()):
        return False
    return wait_until(c, "an idle queue after it", lambda: queue_idle(c), left())


# -- the tally ------------------------------------------------------------------------------


@dataclass
class PollLag:
    kill: Kill
    taken_over_s: float | None = None
    done_s: float | None = None
    by: str = ""
    finished_before: bool = False  # its poll.done exists: the poll was over at the kill


def poll_lags(c: Campaign) -> list[PollLag]:
    """For each kill of a polling service: the takeover of its lease (`poll.taken_over`
    naming it) and the `poll.done` of that claim (same store timestamp as `claimed_at`)."""
    takeovers = c.store.events(10_000, "poll.taken_over")
    dones = c.store.events(10_000, "poll.done")
    names = c.fleet.names
    lags = []
    for kill in (k for k in c.kills if k.polling):
        lag = PollLag(kill)
        mine = sorted(
            (e for e in takeovers
             if process_of(str(e.detail.get("previous_owner"))) == kill.owner),
            key=lambda e: e.at,
        )  # fmt: skip
        if mine:
            event = mine[0]
            lag.taken_over_s = (event.at - kill.at_utc).total_seconds()
            new_owner = str(event.detail.get("owner"))
            lag.by = names.get(process_of(new_owner), "another process")
            if lag.by == kill.service:  # the killed service's own restart won the race
                lag.by += " (restarted)"
            claim = event.at.isoformat()
            done = [e for e in dones if e.detail.get("claimed_at") == claim]
            if done:
                lag.done_s = (done[0].at - kill.at_utc).total_seconds()
        lags.append(lag)
    return lags


@dataclass
class Polls:
    done: int
    durations: list[float]  # seconds from claim to `poll.done`
    stopped: int  # `poll.stopped`: lease lost, stopped at a page boundary
    taken_over: int


def poll_stats(store: Store) -> Polls:
    dones = [e for e in store.events(10_000, "poll.done") if e.detail.get("claimed_at")]
    durations = sorted(
        (e.at - datetime.fromisoformat(e.detail["claimed_at"])).total_seconds() for e in dones
    )
    return Polls(
        done=len(dones),
        durations=durations,
        stopped=len(store.events(10_000, "poll.stopped")),
        taken_over=len(store.events(10_000, "poll.taken_over")),
    )


@dataclass
class Tally:
    orders: int
    invoices: int
    duplicate_invoices: int
    gaps: int
    orders_without_invoice: list[str]
    emails: int
    max_per_order: int
    duplicate_emails: int
    never_emailed: list[str]
    jobs: dict[str, int]
    dead: list[str]
    archive_problems: list[str]
    lags: list[PollLag]
    polls: Polls


def numbering_gaps(invoices: list[Any]) -> tuple[int, int]:
    """(numbers missing in 1..max, repeated numbers) over every series and period."""
    by_period: dict[tuple[str, str], list[int]] = {}
    for inv in invoices:
        by_period.setdefault((inv.series, inv.period), []).append(inv.sequence)
    missing = sum(max(seqs) - len(set(seqs)) for seqs in by_period.values())
    repeats = sum(len(seqs) - len(set(seqs)) for seqs in by_period.values())
    return missing, repeats


def tally(c: Campaign, config: Path) -> Tally:
    invoices = [i for i in c.store.iter_invoices() if i.kind == "invoice"]
    per_order = Counter(i.order_id for i in invoices)
    missing, repeats = numbering_gaps(invoices)
    received = Counter(r.lower() for m in c.smtp.received for r in m.rcpt_tos)
    expected = {order_email(i) for i in range(len(c.order_ids))}
    svc = Services.from_settings(load_settings(config, environ={}))
    try:
        _checked, problems = verify_archive(svc.store, svc.archive)
    finally:
        svc.close()
    dead = [f"#{j.id} {j.kind} order {j.order_id}: {(j.last_error or '')[:160]}"
            for j in c.store.list_jobs(states=("dead",))]  # fmt: skip
    return Tally(
        orders=len(c.order_ids),
        invoices=len(invoices),
        duplicate_invoices=sum(n - 1 for n in per_order.values()) + repeats,
        gaps=missing,
        orders_without_invoice=sorted({str(o) for o in c.order_ids} - set(per_order)),
        emails=len(c.smtp.received),
        max_per_order=max(received.values(), default=0),
        duplicate_emails=sum(n - 1 for n in received.values()),
        never_emailed=sorted(expected - set(received)),
        jobs=c.store.job_counts(),
        dead=dead,
        archive_problems=[f"{p.number}: {p.what}" for p in problems][:10],
        lags=poll_lags(c),
        polls=poll_stats(c.store),
    )


def failures(c: Campaign, t: Tally, drained: bool) -> list[str]:
    kills, polled = len(c.kills), sum(k.polling for k in c.kills)
    checks = {
        "the queue never settled (cap reached)": not drained,
        f"{t.orders - t.invoices} order(s) without an invoice": t.invoices != t.orders,
        f"{t.duplicate_invoices} duplicate invoice(s)": t.duplicate_invoices > 0,
        f"{t.gaps} gap(s) in the numbering": t.gaps > 0,
        f"{t.duplicate_emails} duplicate emails > {kills} kills": t.duplicate_emails > kills,
        f"{len(t.never_emailed)} order(s) never emailed": bool(t.never_emailed),
        f"{t.jobs['dead']} dead job(s)": t.jobs["dead"] > 0,
        f"{len(t.archive_problems)} archive problem(s)": bool(t.archive_problems),
        f"{len(c.fleet.exits)} unplanned service exit(s)": bool(c.fleet.exits),
        f"{len(c.fleet.orphans)} orphan worker(s) still running": bool(c.fleet.orphans),
        f"only {polled} kill(s) landed during a poll": polled < min(2, c.args.poll_kills),
    }
    return [what for what, failed in checks.items() if failed]


def log_warnings(workdir: Path) -> Counter[str]:
    """Warning-or-worse JSON log events of every service start, by event name."""
    found: Counter[str] = Counter()
    for path in sorted(workdir.glob("service-*.log")):
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith("Traceback"):
                found["Traceback (plain text)"] += 1
            if not line.startswith("{"):
                continue
            with suppress(ValueError):
                entry = json.loads(line)
                if entry.get("level") in ("warning", "error", "critical"):
                    found[f"{entry.get('level')}: {entry.get('event')}"] += 1
    return found


def print_report(c: Campaign, t: Tally, wall: float, bad: list[str]) -> None:
    a = c.args
    print(f"$ .venv/bin/python bench/chaos.py {' '.join(map(shlex.quote, sys.argv[1:]))}".rstrip())
    print(f"PostgreSQL, 2 × quittance run --workers {a.workers}, 1 WooCommerce sandbox shop "
          f"polled every {a.poll_interval} s (list latency {a.list_latency:g} s); lease "
          f"{LEASE_SECONDS} s, heartbeat {HEARTBEAT_SECONDS} s, [email] timeout "
          f"{EMAIL_TIMEOUT} s; seed {a.seed}; {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.2f} at the end")  # fmt: skip
    never = t.orders - c.webhooks.ok - len(c.webhooks.failed)
    print(f"orders paid: {t.orders} ({c.webhooks.ok} webhooks answered 200, "
          f"{len(c.webhooks.failed)} not, {never} never sent: polling's); the shop saw "
          f"{c.woo.hang_ups} request(s) cut by a kill")  # fmt: skip
    kinds = Counter(k.kind for k in c.kills)
    print(
        f"SIGKILLs: {len(c.kills)} ({kinds['worker']} worker, {kinds['service']} service, "
        f"{kinds['poll']} polling service; {sum(k.polling for k in c.kills)} landed during "
        f"a poll); PostgreSQL restart: "
        + (f"back after {c.pg_outage:.1f} s" if c.pg_outage is not None else "none")
    )
    h = c.smtp.handler
    print(f"slow SMTP: {h.delayed} DATA replies delayed {a.slow_delay:g} s, {h.abandoned} "
          f"abandoned by the client (not delivered), {h.late} delivered late")  # fmt: skip
    print_numbers(c, t, wall)
    print("verdict: " + ("OK" if not bad else "FAILED — " + "; ".join(bad)))


def print_numbers(c: Campaign, t: Tally, wall: float) -> None:
    rows = [
        ("orders", t.orders),
        ("invoices", t.invoices),
        ("duplicate invoices (must be 0)", t.duplicate_invoices),
        ("gaps in numbering (must be 0)", t.gaps),
        ("orders without an invoice (must be 0)", len(t.orders_without_invoice)),
        ("emails received", t.emails),
        ("emails per order, max", t.max_per_order),
        ("duplicate emails (must be ≤ kills)", f"{t.duplicate_emails} ≤ {len(c.kills)}"),
        ("orders never emailed (must be 0)", len(t.never_emailed)),
        ("dead jobs (must be 0)", t.jobs["dead"]),
        ("wall time", f"{wall:.0f} s"),
    ]
    for label, value in rows:
        print(f"  {label:<40}{value}")
    print("  jobs: " + ", ".join(f"{k} {v}" for k, v in t.jobs.items()))
    p = t.polls
    if p.durations:
        print(f"  polls: {p.done} done (claim → done: median {statistics.median(p.durations):.1f}"
              f" s, max {p.durations[-1]:.1f} s), {p.stopped} stopped, {p.taken_over} taken "
              "over from a dead holder")  # fmt: skip
    for lag in t.lags:
        k = lag.kill
        took = f"{lag.taken_over_s:.1f} s" if lag.taken_over_s is not None else "never"
        done = f"{lag.done_s:.1f} s" if lag.done_s is not None else "never"
        print(f"  poll crash at +{k.at - c.t0:.0f} s (service {k.service}): lease taken over "
              f"after {took} by {lag.by or '-'}, next poll done after {done}")  # fmt: skip
    print_evidence(c, t)


def print_evidence(c: Campaign, t: Tally) -> None:
    for what, items in (
        ("orders without an invoice", t.orders_without_invoice),
        ("never emailed", t.never_emailed),
        ("dead jobs", t.dead),
        ("archive problems", t.archive_problems),
        ("failed webhooks", c.webhooks.failed),
    ):
        if items:
            print(f"  {what}: {items[:10]}")
    for ex in c.fleet.exits:
        print(f"  service {ex.service} exited by itself ({ex.code}) at +{ex.at - c.t0:.0f} s:")
        # The checkout's own location is no business of the report.
        print("    " + "\n    ".join(line.replace(str(ROOT), ".")[:240] for line in ex.tail))
    if c.fleet.orphan_life:
        print(f"  workers of killed services stopped {min(c.fleet.orphan_life):.1f}–"
              f"{max(c.fleet.orphan_life):.1f} s after the kill; still running: "
              f"{sorted(c.fleet.orphans)}")  # fmt: skip
    warnings = log_warnings(c.fleet.workdir)
    if warnings:
        print("  service log warnings: " + ", ".join(f"{k} ×{n}" for k, n in
                                                      warnings.most_common(12)))  # fmt: skip
    print("timeline:")
    for line in c.notes:
        print(f"  {line}")


# -- main -------------------------------------------------------------------------------------


def start_fleet(c: Campaign) -> None:
    for svc in c.fleet.services:
        c.fleet.start(svc)
    for svc in c.fleet.services:
        if not wait_until(c, f"service {svc.name} to answer /healthz", svc.healthy, 90):
            raise SystemExit(2)
        if c.fleet.exits:
            tail = "\n".join(c.fleet.exits[0].tail)
            raise SystemExit(f"quittance run exited during start-up:\n{tail}")


def campaign(args: argparse.Namespace, workdir: Path) -> int:
    started = time.monotonic()
    woo = SlowListShop(args.list_latency).start()
    try:
        with (
            SlowSMTPServer(args.slow_delay) as smtp,
            fresh_database(args.pg_admin, keep=args.keep) as url,
        ):
            config = write_demo_config(
                workdir, None, woo=woo, database_url=url, poll_interval=args.poll_interval,
                extra=config_tables(smtp.port),
            )  # fmt: skip
            store = Store.open(url)  # migrated once here, before two services race to it
            fleet = Fleet(config, workdir, args.workers)
            c = Campaign(args, random.Random(args.seed), fleet, store, smtp, woo, started)
            try:
                return run_campaign(c, config)
            finally:
                fleet.stop_all()
                store.close()
    finally:
        woo.stop()
        if args.pg_restart:
            wait_pg(args.pg_admin, 60)  # whatever happened, leave the server answering


def run_campaign(c: Campaign, config: Path) -> int:
    start_fleet(c)
    up = c.t()
    c.t0 = time.monotonic()  # the burst's clock starts with both services up
    c.note(f"burst starts (both services answered /healthz {up:.1f} s after the bench began)")
    feeder = threading.Thread(target=feed_orders, args=(c,), name="orders", daemon=True)
    feeder.start()
    run_chaos(c)
    drained = drain(c)
    wall = time.monotonic() - c.t0
    c.note("stopping the services")
    c.fleet.stop_all()
    t = db_retry(lambda: tally(c, config))
    bad = failures(c, t, drained)
    print_report(c, t, wall, bad)
    return 1 if bad else 0


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--orders", type=int, default=300)
    p.add_argument("--burst", type=float, default=150, help="seconds over which orders arrive")
    p.add_argument("--lost-share", type=float, default=0.3, help="orders whose webhook is lost")
    p.add_argument("--kills", type=int, default=11, help="SIGKILLs in all")
    p.add_argument("--poll-kills", type=int, default=2, help="of a service while it polls")
    p.add_argument("--service-kills", type=int, default=3, help="of a random whole service")
    p.add_argument("--workers", type=int, default=2, help="quittance run --workers")
    p.add_argument("--poll-interval", type=int, default=10, help="seconds (the config's floor)")
    p.add_argument("--list-latency", type=float, default=0.7, help="s per order-list page")
    p.add_argument("--slow-delay", type=float, default=15, help="s before a slow DATA reply")
    p.add_argument("--slow-count", type=int, default=10, help="messages answered slowly")
    p.add_argument("--no-pg-restart", dest="pg_restart", action="store_false")
    p.add_argument("--pg-admin", default=PG_ADMIN_URL, help="admin database URL (trust auth)")
    p.add_argument("--drain-timeout", type=float, default=420, help="cap on the final wait, s")
    p.add_argument("--seed", type=int, default=20261128)
    p.add_argument("--keep", action="store_true", help="keep the work folder (logs, config)")
    args = p.parse_args()
    if args.poll_kills + args.service_kills > args.kills:
        p.error("--poll-kills + --service-kills exceed --kills")
    return args


def main() -> int:
    args = parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="qchaos-"))
    try:
        return campaign(args, workdir)
    finally:
        if args.keep:
            print(f"work folder kept: {workdir.name} in the temp directory", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
