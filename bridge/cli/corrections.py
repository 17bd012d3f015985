"""`quittance credit`, `resend`, `deliveries`: correcting and handing over issued documents.

An issued document is never edited or deleted: a mistake is corrected by a credit note (and,
for a buyer whose details were wrong, a new invoice), a lost email by sending it again. The
corrections themselves are `bridge.corrections` (the dashboard's too): this prints what they
did, or why they were refused (exit 2 for a wrong request, 1 for a problem found).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.markup import escape
from rich.table import Table

from bridge.cli.app import ConfigOption, app, console, err_console, services_for

if TYPE_CHECKING:
    from bridge.corrections import CorrectionRefused, FieldNames
    from bridge.services import Services
    from bridge.store import InvoiceRecord

NumberArg = Annotated[str, typer.Argument(help="The invoice or credit note number.")]


@app.command("credit")
def credit_command(
    number: NumberArg,
    reason: Annotated[str, typer.Option("--reason", help="Why, as printed on the credit note.")],
    amount: Annotated[
        str | None, typer.Option("--amount", help="Credit this amount incl. VAT, pro rata.")
    ] = None,
    lines: Annotated[
        str | None,
        typer.Option("--lines", help="Credit these lines: '2' (all of line 2), '2:1,3' (…)."),
    ] = None,
    reissue: Annotated[
        bool,
        typer.Option(
            "--reissue",
            help="Credit the whole invoice and issue a new one from the order as the shop "
            "has it now (fix the buyer's details there first).",
        ),
    ] = False,
    no_refund: Annotated[
        bool,
        typer.Option("--no-refund", help="No money goes back (a price correction to settle)."),
    ] = False,
    no_email: Annotated[bool, typer.Option("--no-email", help="Do not email it.")] = False,
    config: ConfigOption = None,
) -> None:
    """Issue a credit note (avoir) on an invoice by hand: the whole invoice, an amount or some
    lines; with `--reissue`, a corrected invoice (new number) after it.

    Example: `quittance credit FA-2026-000042 --reason "Geste commercial" --amount 10.00`
    """
    from bridge.corrections import CorrectionRefused, credit_document, find_document

    svc = services_for(config)
    try:
        done = credit_document(
            svc, find_document(svc, number), reason=reason, amount=amount, lines=lines,
            reissue=reissue, money_back=not no_refund, send_email=not no_email,
            names=_cli_names(),
        )  # fmt: skip
        _print_documents(svc, done.documents)
        if done.warnings:
            err_console.print("\n".join(done.warnings), markup=False, highlight=False)
            raise typer.Exit(1)
    except CorrectionRefused as exc:
        _refused(svc, exc)
    finally:
        svc.close()


@app.command("resend")
def resend_command(
    number: NumberArg,
    to: Annotated[
        str | None, typer.Option("--to", help="Send to this address instead of the buyer's.")
    ] = None,
    channel: Annotated[
        str,
        typer.Option("--channel", help="email (default), sms, zendesk or intercom."),
    ] = "email",
    config: ConfigOption = None,
) -> None:
    """Hand an invoice or credit note over again (a new delivery, never a new document): by
    email, or on another channel the shop uses. An invoice skipped for want of an address is
    sent with `--to`; a text skipped past the daily cap with `--channel sms`.

    Example: `quittance resend FA-2026-000042 --to marie@example.fr`
    """
    from bridge.corrections import CorrectionRefused, find_document, resend_document

    svc = services_for(config)
    try:
        doc = find_document(svc, number)
        target = resend_document(svc, doc, channel, to, names=_cli_names())
        typer.echo(f"{number}: queued for {target}; the worker sends it (`quittance deliveries "
                   f"--number {number}` shows it)")  # fmt: skip
    except CorrectionRefused as exc:
        _refused(svc, exc)
    finally:
        svc.close()


@app.command("deliveries")
def deliveries_command(
    number: Annotated[str | None, typer.Option("--number", help="One document.")] = None,
    order: Annotated[
        str | None, typer.Option("--order", help="Every document of an order.")
    ] = None,
    shop: Annotated[str | None, typer.Option("--shop", help="The order's shop.")] = None,
    channel: Annotated[
        str | None,
        typer.Option("--channel", help="Only one channel: email, sms, zendesk, intercom, attach."),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Each document's deliveries (email, SMS, helpdesk note, attach-back): to whom, status,
    attempts, the service's id, time."""
    from bridge.corrections import CorrectionRefused, find_document

    svc = services_for(config)
    try:
        wanted = _channel_or_exit(channel) if channel else None
        if number:
            rows = svc.store.deliveries_for([find_document(svc, number).id])
        elif order:
            rows = svc.store.deliveries_for_order(order, shop)
        else:
            rows = list(reversed(svc.store.recent_deliveries(50, wanted)))
        rows = [r for r in rows if wanted is None or r.channel == wanted]
        numbers = {r.invoice_id: _number_of(svc, r.invoice_id) for r in rows}
        table = Table("document", "channel", "target", "status", "attempts", "id", "at", "detail")
        for r in rows:
            table.add_row(
                numbers[r.invoice_id], r.channel, escape(r.target), r.status, str(r.attempts),
                escape(r.external_id), r.updated_at.isoformat(timespec="seconds"),
                escape(r.detail[:300]),  # a reason names "[[sms]]": text, not markup
            )  # fmt: skip
        console.print(table if rows else "no deliveries recorded")
    except CorrectionRefused as exc:
        _refused(svc, exc)
    finally:
        svc.close()


def _channel_or_exit(channel: str) -> str:
    from bridge.steps import STEPS

    known = [step.channel for step in STEPS if step.channel]
    wanted = channel.strip().lower()
    if wanted not in known:
        _usage(f"--channel {channel!r}: one of {', '.join(known)}")
    return wanted


def _number_of(svc: Services, invoice_id: int) -> str:
    doc = svc.store.get_invoice_by_id(invoice_id)
    return doc.number if doc is not None else f"#{invoice_id}"


def _cli_names() -> FieldNames:
    from bridge.corrections import FieldNames

    return FieldNames(reason="--reason", amount="--amount", lines="--lines",
                      reissue="--reissue", to="--to", channel="--channel")  # fmt: skip


def _print_documents(svc: Services, documents: list[InvoiceRecord]) -> None:
    """One line per document issued: number, its archived PDF, what it does."""
    for doc in documents:
        typer.echo(f"{doc.number}\t{svc.archive.alias_for(doc.number)}\t{_what(doc)}")


def _what(doc: InvoiceRecord) -> str:
    if doc.kind != "credit_note":  # a reissue's corrected invoice
        return f"replaces {doc.source.removeprefix('reissue:')}"
    again = " again" if doc.source.startswith("again:") else ""
    return f"credits {doc.snapshot.credited_number}{again}"


def _refused(svc: Services, exc: CorrectionRefused) -> NoReturn:
    _print_documents(svc, exc.documents)  # issued before the problem: they stand
    err_console.print(str(exc), markup=False, highlight=False)  # "[[sms]]" is text, not markup
    raise typer.Exit(2 if exc.usage else 1) from None


def _usage(message: str) -> NoReturn:
    err_console.print(escape(message), highlight=False)  # "[[sms]]" is text, not markup
    raise typer.Exit(2)
