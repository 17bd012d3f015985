"""`quittance issue`, `render`, `verify`, `rotate-chain-key`, `check-invoice`, `preview`: the
documents."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

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

if TYPE_CHECKING:
    from bridge.invoicing.snapshot import InvoiceSnapshot
    from bridge.render.archived import Reproduction
    from bridge.services import Services
    from bridge.store import InvoiceRecord


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
    from bridge.failures import StepError
    from bridge.issue_facts import OutsideFactUnavailable, gather_issue_facts
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
        try:  # what the `issue` step reads from outside first (the ECB rate, VIES)
            facts = gather_issue_facts(svc, order)
        except OutsideFactUnavailable as exc:
            err_console.print(f"order {order.shop}/{order.order_id} not issued: {exc}")
            raise typer.Exit(1) from None
        result = accept_order(svc, order, then=then, facts=facts)
        if result.outcome is Outcome.quarantined:
            err_console.print(
                f"order {order.shop}/{order.order_id} quarantined, no invoice issued:\n- "
                + "\n- ".join(result.reasons),
                highlight=False,
            )
            raise typer.Exit(1)
        assert result.invoice is not None
        try:
            ensure_pdf(svc, result.invoice)
        except StepError as exc:  # e.g. an override that drops a mandatory mention
            err_console.print(
                f"{result.invoice.number} issued, but its PDF was not archived:\n{exc}",
                highlight=False,
            )
            raise typer.Exit(1) from None
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
    """Re-render an issued invoice from its immutable snapshot, with the templates and
    renderer it was archived with (its render profile), whatever the templates are today.

    Example: `quittance render FA-2026-000042 --out FA-2026-000042.pdf`
    """
    from bridge.failures import RenderProfileError
    from bridge.render.archived import Reproduction, rerender
    from bridge.render.document import render_document

    svc = services_for(config)
    try:
        invoice = svc.store.get_invoice(number)
        if invoice is None:
            err_console.print(f"no invoice numbered {number!r}")
            raise typer.Exit(1)
        if invoice.pdf_sha256 is None:  # never archived: today's templates are its templates
            again = Reproduction(render_document(invoice.snapshot, svc.templates), None)
        else:
            try:
                again = rerender(svc.archive, invoice.snapshot, invoice.pdf_sha256, svc.templates)
            except RenderProfileError as exc:
                err_console.print(f"{number} cannot be re-rendered: {exc}", highlight=False)
                raise typer.Exit(1) from None
        out.write_bytes(again.pdf)
        compared = _compared(again, invoice.pdf_sha256)
        console.print(f"{out} ({len(again.pdf)} bytes; {compared})", highlight=False)
    finally:
        svc.close()


def _compared(again: Reproduction, recorded: str | None) -> str:
    if recorded is None:
        return "no archived copy to compare with"
    if again.sha256 == recorded:
        return "identical to the archived PDF"
    drift = f", rendered then with {', '.join(again.drift)}" if again.drift else ""
    return f"differs from the archived PDF{drift}"


@app.command("verify")
def verify_command(config: ConfigOption = None) -> None:
    """Prove the documents are the ones issued and none is gone: every keyed chain link and
    number, the chain heads anchored beside the archive, the event log, the database's guard
    triggers, every archived PDF (and every one restored), and that each PDF can still be
    re-rendered here.

    Exits 1 naming each problem; prints the chain heads to compare with the daily digest.
    Example: `quittance verify -c quittance.toml`
    """
    from bridge.integrity import run_check

    svc = services_for(config)
    try:
        # Recorded in the event log like the dashboard's checks: its integrity page shows it.
        result = run_check(svc, "cli")
        heads = svc.store.head_invoices()
    finally:
        svc.close()
    for problem in result.problems:
        err_console.print(f"{problem.number}: {problem.what}", highlight=False)
    if not result.recorded:
        err_console.print("(this check could not be written to the event log: the dashboard "
                          "will not show it)", highlight=False)  # fmt: skip
    for head in heads:
        console.print(f"chain head of {head.series}: {head.number} {head.hash}", highlight=False)
    if not result.ok:
        err_console.print(f"{result.problem_count} problem(s) in {result.checked} invoice(s)")
        raise typer.Exit(1)
    console.print(f"{result.checked} invoice(s) verified: every file, chain link and record intact")


@app.command("rotate-chain-key")
def rotate_chain_key_command(config: ConfigOption = None) -> None:
    """Add a new chain key: it signs the links from now on, the old ones keep verifying the
    links they signed (never remove a line). Running services sign with it from their next
    document (every host must get the new file); back the file up again.
    Example: `quittance rotate-chain-key -c quittance.toml`
    """
    from bridge.chain_key import ChainKeyError, rotate_key_file

    path = settings_or_exit(config).storage.chain_key_path
    try:
        new_id = rotate_key_file(path)
    except (ChainKeyError, OSError) as exc:
        err_console.print(str(exc), markup=False, highlight=False)
        raise typer.Exit(2) from None
    console.print(f"chain key {new_id} added to {path}: copy it to every host, then back it up")


@app.command("check-invoice")
def check_invoice_command(
    number: Annotated[str, typer.Argument(help="Invoice number, e.g. FA-2026-000042")],
    facturx: Annotated[
        bool,
        typer.Option(
            "--facturx",
            help="Also check the factur-x.xml inside its archived PDF: XSD, EN 16931 and, "
            "between French businesses, BR-FR (takes a few seconds).",
        ),
    ] = False,
    config: ConfigOption = None,
) -> None:
    """List any mandatory French mention an issued invoice lacks (exit 1 if one is missing).

    With --facturx, also the errors and warnings of the official Factur-X rules on the XML its
    archived PDF carries (exit 1 on any error, 2 when the rules could not run).
    Example: `quittance check-invoice FA-2026-000042 --facturx -c quittance.toml`
    """
    from bridge.invoicing.legal import check_invoice, check_invoice_text

    svc = services_for(config)
    try:
        invoice = svc.store.get_invoice(number)
        pdf = _archived_pdf(svc, invoice) if facturx and invoice is not None else None
        facturx_expected = pdf is not None and _rendered_as_facturx(svc, invoice)
    finally:
        svc.close()
    if invoice is None:
        err_console.print(f"no invoice numbered {number!r}")
        raise typer.Exit(1)
    console.print(check_invoice_text(invoice.snapshot), highlight=False)
    failed = bool(check_invoice(invoice.snapshot))
    if facturx:
        failed = _print_facturx_check(pdf, invoice.snapshot, facturx_expected) or failed
    if failed:
        raise typer.Exit(1)


def _archived_pdf(svc: Services, invoice: InvoiceRecord) -> bytes | None:
    from bridge.archive import ArchiveCorruptError

    if invoice.pdf_sha256 is None:
        return None
    try:
        return svc.archive.read(invoice.pdf_sha256)
    except ArchiveCorruptError as exc:  # `quittance verify` says more, and restores
        err_console.print(f"{invoice.number}: {exc}", highlight=False)
        raise typer.Exit(1) from None


def _rendered_as_facturx(svc: Services, invoice: InvoiceRecord) -> bool:
    """Whether the archived PDF's render profile is a Factur-X one: then a PDF without its
    XML is an error, not a document archived before Factur-X."""
    from bridge.failures import RenderProfileError
    from bridge.render.archived import recorded_profile

    assert invoice.pdf_sha256 is not None  # _archived_pdf read it
    try:
        profile = recorded_profile(svc.archive, invoice.pdf_sha256)
    except RenderProfileError as exc:  # a damaged archive, like a corrupt PDF: `verify` says more
        err_console.print(f"{invoice.number}: {exc}", highlight=False)
        raise typer.Exit(1) from None
    return profile is not None and profile.facturx


def _print_facturx_check(
    pdf: bytes | None, snapshot: InvoiceSnapshot, facturx_expected: bool
) -> bool:
    """Print the Factur-X check of an archived PDF; True when it found an error."""
    from bridge.facturx.archived_check import check_archived_facturx
    from bridge.facturx.rules import RulesError

    if pdf is None:
        console.print("Factur-X: no archived PDF yet, nothing to check", highlight=False)
        return False
    try:
        check = check_archived_facturx(pdf, snapshot, facturx_expected=facturx_expected)
    except RulesError as exc:
        err_console.print(f"Factur-X rules not run: {exc}", markup=False, highlight=False)
        raise typer.Exit(2) from None
    for line in check.lines:
        console.print(line, markup=False, highlight=False)
    return check.failed


@app.command("preview")
def preview_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the PDFs and PNGs.")] = Path(
        "var/preview"
    ),
    config: ConfigOption = None,
) -> None:
    """Render an invoice for each case (B2C, B2B, franchise, intra-EU, export, foreign
    currency, 100 lines…) to PDF and PNG (pdftoppm if present). With a config: as YOUR
    invoices — your seller identity, numbering format (a sample number: none is taken), brand
    colour, logo, legal wording and template overrides — each checked for every mandatory
    mention (exit 1 naming what is missing). Without one: the built-in sample sellers.

    Example: `quittance preview -c quittance.toml --out var/preview`
    """
    from bridge.render.preview import write_previews

    if config is None:
        for path in write_previews(out):
            console.print(str(path), highlight=False)
        return
    _owner_preview(out, config)


def _owner_preview(out: Path, config: Path) -> None:
    from datetime import UTC, datetime

    from bridge.render import TemplateCheckError, Templates
    from bridge.render.override_check import OverrideProblem, override_file, problems_text
    from bridge.render.pdf_check import missing_on_pdf
    from bridge.render.preview import owner_cases, write_previews

    settings = settings_or_exit(config)
    try:
        templates = Templates(settings.templates.dir)
    except TemplateCheckError as exc:
        err_console.print(f"[bold red]Template error[/]\n{exc}", markup=True, highlight=False)
        raise typer.Exit(2) from None
    preview = owner_cases(settings, now=datetime.now(UTC))  # the clock is read at the edge
    paths = write_previews(out, templates=templates, cases=preview.cases)
    for path in paths:
        console.print(str(path), highlight=False)
    for name, why in preview.skipped.items():
        console.print(f"{name}: not previewed ({why})", highlight=False)
    problems = [
        OverrideProblem(override_file(templates), path.stem, missing)
        for path in paths
        if path.suffix == ".pdf"
        for missing in missing_on_pdf(preview.cases[path.stem], path.read_bytes())
    ]
    if problems:
        err_console.print(problems_text(problems), highlight=False)
        raise typer.Exit(1)
