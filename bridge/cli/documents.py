"""`quittance issue`, `render`, `verify`, `check-invoice`, `preview`: the documents."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from bridge.cli.app import (
    ConfigOption,
    app,
    console,
    err_console,
    services_for,
    settings_or_exit,
)


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

    Example: `quittance render FA-2026-000042 --out FA-2026-000042.pdf`
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
