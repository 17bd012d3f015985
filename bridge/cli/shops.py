"""`quittance poll`, `backfill`, `check-orders`, `webhooks install`: the shops."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from bridge.cli.app import (
    ConfigOption,
    ShopOption,
    app,
    console,
    err_console,
    services_for,
    shop_or_exit,
)


@app.command("poll")
def poll_command(shop: ShopOption, config: ConfigOption = None) -> None:
    """Poll one shop once for paid orders since its cursor (the scheduler does this in `run`).

    Example: `quittance poll --shop boutique -c quittance.toml`, then `quittance worker --once`.
    """
    from bridge.polling import poll_shop

    svc = services_for(config)
    try:
        shop_or_exit(svc, shop)
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
    from rich.progress import Progress

    from bridge.polling import poll_shop

    start = _since_or_exit(since)
    svc = services_for(config)
    try:
        shop_or_exit(svc, shop)
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


def _since_or_exit(since: str) -> datetime:
    """`--since 2026-01-01` (UTC midnight) or an ISO date-time with its offset."""
    try:
        start = datetime.fromisoformat(since)
    except ValueError:
        err_console.print(f"--since {since!r}: expected an ISO date such as 2026-01-01")
        raise typer.Exit(2) from None
    return start if start.tzinfo is not None else start.replace(tzinfo=UTC)


@app.command("check-orders")
def check_orders_command(
    shop: ShopOption,
    since: Annotated[str, typer.Option("--since", help="ISO date, e.g. 2026-11-01 (UTC).")],
    config: ConfigOption = None,
) -> None:
    """Run the fiscal rules over the shop's paid orders since DATE, issuing nothing (exit 1
    when one would be quarantined).

    Example: `quittance check-orders --shop boutique --since 2026-11-01 -c quittance.toml`
    """
    from collections import Counter

    from rich.table import Table

    from bridge.order_check import Verdict, check_shop_orders

    start = _since_or_exit(since)
    svc = services_for(config)
    try:
        shop_or_exit(svc, shop)
        verdicts = list(check_shop_orders(svc, shop, start))
    finally:
        svc.close()
    table = Table(title=f"Paid orders of {shop} since {start.date()} (nothing issued)")
    for column in ("order", "verdict", "why / what to check"):
        table.add_column(column, overflow="fold")
    for v in verdicts:
        table.add_row(v.order, v.verdict.value, "\n".join(v.reasons))
    console.print(table)
    counts = Counter(v.verdict for v in verdicts)
    console.print(
        f"{len(verdicts)} paid order(s): " + ", ".join(f"{counts[k]} {k.value}" for k in Verdict),
        highlight=False,
    )
    if counts[Verdict.quarantine]:
        raise typer.Exit(1)


webhooks_app = typer.Typer(help="Manage the shops' webhooks.", no_args_is_help=True)
app.add_typer(webhooks_app, name="webhooks")


@webhooks_app.command("install")
def webhooks_install_command(shop: ShopOption, config: ConfigOption = None) -> None:
    """Create or update the shop's webhooks to point at [server] public_url.

    Example: `quittance webhooks install --shop boutique -c quittance.toml`
    """
    svc = services_for(config)
    try:
        shop_cfg = shop_or_exit(svc, shop)
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
