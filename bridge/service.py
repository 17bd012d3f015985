"""`quittance run`: the webhook server, the polling scheduler and the job workers in one service.

    main process ─ uvicorn, public port (FastAPI: webhooks, invoice links, /healthz /readyz)
                 ─ uvicorn, metrics port, same event loop (/metrics, /readyz with its reasons)
                 ─ uvicorn, dashboard port, same event loop (the owner's pages, bridge/dashboard)
                 ─ APScheduler (in-process ticks: one poll tick per shop, daily digest)
    N processes  ─ bridge.worker (render/email are CPU/IO bound: processes, not threads)

Several services may share one PostgreSQL: jobs are claimed with leases, and each shop's poll
is guarded by a lease row in the database (APScheduler 3 cannot share a job store), so every
shop is polled once per interval whatever the number of services.

Shutdown (SIGTERM/SIGINT): webhooks get 503, the scheduler stops, workers finish their current
job and exit, then the public server closes, then the metrics one (a scrape during the drain
still sees it); all within the 30 s most supervisors allow. A SIGKILL loses nothing: leases
expire and jobs run again.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import structlog
import uvicorn
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from bridge.config import Settings
from bridge.crediting import reconcile_deleted_refunds
from bridge.ecb import refresh_rates
from bridge.logs import error_line
from bridge.outages import check_outages, daily_digest
from bridge.polling import PollLease, PollReport, poll_lease_for, poll_shop
from bridge.probes import run_probes
from bridge.render.override_check import refuse_incomplete_override
from bridge.services import Services, alert_owner
from bridge.web.app import Draining, create_app, create_ops_app
from bridge.web.limits import MAX_HEAD_BYTES, HeadTimeoutProtocol
from bridge.worker import default_worker_id, signal_processes, spawn_worker, start_worker_processes

log = structlog.get_logger()
SHUTDOWN_GRACE_SECONDS = 25


def service_id() -> str:
    """Who holds a shop's poll lease (random characters too: see `default_worker_id`)."""
    return default_worker_id()


def poll_tick(
    svc: Services, shop: str, owner: str, *, running: threading.Lock | None = None
) -> PollReport | None:
    """One scheduled tick (every heartbeat): poll only if this process wins the shop's lease,
    i.e. the poll is due (an interval since the last claim, or its last holder died holding
    it) and nobody live holds it. `running` is held for the poll: a tick arriving while this
    process still polls the shop returns at once."""
    config = svc.settings.shop(shop)
    if config is None:
        return None
    if running is not None and not running.acquire(blocking=False):
        return None
    try:
        return _poll_with_lease(svc, shop, owner, config.poll_interval_seconds)
    except Exception as exc:
        # The database itself failed (a restart): nothing to record the poll in. One log
        # line, not the scheduler's traceback; the next tick tries again, and a lease this
        # tick may hold lapses within three heartbeats.
        log.warning("poll tick failed", shop=shop, error=error_line(exc))
        return None
    finally:
        if running is not None:
            running.release()


def _poll_with_lease(
    svc: Services, shop: str, owner: str, interval_seconds: int
) -> PollReport | None:
    heartbeat = timedelta(seconds=svc.settings.jobs.heartbeat_seconds)
    interval = timedelta(seconds=interval_seconds)
    # Ticks land on a heartbeat grid: a claim is due a little before the full interval, so a
    # tick a hair early is not put off by a whole heartbeat; at most a tenth of it, so that
    # replicas ticking out of step still poll once per interval, not twice.
    due = interval - min(interval * 0.1, heartbeat / 2)
    lease = poll_lease_for(heartbeat)  # short: it dies with its holder, renewed meanwhile
    claimed_at = svc.store.claim_poll(shop, owner, lease=lease, interval=due)
    if claimed_at is None:
        return None
    try:
        with PollLease(svc.store, shop, owner, heartbeat=heartbeat, claimed_at=claimed_at) as held:
            report = poll_shop(svc, shop, claimed_at=claimed_at, still_held=held.held)
    except Exception as exc:
        svc.store.finish_poll(shop, owner, error=f"{type(exc).__name__}: {exc}")
        log.warning("poll failed", shop=shop, error=str(exc))
        alert_owner(
            svc,
            key=f"poll:{shop}:{type(exc).__name__}",
            title=f"Quittance: cannot poll shop {shop}",
            body=f"{type(exc).__name__}: {exc}\nRun `quittance doctor` to check the shop.",
        )
        return None
    if report.stopped:  # the lease is another replica's now: nothing of ours to finish
        return report
    svc.store.finish_poll(shop, owner)
    log.info("poll done", shop=shop, pages=report.pages, new=report.new_orders)
    return report


def reconcile_refunds(svc: Services) -> None:
    for shop in svc.settings.shops:
        if not shop.enabled:
            continue
        try:
            gone, unread = reconcile_deleted_refunds(svc, shop.name)
        except Exception as exc:  # a scheduler job must not die: tomorrow tries again
            log.warning("refund reconciliation failed", shop=shop.name, error=str(exc))
            continue
        log.info("refunds reconciled", shop=shop.name, deleted=len(gone), unread=len(unread))


def scheduled(job: Callable[[Services], object], name: str) -> Callable[[Services], None]:
    """A scheduler job that logs its failure instead of dying with it: the next run tries
    again (the outage check and the probes must outlive a database restart)."""

    def run(svc: Services) -> None:
        try:
            job(svc)
        except Exception as exc:
            log.warning("scheduled job failed", job=name, error=error_line(exc))

    return run


def startup_warnings(svc: Services) -> None:
    """Things the owner should know at start (e.g. a second invoice numbering on the shop).
    Run in the scheduler, not before serving: they call the shops, which may be slow. (A
    template override missing a mandatory mention is refused before serving: `run_service`.)"""
    for shop in svc.settings.shops:
        if not shop.enabled:
            continue
        try:
            connector = svc.connector(shop.name)
            for warning in getattr(connector, "startup_warnings", lambda: [])():
                log.warning("shop warning", shop=shop.name, warning=warning)
        except Exception as exc:
            log.warning("shop check failed at start", shop=shop.name, error=str(exc))


def build_scheduler(svc: Services, owner: str) -> BackgroundScheduler:
    # One thread per shop's poll, plus the outage check, probes, digest and supervisor: with
    # APScheduler's default ten, many shops would make those miss their turn.
    threads = 10 + sum(shop.enabled for shop in svc.settings.shops)
    scheduler = BackgroundScheduler(
        timezone="UTC",
        job_defaults={"coalesce": True},
        executors={"default": ThreadPoolExecutor(threads)},
    )
    for shop in svc.settings.shops:
        if not shop.enabled:
            continue
        # First tick at start: an order paid while the service was down is caught at once.
        # A tick every heartbeat, not every interval: most find the poll not due (one read),
        # but one finds a dead replica's lease lapsed and polls at once. A tick during this
        # process's own poll returns on `running` (not skipped by APScheduler, which warns).
        scheduler.add_job(
            poll_tick,
            "interval",
            seconds=svc.settings.jobs.heartbeat_seconds,
            args=(svc, shop.name, owner),
            kwargs={"running": threading.Lock()},
            id=f"poll:{shop.name}",
            max_instances=2,
            next_run_time=_now(),
        )
    alerts = svc.settings.alerts
    # Every minute: failures that outlast [alerts] after_minutes, and dead jobs, alert once per
    # cause and clear once (bridge/outages.py); the probes try SMTP and the shops before any
    # job does, without ever touching /readyz.
    scheduler.add_job(
        scheduled(check_outages, "outages"), "interval", minutes=1, args=(svc,), id="outages"
    )
    scheduler.add_job(
        scheduled(run_probes, "probes"), "interval", seconds=alerts.probe_interval_seconds,
        args=(svc,), id="probes", next_run_time=_now(),
    )  # fmt: skip
    scheduler.add_job(
        scheduled(daily_digest, "digest"), "cron", hour=alerts.digest_hour, args=(svc,),
        id="digest",
    )  # fmt: skip
    # Refunds deleted on a shop leave no trace a poll can see: once a day, read again the
    # orders whose refunds were credited lately (bridge/crediting.py).
    scheduler.add_job(reconcile_refunds, "cron", hour=6, args=(svc,), id="refunds")
    # The ECB publishes around 16:00 CET (15:00 UTC, 14:00 in summer): fetch after, hourly
    # until midnight so one failed download does not cost a day, and at start, so orders
    # waiting for the day's rate are issued that evening (bridge/ecb.py). A download that
    # brings nothing newer keeps the file in place.
    scheduler.add_job(
        refresh_rates,
        "cron",
        hour="15-23",
        minute=30,
        args=(svc.settings,),
        id="ecb-rates",
        next_run_time=_now(),
    )
    scheduler.add_job(startup_warnings, args=(svc,), id="startup", next_run_time=_now())
    # Customers' comments are kept [[surveys]] comment_days, not a day more; spent rate-limit
    # windows go too. Hourly, and at start (a service that was down catches up).
    scheduler.add_job(
        scheduled(erase_expired_customer_data, "customer-data"), "interval", hours=1,
        args=(svc,), id="customer-data", next_run_time=_now(),
    )  # fmt: skip
    hours = svc.settings.dashboard.verify_every_hours
    if hours:
        scheduler.add_job(
            scheduled(scheduled_integrity_check, "integrity"), "interval", hours=hours,
            args=(svc,), id="integrity",
            # soon after start too: a service restarted more often than every `hours` would
            # otherwise never check (the claim keeps it to one run per period)
            next_run_time=_now() + timedelta(minutes=5),
        )  # fmt: skip
    return scheduler


def scheduled_integrity_check(svc: Services) -> None:
    """What `quittance verify` does, for the dashboard's integrity page; one replica per
    period runs it (the claim is shared through the database)."""
    from bridge.integrity import run_check

    hours = svc.settings.dashboard.verify_every_hours
    if svc.store.claim_alert("integrity-check:scheduled", timedelta(hours=hours, minutes=-5)):
        result = run_check(svc, "schedule")
        log.info("integrity checked", documents=result.checked, problems=result.problem_count)


def erase_expired_customer_data(svc: Services) -> None:
    erased = svc.store.erase_expired_customer_data()
    if erased:
        log.info("survey comments erased after their keeping time", comments=erased)


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


class _Server(uvicorn.Server):
    """uvicorn, with our shutdown steps run first when a signal arrives."""

    def __init__(self, config: uvicorn.Config, on_exit: Any) -> None:
        super().__init__(config)
        self._on_exit = on_exit

    def handle_exit(self, sig: int, frame: Any) -> None:
        self._on_exit(sig)
        super().handle_exit(sig, frame)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # uvicorn re-raises the captured signal after shutting down, which would make a clean
        # SIGTERM stop look like a crash (exit -15) to systemd and Docker: we exit 0 instead.
        handled = (signal.SIGINT, signal.SIGTERM)
        original = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)


class _OpsServer(uvicorn.Server):
    """The metrics listener: told to stop by `run_service`, after the public server has
    drained, so it never takes the signals itself."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def public_config(app: Any, settings: Settings, host: str, port: int) -> uvicorn.Config:
    """uvicorn for the port that faces the internet, with the limits of [server]."""
    server = settings.server
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=5,
        http=HeadTimeoutProtocol,
        # uvicorn types it int; a float works (asyncio's call_later) and tests use 0.5 s.
        timeout_keep_alive=server.idle_timeout_seconds,  # type: ignore[arg-type]
        limit_concurrency=server.max_connections,
        h11_max_incomplete_event_size=MAX_HEAD_BYTES,
        # Behind a proxy, its X-Forwarded-For names the client (the portal's rate limits
        # count clients); from anyone else the header is ignored.
        proxy_headers=True,
        forwarded_allow_ips=list(server.trusted_proxies),
    )


def bind_metrics(settings: Settings, public_port: int) -> socket.socket | None:
    """The metrics listener's socket, or None (off, or its port is taken: webhooks matter more
    than metrics, so the service starts without them and says how to fix it). `public_port`:
    the one `run --port` chose, which the config's own check cannot see."""
    server = settings.server
    return bind_side_listener(
        "metrics", server.metrics_host, server.metrics_port, public_port,
        fix="[server] metrics_port (0: no listener)",
    )  # fmt: skip


def bind_dashboard(settings: Settings, public_port: int) -> socket.socket | None:
    """The owner's dashboard's socket, or None (off, or its port is taken: webhooks first)."""
    dashboard = settings.dashboard
    if not dashboard.serves:
        return None
    return bind_side_listener(
        "dashboard", dashboard.host, dashboard.port, public_port,
        fix="[dashboard] port (0: no dashboard)",
    )  # fmt: skip


def bind_side_listener(
    what: str, host: str, port: int, public_port: int, *, fix: str
) -> socket.socket | None:
    """A listener beside the public port; never the public port itself (it faces the
    internet), and a port that is taken costs that listener only, never the webhooks."""
    if not port:
        return None
    if port == public_port:
        log.error(
            f"{what} listener not started",
            address=f"{host}:{port}",
            error="the public port is the same",
            fix=f"choose another `quittance run --port` or {fix}",
        )
        return None
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family)
    except OSError as exc:
        log.error(
            f"{what} listener not started",
            address=f"{host}:{port}",
            error=error_line(exc),
            fix=f"free that port or set {fix}",
        )
        return None


SideServer = tuple[uvicorn.Server, socket.socket]


async def _serve(public: uvicorn.Server, sides: list[SideServer]) -> None:
    """The public server until it stops, then the side listeners (metrics, dashboard): a
    scrape or an owner's page during the drain still gets an answer."""
    tasks = [asyncio.create_task(server.serve(sockets=[sock])) for server, sock in sides]
    try:
        await public.serve()
    finally:
        for server, _sock in sides:
            server.should_exit = True
        for task in tasks:
            await task


def anchor_heads_at_start(svc: Services) -> None:
    """Creates the chain key on a new install (its log line says to back it up) and anchors
    every series' head: an upgraded install's history, or a head a full disk kept back."""
    try:
        svc.anchor_chain_heads()
    except Exception as exc:  # intake must not wait for the archive's disk
        log.warning("chain heads not anchored", error=error_line(exc))


def run_service(
    settings: Settings,
    config_path: Path | None,
    *,
    workers: int,
    host: str | None = None,
    port: int | None = None,
) -> int:
    started = time.monotonic()
    owner = service_id()
    svc = Services.from_settings(settings)
    try:
        # Before serving: an override that drops a mandatory mention would have every
        # invoice refused after its number is taken; better not to start at all.
        refuse_incomplete_override(svc.templates)
    except Exception:
        svc.close()
        raise
    anchor_heads_at_start(svc)
    draining = Draining()
    app = create_app(svc, draining=draining)
    procs = start_worker_processes(config_path, workers) if workers > 0 else []
    scheduler = build_scheduler(svc, owner)

    def respawn_dead_workers() -> None:
        # A worker that died (OOM, a crash in a native library) must not silently stop all
        # processing while webhooks keep being accepted.
        for index, proc in enumerate(procs):
            if not proc.is_alive() and not draining.active:
                log.warning("worker died, starting a new one", exitcode=proc.exitcode)
                procs[index] = spawn_worker(config_path, index)

    scheduler.add_job(respawn_dead_workers, "interval", seconds=5, id="supervise")
    scheduler.start()

    def on_exit(sig: int) -> None:
        if draining.active:
            return
        log.info("shutting down", signal=signal.Signals(sig).name)
        draining.start()
        scheduler.shutdown(wait=False)
        signal_processes(procs, signal.SIGTERM)

    config = public_config(
        app, settings, host or settings.server.host, port or settings.server.port
    )
    server = _Server(config, on_exit)
    sides = side_servers(svc, settings, config.port, draining)
    ops_socket = next((sock for name, _, sock in sides if name == "metrics"), None)
    dashboard_socket = next((sock for name, _, sock in sides if name == "dashboard"), None)
    log.info(
        "quittance running",
        url=f"http://{config.host}:{config.port}",
        metrics=_listener_url(ops_socket, "/metrics"),
        dashboard=_listener_url(dashboard_socket, "/"),
        workers=workers,
        shops=[s.name for s in settings.shops if s.enabled],
        startup_seconds=round(time.monotonic() - started, 2),
    )
    try:
        with asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:
            runner.run(_serve(server, [(side, sock) for _, side, sock in sides]))
    finally:
        for _, _side, sock in sides:
            sock.close()
        on_exit(signal.SIGTERM)
        deadline = time.monotonic() + SHUTDOWN_GRACE_SECONDS
        for proc in procs:
            proc.join(max(0.0, deadline - time.monotonic()))
        for proc in procs:
            if proc.is_alive():  # a job stuck past the grace period: its lease will expire
                log.warning("worker did not stop in time, killing it", pid=proc.pid)
                proc.kill()
                proc.join(2)
        svc.close()
    log.info("stopped")
    return 0


def side_servers(
    svc: Services, settings: Settings, public_port: int, draining: Draining
) -> list[tuple[str, uvicorn.Server, socket.socket]]:
    """The listeners beside the public port that could be bound: metrics, the dashboard."""
    from bridge.dashboard.app import create_dashboard_app  # its templates load only if served

    sides = []
    ops_socket = bind_metrics(settings, public_port)
    if ops_socket is not None:
        ops_app = create_ops_app(svc, draining=draining)
        sides.append(("metrics", _side_server(ops_app), ops_socket))
    dashboard_socket = bind_dashboard(settings, public_port)
    if dashboard_socket is not None:
        app = create_dashboard_app(svc)
        sides.append(("dashboard", _side_server(app, proxied=settings), dashboard_socket))
    return sides


def _side_server(app: Any, proxied: Settings | None = None) -> _OpsServer:
    # Behind the owner's reverse proxy, its X-Forwarded-For names the client the sign-in
    # limits count; from anyone else the header is ignored.
    proxy = {} if proxied is None else {
        "proxy_headers": True, "forwarded_allow_ips": list(proxied.server.trusted_proxies),
    }  # fmt: skip
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", **proxy)
    return _OpsServer(config)


def _listener_url(sock: socket.socket | None, path: str) -> str | None:
    if sock is None:
        return None
    host, port = sock.getsockname()[:2]
    return f"http://{host}:{port}{path}"
