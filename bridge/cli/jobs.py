"""`quittance worker`, `failures`, `retry`, `status`: the job queue."""

from __future__ import annotations

from typing import Annotated

import typer

from bridge.cli.app import (
    ConfigOption,
    app,
    console,
    err_console,
    services_for,
    settings_or_exit,
)


@app.command("worker")
def worker_command(
    config: ConfigOption = None,
    concurrency: Annotated[
        int, typer.Option("--concurrency", "-n", help="Worker processes (default: CPU cores).")
    ] = 0,
    once: Annotated[bool, typer.Option("--once", help="Stop when no job is ready.")] = False,
) -> None:
    """Process durable jobs (issue, render, email) with retries and backoff.

    Example: `quittance worker -c quittance.toml --concurrency 2` (Ctrl-C stops after the
    current job; a killed worker's jobs come back when their lease expires).
    """
    import os

    from bridge.worker import run_worker_processes

    settings_or_exit(config)  # fail fast, once, on a bad config
    raise typer.Exit(run_worker_processes(config, concurrency or os.cpu_count() or 1, once))


@app.command("failures")
def failures_command(config: ConfigOption = None) -> None:
    """List dead and skipped jobs and quarantined orders, with their reasons.

    Example: `quittance failures -c quittance.toml`, then `quittance retry ID` or `--all`.
    """
    from rich.markup import escape
    from rich.table import Table

    svc = services_for(config)
    try:
        jobs = svc.store.list_jobs(states=("dead", "skipped"))
        orders = svc.store.list_quarantined()
    finally:
        svc.close()
    if not jobs and not orders:
        console.print("No failures: every job is done or on its way.")
        return
    if jobs:
        table = Table(title="Jobs that need you")
        for column in ("id", "step", "state", "shop", "order", "attempts", "reason"):
            table.add_column(column, overflow="fold")
        for job in jobs:
            table.add_row(
                str(job.id),
                job.kind,
                job.state,
                job.shop or "",
                job.order_id or "",
                str(job.attempts),
                escape(job.last_error or ""),  # a reason names "[email]": text, not markup
            )
        console.print(table)
    if orders:
        table = Table(title="Quarantined orders (no invoice issued)")
        for column in ("shop", "order", "since", "reason"):
            table.add_column(column, overflow="fold")
        for order in orders:
            table.add_row(
                order.shop,
                order.order_id,
                f"{order.updated_at:%Y-%m-%d %H:%M}",
                escape(order.reason or ""),
            )
        console.print(table)


@app.command("retry")
def retry_command(
    job_id: Annotated[int | None, typer.Argument(help="Job id from `quittance failures`.")] = None,
    all_: Annotated[
        bool, typer.Option("--all", help="Replay every dead job and quarantined order.")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Replay a dead job (or all of them, and every quarantined order) now.

    Example: `quittance retry 42` or `quittance retry --all`. Skipped steps (e.g. no email
    address) are replayed only by id, once you fixed the cause.
    """
    if job_id is None and not all_:
        err_console.print("give a job id or --all")
        raise typer.Exit(2)
    svc = services_for(config)
    try:
        if job_id is not None:
            if not svc.store.requeue_job(job_id):
                err_console.print(f"job {job_id} is not dead or skipped (see `quittance failures`)")
                raise typer.Exit(1)
            console.print(f"job {job_id} queued again")
            return
        count = sum(svc.store.requeue_job(job.id) for job in svc.store.list_jobs(states=("dead",)))
        orders = svc.store.list_quarantined()
        for order in orders:
            svc.store.requeue_order(order.shop, order.order_id)
        console.print(f"{count} job(s) and {len(orders)} quarantined order(s) queued again")
    finally:
        svc.close()


@app.command("status")
def status_command(config: ConfigOption = None) -> None:
    """Per shop: last poll, poll lag, webhooks and invoices today, jobs; last failures.

    Example: `quittance status -c quittance.toml`
    """
    from bridge.ops import status_tables

    svc = services_for(config)
    try:
        for table in status_tables(svc):
            console.print(table)
    finally:
        svc.close()
