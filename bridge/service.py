"""`quittance run`: the webhook server, the polling scheduler and the job workers in one service.

    main process ─ uvicorn (FastAPI: webhooks, invoice links, /healthz /readyz /metrics)
                 ─ APScheduler (in-process ticks: one poll tick per shop, daily digest)
    N processes  ─ bridge.worker (render/email are CPU/IO bound: processes, not threads)

Several services may share one PostgreSQL: jobs are claimed with leases, and each shop's poll
is guarded by a lease row in the database (APScheduler 3 cannot share a job store), so every
shop is polled once per interval whatever the number of services.

Shutdown (SIGTERM/SIGINT): webhooks get 503, the scheduler stops, workers finish their current
job and exit, then the server closes; all within the 30 s most supervisors allow. A SIGKILL
loses nothing: leases expire and jobs run again.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import structlog
import uvicorn
from apscheduler.schedulers.background import BackgroundScheduler

from bridge.config import Settings
from bridge.crediting import reconcile_deleted_refunds
from bridge.ecb import refresh_rates
from bridge.polling import PollReport, poll_shop
from bridge.render.override_check import refuse_incomplete_override
from bridge.services import Services, alert_owner
from bridge.web.app import Draining, create_app
from bridge.worker import signal_processes, spawn_worker, start_worker_processes

log = structlog.get_logger()
SHUTDOWN_GRACE_SECONDS = 25


def service_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def poll_tick(svc: Services, shop: str, owner: str) -> PollReport | None:
    """One scheduled poll: only if this process wins the shop's lease for this interval."""
    config = svc.settings.shop(shop)
    if config is None:
        return None
    interval = timedelta(seconds=config.poll_interval_seconds)
    # A poll that runs longer than the lease could overlap another process's: keep it long.
    lease = max(interval, timedelta(minutes=10))
    # Slightly less than the interval, so a tick arriving a few ms early is not skipped.
    claimed_at = svc.store.claim_poll(shop, owner, lease=lease, interval=interval * 0.9)
    if claimed_at is None:
        return None
    try:
        report = poll_shop(svc, shop, claimed_at=claimed_at)
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


def daily_digest(svc: Services) -> None:
    counts = svc.store.job_counts()
    stuck = counts.get("dead", 0) + len(svc.store.list_quarantined())
    if stuck:
        alert_owner(
            svc,
            key="digest",
            title=f"Quittance: {stuck} item(s) need you",
            body=f"Jobs: {counts}. Run `quittance failures` then `quittance retry --all`.",
        )


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
    scheduler = BackgroundScheduler(timezone="UTC", job_defaults={"coalesce": True})
    for shop in svc.settings.shops:
        if not shop.enabled:
            continue
        # First tick at start: an order paid while the service was down is caught at once.
        scheduler.add_job(
            poll_tick,
            "interval",
            seconds=shop.poll_interval_seconds,
            args=(svc, shop.name, owner),
            id=f"poll:{shop.name}",
            max_instances=1,
            next_run_time=_now(),
        )
    scheduler.add_job(daily_digest, "cron", hour=7, args=(svc,), id="digest")
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
    return scheduler


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

    config = uvicorn.Config(
        app,
        host=host or settings.server.host,
        port=port or settings.server.port,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=5,
    )
    server = _Server(config, on_exit)
    log.info(
        "quittance running",
        url=f"http://{config.host}:{config.port}",
        workers=workers,
        shops=[s.name for s in settings.shops if s.enabled],
        startup_seconds=round(time.monotonic() - started, 2),
    )
    try:
        server.run()
    finally:
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
