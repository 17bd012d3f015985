"""`quittance export` (the accountant's ZIP) and `quittance ereporting` (the B2C daily totals)."""

from __future__ import annotations

import csv
import json
import os
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from bridge.cli.app import ConfigOption, app, console, err_console, services_for, shop_or_exit

if TYPE_CHECKING:
    from bridge.accounting.ereporting import DailyGroup

FromOption = Annotated[
    str, typer.Option("--from", help="First day, ISO date (the documents' issue date).")
]
ToOption = Annotated[str, typer.Option("--to", help="Last day, ISO date, included.")]
OnlyShopOption = Annotated[
    str | None, typer.Option("--shop", help="Only this shop (its `name` in [[shops]]).")
]


@app.command("export")
def export_command(
    from_: FromOption,
    to: ToOption,
    out: Annotated[Path, typer.Option("--out", help="The ZIP file to write, e.g. 2026.zip.")],
    shop: OnlyShopOption = None,
    force: Annotated[bool, typer.Option("--force", help="Replace --out if it exists.")] = False,
    config: ConfigOption = None,
) -> None:
    """The accountant's ZIP of a period: every invoice and credit note PDF, the sales journal
    (CSV), the sales and receipts entries as a FEC, the B2C e-reporting aggregates, a SHA-256
    manifest and the numbering report. Exit 1 when a PDF is missing, a number is (but for
    --shop, whose series other shops share) or a number is out of order.

    Example: `quittance export --from 2026-01-01 --to 2026-12-31 --out 2026.zip -c quittance.toml`
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from bridge.export import ExportRequest, export_period

    first, last = _period_or_exit(from_, to)
    out = out.expanduser().absolute()
    if not out.parent.is_dir():
        _usage(f"--out {out}: the folder {out.parent} does not exist")
    if not os.access(out.parent, os.W_OK):
        _usage(f"--out {out}: the folder {out.parent} is not writable")
    if out.is_dir():
        _usage(f"--out {out} is a folder: give a file name, e.g. {out / 'export.zip'}")
    if out.exists() and not force:
        _usage(f"--out {out} exists: choose another name, or add --force to replace it")
    svc = services_for(config)
    try:
        if shop is not None:
            shop_or_exit(svc, shop)
        columns = (*Progress.get_default_columns()[:1], BarColumn(), MofNCompleteColumn(),
                   TimeRemainingColumn())  # fmt: skip
        with Progress(*columns, console=err_console, transient=True) as progress:
            task = progress.add_task("documents", total=None)

            def advance(done: int, expected: int) -> None:
                progress.update(task, completed=done, total=expected)

            result = export_period(
                svc.store, svc.archive, svc.settings,
                ExportRequest(first=first, last=last, out=out, shop=shop),
                now=datetime.now(UTC), on_progress=advance,
            )  # fmt: skip
    finally:
        svc.close()
    size = out.stat().st_size
    console.print(
        f"{out}: {result.invoices} invoice(s), {result.credit_notes} credit note(s), "
        f"{result.pdfs + len(result.files) + 1} files, {size / 1_000_000:.1f} MB; FEC: "
        + (", ".join(result.fec_files) or "no entries"),
        highlight=False,
        markup=False,
    )
    for problem in result.problems:
        err_console.print(f"problem: {problem}", highlight=False, markup=False)
    if result.numbering_out_of_order:  # never explained by other shops: --shop or not
        err_console.print("numbering: out of order: " + ", ".join(result.numbering_out_of_order)
                          + "; see numerotation.txt", highlight=False, markup=False)  # fmt: skip
    if result.numbering_gaps and shop is not None:
        err_console.print("numbering: numbers of this shop's series belong to other shops too; "
                          "export without --shop to check the numbering")  # fmt: skip
    elif result.numbering_gaps:
        err_console.print("numbering: a gap in the numbers, see numerotation.txt")
    if result.problems or result.numbering_failed:
        raise typer.Exit(1)


@app.command("ereporting")
def ereporting_command(
    from_: FromOption,
    to: ToOption,
    shop: OnlyShopOption = None,
    output: Annotated[
        str, typer.Option("--format", help="table (default), csv or json, to standard output.")
    ] = "table",
    config: ConfigOption = None,
) -> None:
    """The B2C e-reporting data of a period: per day, currency and category (TLB1 goods,
    TPS1 services, TNT1 not subject to French VAT) and per VAT rate, the base, the VAT, and the
    number of transactions; credit notes count as negatives (DGFiP external specifications
    v3.1, flux 10.3). Sales to businesses are not in it: they are e-invoiced.

    Example: `quittance ereporting --from 2027-09-01 --to 2027-09-10 --format csv -c quittance.toml`
    """
    from bridge.accounting import ereporting
    from bridge.export import ereporting_of_period

    if output not in ("table", "csv", "json"):
        _usage(f"--format {output!r}: expected table, csv or json")
    first, last = _period_or_exit(from_, to)
    svc = services_for(config)
    try:
        if shop is not None:
            shop_or_exit(svc, shop)
        report, problems = ereporting_of_period(svc.store, svc.settings, first, last, shop)
        siren = svc.settings.seller.siren
    finally:
        svc.close()
    groups = report.groups()
    if output == "json":
        data = ereporting.as_json(groups, siren=siren, first=first, last=last,
                                  left_out_lines=report.left_out_lines)  # fmt: skip
        typer.echo(json.dumps(data, ensure_ascii=False, indent=2))
    elif output == "csv":
        writer = csv.writer(sys.stdout, delimiter=";", lineterminator="\n")
        writer.writerow(ereporting.CSV_HEADER)
        writer.writerows(ereporting.csv_rows(groups))
    else:
        _print_groups(groups, first, last)
    for problem in problems:
        err_console.print(f"problem: {problem}", highlight=False, markup=False)
    if problems:
        raise typer.Exit(1)


def _print_groups(groups: list[DailyGroup], first: date, last: date) -> None:
    from rich.table import Table

    from bridge.accounting.ereporting import csv_rows

    if not groups:
        console.print(f"no sale to a consumer issued from {first} to {last}", highlight=False)
        return
    table = Table(title=f"B2C e-reporting, {first} to {last}", title_justify="left")
    for name in ("date", "cur.", "category", "rate %", "base", "VAT", "VAT € (day)", "docs"):
        table.add_column(
            name, justify="right" if name not in ("date", "cur.", "category") else "left"
        )
    for row in csv_rows(groups):
        table.add_row(*row[:6], row[7], row[8])
    console.print(table)


def _period_or_exit(first: str, last: str) -> tuple[date, date]:
    from bridge.export import check_period

    days = []
    for option, value in (("--from", first), ("--to", last)):
        try:
            days.append(date.fromisoformat(value))
        except ValueError:
            _usage(f"{option} {value!r}: expected an ISO date such as 2026-01-31")
    try:  # reversed, or out of the years a sale can be in (0001-01-01 would overflow)
        check_period(days[0], days[1])
    except ValueError as exc:
        _usage(str(exc))
    return days[0], days[1]


def _usage(message: str) -> NoReturn:
    err_console.print(message, highlight=False, markup=False)
    raise typer.Exit(2)
