"""`quittance credit`, `resend`, `deliveries`: correcting and handing over issued documents.

An issued document is never edited or deleted: a mistake is corrected by a credit note (and,
for a buyer whose details were wrong, a new invoice), a lost email by sending it again.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from email.utils import parseaddr
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.markup import escape
from rich.table import Table

from bridge.cli.app import ConfigOption, app, console, err_console, services_for

if TYPE_CHECKING:
    from bridge.invoicing.credit import Credit, Remaining
    from bridge.model import Order
    from bridge.services import Services
    from bridge.store import FollowUp, InvoiceRecord

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
    if not reason.strip():
        _usage("--reason must say why (it is printed on the credit note)")
    if reissue and (amount or lines):
        _usage("--reissue credits the whole invoice: leave out --amount and --lines")
    if amount and lines:
        _usage("give --amount or --lines, not both")
    svc = services_for(config)
    try:
        original = _invoice_or_exit(svc, number)
        options = {"send_email": False} if no_email else {}
        left = _remaining(svc, original)
        # A reissue whose credit note went through but whose new invoice did not (the shop
        # could not be read): run again, it goes on with the new invoice.
        if not (reissue and left.credited_out):
            money_back = not (reissue or no_refund)
            credit = _manual_credit(
                svc, original, reason, amount, lines, money_back=money_back, cancel=reissue
            )
            _issue_or_exit(svc, original, credit, options)
        if reissue:
            _reissue(svc, original, options)
    finally:
        svc.close()


def _issue_or_exit(
    svc: Services, original: InvoiceRecord, credit: Credit, options: dict[str, object]
) -> None:
    from bridge.crediting import issue_credit
    from bridge.failures import StepError
    from bridge.invoicing.credit import CreditNotIssuable

    try:
        result = issue_credit(svc, original, credit, then=_then(svc, original.shop, options))
    except CreditNotIssuable as exc:
        reasons = "\n- ".join(str(p) for p in exc.problems)
        err_console.print(f"no credit note issued on {original.number}:\n- {reasons}")
        raise typer.Exit(1) from None
    except StepError as exc:  # the numbering period turned (New Year) while it waited
        err_console.print(f"no credit note issued on {original.number}: {exc}; run again")
        raise typer.Exit(1) from None
    if not result.created:  # its source was taken meanwhile: another credit ran at once
        err_console.print("another credit note was issued at the same time: run again")
        raise typer.Exit(1)
    _print_document(svc, result.invoice, f"credits {original.number}")


def _remaining(svc: Services, original: InvoiceRecord) -> Remaining:
    from bridge.invoicing.credit import remaining_of

    notes = [note.snapshot for note in svc.store.credit_notes_of(original.id)]
    return remaining_of(original.snapshot, notes)


def _manual_credit(
    svc: Services, original: InvoiceRecord, reason: str, amount: str | None,
    lines: str | None, *, money_back: bool, cancel: bool = False,
) -> Credit:  # fmt: skip
    """The Credit the options ask for."""
    from bridge.invoicing.credit import Credit, CreditNotIssuable, lines_of_invoice, whole_invoice

    done = svc.store.credit_notes_of(original.id)
    left = _remaining(svc, original).total
    # One source per credit note of the order (the key is the order's, across reissues).
    sequence = sum(1 for d in svc.store.documents_for_order(original.shop, original.order_id)
                   if d.kind == "credit_note") + 1  # fmt: skip
    credited_lines = []
    if amount is not None:
        total = _decimal_or_exit("--amount", amount)
    elif lines is not None:
        try:
            credited_lines = lines_of_invoice(original.snapshot, _picks_or_exit(lines))
        except CreditNotIssuable as exc:
            _usage("; ".join(p.message for p in exc.problems))
        total = sum((ln.amount + ln.tax for ln in credited_lines), Decimal(0))
    else:  # the whole invoice, or what is left of it
        credited_lines = whole_invoice(original.snapshot) if not done else []
        total = left
    return Credit(
        # A reissue's cancellation is told apart: a refund arriving before the corrected
        # invoice waits for it instead of finding nothing left to credit.
        source=f"{'cancel' if cancel else 'manual'}:{sequence}",
        amount=total,
        at=svc.store.clock(),
        reason=reason.strip(),
        method="manual" if money_back else "none",
        lines=credited_lines,
    )


def _reissue(svc: Services, original: InvoiceRecord, options: dict[str, object]) -> None:
    """The corrected invoice, from the order as the shop has it now."""
    from bridge.crediting import reissue_invoice
    from bridge.failures import StepError
    from bridge.invoicing.credit import CreditNotIssuable
    from bridge.issue_facts import OutsideFactUnavailable, gather_issue_facts
    from bridge.pipeline import Outcome

    order = _order_now(svc, original)
    try:
        facts = gather_issue_facts(svc, order)
    except OutsideFactUnavailable as exc:
        err_console.print(f"the corrected invoice was not issued: {exc}; run again later")
        raise typer.Exit(1) from None
    then = _then(svc, original.shop, options, after="issue")
    credit_then = _then(svc, original.shop, options)
    try:
        reissue = reissue_invoice(
            svc, original, order, then=then, credit_then=credit_then, facts=facts
        )
    except (CreditNotIssuable, StepError) as exc:
        err_console.print(f"the corrected invoice was not issued: {exc}; run again")
        raise typer.Exit(1) from None
    result = reissue.result
    if result.outcome is Outcome.quarantined:
        err_console.print("the corrected invoice was not issued:\n- " + "\n- ".join(result.reasons))
        raise typer.Exit(1)
    assert result.invoice is not None
    _print_document(svc, result.invoice, f"replaces {original.number}")
    for note in reissue.credited_again:
        _print_document(svc, note, f"credits {result.invoice.number} again")
    if reissue.not_credited:
        err_console.print(
            f"{result.invoice.number} is issued, but what {original.number}'s credit notes gave "
            "back could not be credited on it (you are alerted): credit it by hand:\n- "
            + "\n- ".join(reissue.not_credited)
        )
        raise typer.Exit(1)


def _order_now(svc: Services, original: InvoiceRecord) -> Order:
    """The order read again from its shop (the owner fixed the buyer there), else as recorded."""
    if svc.settings.shop(original.shop) is not None:
        fetched = svc.connector(original.shop).fetch_order(original.order_id)
        if fetched.order is not None:
            return fetched.order
        err_console.print(f"order {original.order_id} cannot be read: {fetched.not_paid_reason}")
        raise typer.Exit(1)
    record = svc.store.get_order(original.shop, original.order_id)
    if record is None or record.payload is None:
        err_console.print(f"order {original.shop}/{original.order_id} is not recorded")
        raise typer.Exit(1)
    return record.payload


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
    svc = services_for(config)
    try:
        doc = _invoice_or_exit(svc, number)
        kind = channel.strip().lower()
        if kind == "email":
            target = _email_target(svc, doc, to)
        else:
            if to:
                _usage("--to is for email: other channels reach the customer on file")
            target = _channel_target(svc, doc, kind)
        # the owner asked for this one: an SMS resend is not held to the daily cap
        payload = {"to": target} if kind == "email" else {"resend": True}
        svc.store.enqueue_delivery(kind, doc, payload, target=target)
        typer.echo(f"{number}: queued for {target}; the worker sends it (`quittance deliveries "
                   f"--number {number}` shows it)")  # fmt: skip
    finally:
        svc.close()


def _email_target(svc: Services, doc: InvoiceRecord, to: str | None) -> str:
    target = (to or doc.snapshot.buyer.email).strip()
    if not target:
        _usage(f"{doc.number} has no email address on its order: give one with --to")
    if "@" not in parseaddr(target)[1] or parseaddr(target)[1] != target:
        _usage(f"--to {target!r} is not an email address such as marie@example.fr")
    if not svc.settings.email.enabled:
        err_console.print("email is not configured ([email] host is empty)")
        raise typer.Exit(2)
    return target


def _channel_target(svc: Services, doc: InvoiceRecord, kind: str) -> str:
    """Where `kind` would hand `doc` over, or exit saying why it cannot."""
    from bridge.customer_channels import sms_number
    from bridge.delivery.sms.numbers import NotAMobile

    if kind == "sms":
        if svc.settings.sms_for(doc.shop) is None:
            _usage(f"shop {doc.shop} sends no texts: add an [[sms]] table for it first")
        try:
            return sms_number(svc, doc)
        except NotAMobile as exc:
            _usage(f"{doc.number}: {exc}")
    if kind in ("zendesk", "intercom"):
        if svc.settings.helpdesk_for(doc.shop, kind) is None:
            _usage(f"shop {doc.shop} has no {kind} [[helpdesks]] table")
        if not doc.snapshot.buyer.email:
            _usage(f"{doc.number} has no email address: {kind} cannot find the customer")
        return f"{kind}: {doc.snapshot.buyer.email}"
    _usage(f"--channel {kind!r}: one of email, sms, zendesk, intercom")


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
    svc = services_for(config)
    try:
        wanted = _channel_or_exit(channel) if channel else None
        if number:
            rows = svc.store.deliveries_for([_invoice_or_exit(svc, number).id])
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


def _then(
    svc: Services, shop: str, options: dict[str, object], after: str = "credit"
) -> list[FollowUp]:
    from bridge.steps import STEPS, Flow

    return STEPS.declared_follow_ups(svc, after, Flow(shop, options))


def _print_document(svc: Services, doc: InvoiceRecord, what: str) -> None:
    from bridge.failures import StepError
    from bridge.pipeline import ensure_pdf

    try:
        ensure_pdf(svc, doc)
    except StepError as exc:
        err_console.print(f"{doc.number} issued, but its PDF was not archived:\n{exc}")
        raise typer.Exit(1) from None
    typer.echo(f"{doc.number}\t{svc.archive.alias_for(doc.number)}\t{what}")


def _invoice_or_exit(svc: Services, number: str) -> InvoiceRecord:
    doc = svc.store.get_invoice(number)
    if doc is None:
        _usage(f"no invoice or credit note numbered {number!r}")
    return doc


def _decimal_or_exit(option: str, text: str) -> Decimal:
    try:
        value = Decimal(text.replace(",", ".").strip())
    except InvalidOperation:
        _usage(f"{option} {text!r} is not an amount such as 12.50")
    if not value.is_finite() or value <= 0 or value != value.quantize(Decimal("0.01")):
        _usage(f"{option} {text!r} must be a positive amount in cents, such as 12.50")
    return value


def _picks_or_exit(text: str) -> list[tuple[int, Decimal | None]]:
    """'2:1,3' → [(2, 1), (3, None)]: line 2, one unit; all of line 3."""
    picks: list[tuple[int, Decimal | None]] = []
    for part in text.split(","):
        position, _, quantity = part.strip().partition(":")
        if not position.isdigit():
            _usage(f"--lines {text!r}: each entry is a line number, optionally ':quantity'")
        picks.append((int(position), _decimal_or_exit("--lines quantity", quantity)
                      if quantity else None))  # fmt: skip
    return picks


def _usage(message: str) -> NoReturn:
    err_console.print(escape(message), highlight=False)  # "[[sms]]" is text, not markup
    raise typer.Exit(2)
