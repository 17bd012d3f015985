"""`quittance …` — the command line. Thin: parse, load settings, call the pipeline, print.

Exit codes: 0 ok, 1 the command ran and found a problem (quarantine, verify failure),
2 bad configuration or usage.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from bridge.config import ConfigError, Settings

app = typer.Typer(
    help="Quittance: paid shop orders → archived, emailed factures acquittées.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="markdown",
)
# soft_wrap: never break a line at the terminal width: paths and numbers must stay whole when
# piped (`quittance issue … | cut -f2`). Tables still fit the terminal.
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="TOML configuration file (default: $QUITTANCE_CONFIG).",
        envvar="QUITTANCE_CONFIG",
        show_envvar=True,
    ),
]


def settings_or_exit(config: Path | None) -> Settings:
    from bridge.services import load_process_settings  # lazy: start-up speed

    try:
        return load_process_settings(config)
    except ConfigError as exc:
        err_console.print(f"[bold red]Configuration error[/]\n{exc}", markup=True, highlight=False)
        raise typer.Exit(2) from None


def services_for(config: Path | None):  # -> Services (import kept lazy: start-up speed)
    from bridge.services import Services

    return Services.from_settings(settings_or_exit(config))


@app.command("issue")
def issue_command(
    order_file: Annotated[
        Path, typer.Option("--order", help="Normalised order JSON (see bridge/samples/).")
    ],
    config: ConfigOption = None,
) -> None:
    """Issue, render and archive the facture acquittée of one paid order.

    Example: `quittance issue -c quittance.toml --order bridge/samples/01_fr_b2c_card_coupon.json`
    """
    from bridge.model import Order
    from bridge.pipeline import Outcome, accept_order, ensure_pdf
    from bridge.steps import STEPS, Flow

    try:
        order = Order.model_validate_json(order_file.read_bytes())
    except FileNotFoundError:
        err_console.print(f"{order_file}: no such file")
        raise typer.Exit(2) from None
    except ValidationError as exc:
        err_console.print(f"{order_file}: not a valid order:\n{exc}")
        raise typer.Exit(2) from None
    svc = services_for(config)
    try:
        # The invoice then lives its normal life: the worker emails it and attaches it back.
        then = STEPS.declared_follow_ups(svc, "issue", Flow(order.shop, {}))
        result = accept_order(svc, order, then=then)
        if result.outcome is Outcome.quarantined:
            err_console.print(
                f"order {order.shop}/{order.order_id} quarantined, no invoice issued:\n- "
                + "\n- ".join(result.reasons),
                highlight=False,
            )
            raise typer.Exit(1)
        assert result.invoice is not None
        ensure_pdf(svc, result.invoice)
        pdf_path = svc.archive.alias_for(result.invoice.number)
        note = "" if result.outcome is Outcome.issued else " (already issued earlier)"
        typer.echo(f"{result.invoice.number}\t{pdf_path}{note}")
    finally:
        svc.close()


@app.command("render")
def render_command(
    number: Annotated[str, typer.Argument(help="Invoice number, e.g. FA-2026-000042")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the PDF.")],
    config: ConfigOption = None,
) -> None:
    """Re-render an issued invoice from its immutable snapshot.

    Example: `quittance render FA-2026-000042 --out /tmp/FA-2026-000042.pdf`
    """
    from bridge.render import render_pdf

    svc = services_for(config)
    try:
        invoice = svc.store.get_invoice(number)
        if invoice is None:
            err_console.print(f"no invoice numbered {number!r}")
            raise typer.Exit(1)
        data = render_pdf(invoice.snapshot, svc.templates)
        out.write_bytes(data)
        same = (
            "identical to"
            if invoice.pdf_sha256 and _sha(data) == invoice.pdf_sha256
            else ("differs from" if invoice.pdf_sha256 else "no archived copy to compare with")
        )
        console.print(f"{out} ({len(data)} bytes; {same} the archived PDF)", highlight=False)
    finally:
        svc.close()


def _sha(data: bytes) -> str:
    from bridge.archive import sha256_hex

    return sha256_hex(data)


@app.command("verify")
def verify_command(config: ConfigOption = None) -> None:
    """Re-check every archived PDF and every link of the invoice hash chain.

    Exits 1 naming each altered or missing file. Example: `quittance verify -c quittance.toml`
    """
    from bridge.pipeline import verify_archive

    svc = services_for(config)
    try:
        checked, problems = verify_archive(svc.store, svc.archive)
    finally:
        svc.close()
    for problem in problems:
        err_console.print(f"{problem.number}: {problem.what}", highlight=False)
    if problems:
        err_console.print(f"{len(problems)} problem(s) in {checked} invoice(s)")
        raise typer.Exit(1)
    console.print(f"{checked} invoice(s) verified: every file and chain link intact")


@app.command("check-invoice")
def check_invoice_command(
    number: Annotated[str, typer.Argument(help="Invoice number, e.g. FA-2026-000042")],
    config: ConfigOption = None,
) -> None:
    """List any mandatory French mention an issued invoice lacks (exit 1 if one is missing).

    Example: `quittance check-invoice FA-2026-000042 -c quittance.toml`
    """
    from bridge.invoicing.legal import check_invoice, check_invoice_text

    svc = services_for(config)
    try:
        invoice = svc.store.get_invoice(number)
    finally:
        svc.close()
    if invoice is None:
        err_console.print(f"no invoice numbered {number!r}")
        raise typer.Exit(1)
    console.print(check_invoice_text(invoice.snapshot), highlight=False)
    if check_invoice(invoice.snapshot):
        raise typer.Exit(1)


@app.command("preview")
def preview_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the PDFs and PNGs.")] = Path(
        "var/preview"
    ),
    config: ConfigOption = None,
) -> None:
    """Render a sample invoice for each case (B2C, B2B, franchise, intra-EU, export, foreign
    currency, 100 lines…) with your templates and logo, to PDF and PNG (pdftoppm if present).

    Example: `quittance preview -c quittance.toml --out var/preview`
    """
    from bridge.render import Templates
    from bridge.render.preview import write_previews

    settings = settings_or_exit(config)
    paths = write_previews(
        out, templates=Templates(settings.templates.dir), logo=settings.seller.logo
    )
    for path in paths:
        console.print(str(path), highlight=False)


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
                job.last_error or "",
            )
        console.print(table)
    if orders:
        table = Table(title="Quarantined orders (no invoice issued)")
        for column in ("shop", "order", "since", "reason"):
            table.add_column(column, overflow="fold")
        for order in orders:
            table.add_row(
                order.shop, order.order_id, f"{order.updated_at:%Y-%m-%d %H:%M}", order.reason or ""
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


def _shop_or_exit(svc, shop: str):  # -> ShopConfig
    config = svc.settings.shop(shop)
    if config is None:
        names = ", ".join(s.name for s in svc.settings.shops) or "none configured"
        err_console.print(f"no enabled shop named {shop!r} (shops: {names})")
        raise typer.Exit(2)
    return config


ShopOption = Annotated[str, typer.Option("--shop", help="The shop's `name` in [[shops]].")]


@app.command("poll")
def poll_command(shop: ShopOption, config: ConfigOption = None) -> None:
    """Poll one shop once for paid orders since its cursor (the scheduler does this in `run`).

    Example: `quittance poll --shop boutique -c quittance.toml`, then `quittance worker --once`.
    """
    from bridge.polling import poll_shop

    svc = services_for(config)
    try:
        _shop_or_exit(svc, shop)
        report = poll_shop(svc, shop)
    finally:
        svc.close()
    console.print(
        f"{shop}: {report.pages} page(s), {report.seen_paid} paid order(s), "
        f"{report.new_orders} new, {report.skipped} not paid yet",
        highlight=False,
    )
    for error in report.errors:
        err_console.print(f"  {error}", highlight=False)


@app.command("backfill")
def backfill_command(
    shop: ShopOption,
    since: Annotated[str, typer.Option("--since", help="ISO date, e.g. 2026-01-01 (UTC).")],
    send: Annotated[bool, typer.Option("--send", help="Also email the customers.")] = False,
    config: ConfigOption = None,
) -> None:
    """Issue and archive invoices for historical paid orders (no email unless --send).

    Example: `quittance backfill --shop boutique --since 2026-01-01 -c quittance.toml`
    """
    from datetime import UTC, datetime

    from rich.progress import Progress

    from bridge.polling import poll_shop

    try:
        start = datetime.fromisoformat(since)
    except ValueError:
        err_console.print(f"--since {since!r}: expected an ISO date such as 2026-01-01")
        raise typer.Exit(2) from None
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    svc = services_for(config)
    try:
        _shop_or_exit(svc, shop)
        with Progress(console=console) as progress:
            task = progress.add_task(f"{shop}: reading paid orders", total=None)
            report = poll_shop(
                svc, shop, since=start, send_email=send,
                on_page=lambda page: progress.advance(task, len(page.orders) + page.skipped),
            )  # fmt: skip
    finally:
        svc.close()
    console.print(
        f"{report.new_orders} order(s) queued for invoicing ({report.seen_paid} paid seen); "
        f"run `quittance worker --once` (or `quittance run`) to issue them"
        + ("" if send else "; no email will be sent (use --send)"),
        highlight=False,
    )


webhooks_app = typer.Typer(help="Manage the shops' webhooks.", no_args_is_help=True)
app.add_typer(webhooks_app, name="webhooks")


@webhooks_app.command("install")
def webhooks_install_command(shop: ShopOption, config: ConfigOption = None) -> None:
    """Create or update the shop's webhooks to point at [server] public_url.

    Example: `quittance webhooks install --shop boutique -c quittance.toml`
    """
    svc = services_for(config)
    try:
        shop_cfg = _shop_or_exit(svc, shop)
        base = svc.settings.server.public_url.rstrip("/")
        if not base:
            err_console.print(
                "[server] public_url is empty: set the https URL shops reach us at", markup=False
            )
            raise typer.Exit(2)
        target = f"{base}/webhooks/{shop_cfg.platform}/{shop}"
        for line in svc.connector(shop).install_webhooks(target):
            console.print(line, highlight=False)
    finally:
        svc.close()


@app.command("run")
def run_command(
    config: ConfigOption = None,
    workers: Annotated[
        int, typer.Option("--workers", "-w", help="Worker processes (default: CPU cores).")
    ] = -1,
    host: Annotated[str | None, typer.Option(help="Override [server] host.")] = None,
    port: Annotated[int | None, typer.Option(help="Override [server] port.")] = None,
) -> None:
    """The production service: webhooks, scheduled polling and job workers.

    Example: `quittance run -c quittance.toml --workers 2` (SIGTERM stops it cleanly).
    """
    import os

    from bridge.service import run_service

    settings = settings_or_exit(config)
    count = workers if workers >= 0 else (os.cpu_count() or 1)
    raise typer.Exit(run_service(settings, config, workers=count, host=host, port=port))


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


@app.command("doctor")
def doctor_command(config: ConfigOption = None) -> None:
    """Check config, database, archive, SMTP login, each shop's credentials and webhooks, and
    that the public URL reaches this service. Exit 1 if anything is wrong.

    Example: `quittance doctor -c quittance.toml`
    """
    from bridge.ops import doctor_checks

    svc = services_for(config)
    try:
        checks = doctor_checks(svc)
    finally:
        svc.close()
    for check in checks:
        mark = "[green]ok[/]  " if check.ok else "[red]FAIL[/]"
        console.print(f"{mark} {escape(check.name)}: {escape(check.detail)}", highlight=False)
    if not all(check.ok for check in checks):
        raise typer.Exit(1)


@app.command("demo")
def demo_command(
    workdir: Annotated[
        Path, typer.Option(help="Where the demo keeps its database, archive and outbox.")
    ] = Path("var/demo"),
    keep_running: Annotated[
        bool, typer.Option("--keep-running", help="Leave the service and sandboxes up.")
    ] = False,
) -> None:
    """Run the bridge end to end on the bundled sample orders (no network needed).

    Example: `quittance demo` (what `make demo` runs).
    """
    from bridge.demo import run_demo

    raise typer.Exit(run_demo(workdir, console, keep_running=keep_running))


def main() -> None:  # pragma: no cover - console entry point alias
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
