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
def failures_command(
    config: ConfigOption = None,
    lang: Annotated[
        str, typer.Option("--lang", help="Language of the explanations: en or fr.")
    ] = "en",
    limit: Annotated[
        int,
        typer.Option("--limit", min=0, help="Show only the newest N of each list (0: all)."),
    ] = 0,
) -> None:
    """List what needs you: dead jobs, skipped ones you can act on and quarantined orders,
    newest first, each with what to do and the raw reason; then, apart, the jobs retrying by
    themselves. Skips with nothing to do (no mobile for a text…) are in the deliveries log.
    Times are in the [seller] timezone.

    Example: `quittance failures -c quittance.toml`, then `quittance retry ID` or `--all`.
    """
    from bridge.ops import failures_view, retrying_view

    svc = services_for(config)
    try:
        view = failures_view(svc, locale=lang, limit=limit or None)
        again = retrying_view(svc, locale=lang, limit=limit or None)
    finally:
        svc.close()
    if view is None:
        console.print("No failures: every job is done or on its way.")
    else:
        console.print(view)
    if again is not None:
        console.print(again)


@app.command("retry")
def retry_command(
    target: Annotated[
        str | None,
        typer.Argument(
            help="Job id, or key (order:SHOP:ORDER for a quarantined order) from "
            "`quittance failures`."
        ),
    ] = None,
    all_: Annotated[
        bool, typer.Option("--all", help="Replay every dead job and quarantined order.")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Replay a dead or skipped job or a quarantined order (or all dead jobs and quarantined
    orders) now.

    Example: `quittance retry 42`, `quittance retry order:boutique:1006` or `quittance retry
    --all`. Skipped steps (e.g. no email address) are replayed only by id, once you fixed
    the cause.
    """
    from bridge.overview import retry_all, retry_failure

    if target is None and not all_:
        err_console.print("give a job id or key, or --all")
        raise typer.Exit(2)
    svc = services_for(config)
    try:
        if target is not None:
            key = f"job:{target}" if target.isdigit() else target
            if not retry_failure(svc, key):
                err_console.print(
                    f"{_named(target)} is not dead, skipped or quarantined "
                    "(see `quittance failures`)"
                )
                raise typer.Exit(1)
            console.print(f"{_named(target)} queued again")
            return
        jobs, orders = retry_all(svc)
        console.print(f"{jobs} job(s) and {orders} quarantined order(s) queued again")
    finally:
        svc.close()


def _named(target: str) -> str:
    return f"job {target}" if target.isdigit() else target


@app.command("status")
def status_command(config: ConfigOption = None) -> None:
    """Per shop: last poll, poll lag, webhooks, invoices and credit notes today, jobs; today's
    deliveries; the first failures (as `quittance failures` lists them, times in the
    [seller] timezone); open problems.

    Example: `quittance status -c quittance.toml`
    """
    from bridge.ops import status_tables

    svc = services_for(config)
    try:
        for view in status_tables(svc):
            console.print(view)
    finally:
        svc.close()
