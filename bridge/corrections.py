"""The owner's corrections of issued documents, for every front end (`quittance credit` and
`resend`, the dashboard): find a document, credit it (an amount, some lines, all of it, or
all of it and a corrected invoice after it), hand it over again on a channel.

An issued document is never edited or deleted: a mistake is corrected by a credit note (and,
for a buyer whose details were wrong, a new invoice), a lost email by sending it again.

Nothing here prints or exits: what cannot be done raises `CorrectionRefused`, whose message
says what is wrong and how to fix it, naming the request's fields as the caller calls them
(`FieldNames`: "--amount" for the CLI, "amount" by default).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from email.utils import parseaddr
from typing import Any

from bridge.crediting import issue_credit, reissue_invoice
from bridge.failures import StepError
from bridge.invoicing.credit import (
    Credit,
    CreditNotIssuable,
    Remaining,
    lines_of_invoice,
    remaining_of,
    whole_invoice,
)
from bridge.issue_facts import OutsideFactUnavailable, gather_issue_facts
from bridge.model import Order
from bridge.pipeline import Outcome, ensure_pdf
from bridge.services import Services
from bridge.steps import STEPS, Flow, Step, StepRun
from bridge.store import FollowUp, InvoiceRecord, JobRecord

# The channels that reach the customer; `attach` writes on the shop's order, not to them.
RESEND_CHANNELS = ("email", "sms", "zendesk", "intercom")
CENT = Decimal("0.01")
Picks = list[tuple[int, Decimal | None]]


class CorrectionRefused(Exception):
    """What the owner asked cannot be done; str() says why and how to fix it.

    `usage`: the request itself was wrong (CLI exit 2), else it ran and found a problem
    (exit 1). `documents`: what was issued (and archived) before the problem, in issue
    order (a reissue's credit note when its new invoice could not be issued)."""

    def __init__(
        self, message: str, *, usage: bool, documents: Sequence[InvoiceRecord] = ()
    ) -> None:
        super().__init__(message)
        self.usage = usage
        self.documents = list(documents)


@dataclass(frozen=True)
class FieldNames:
    """How the caller names the request's fields in the messages it shows."""

    reason: str = "reason"
    amount: str = "amount"
    lines: str = "lines"
    reissue: str = "reissue"
    to: str = "to"
    channel: str = "channel"


NEUTRAL = FieldNames()


@dataclass(frozen=True)
class CreditDone:
    """The credit note(s) and, for a reissue, the new invoice, in issue order; `warnings`:
    what is left for the owner to do by hand (issued all the same)."""

    documents: list[InvoiceRecord]
    warnings: list[str] = field(default_factory=list)


def _usage(message: str) -> CorrectionRefused:
    return CorrectionRefused(message, usage=True)


def _problem(message: str, documents: Sequence[InvoiceRecord] = ()) -> CorrectionRefused:
    return CorrectionRefused(message, usage=False, documents=documents)


def find_document(svc: Services, number: str) -> InvoiceRecord:
    """The invoice or credit note `number`."""
    doc = svc.store.get_invoice(number.strip())
    if doc is None:
        raise _usage(f"no invoice or credit note numbered {number!r}: check the number")
    return doc


# --------------------------------------------------------------------------- amounts


def parse_amount(value: str | Decimal, name: str = "amount") -> Decimal:
    """A positive amount in cents ("12,50" as well as "12.50"); `name` is the field's."""
    try:
        amount = Decimal(str(value).replace(",", ".").strip())
    except InvalidOperation:
        raise _usage(f"{name} {str(value)!r} is not a number such as 12.50") from None
    if not amount.is_finite() or amount <= 0 or amount != amount.quantize(CENT):
        raise _usage(f"{name} {str(value)!r} must be a positive amount in cents, such as 12.50")
    return amount


def parse_lines(text: str, name: str = "lines") -> Picks:
    """'2:1,3' → [(2, 1), (3, None)]: line 2, one unit; all of line 3."""
    picks: Picks = []
    for part in text.split(","):
        position, _, quantity = part.strip().partition(":")
        if not position.isdigit():
            raise _usage(f"{name} {text!r}: each entry is a line number, optionally ':quantity'")
        picks.append(
            (int(position), parse_amount(quantity, f"{name} quantity") if quantity else None)
        )
    return picks


# --------------------------------------------------------------------------- credit notes


@dataclass(frozen=True)
class _Asked:
    """A credit request once read: the reason, and an amount or line picks (else all)."""

    reason: str
    amount: Decimal | None
    picks: Picks | None


def _read_request(
    reason: str, amount: str | Decimal | None, lines: str | None, reissue: bool, names: FieldNames
) -> _Asked:
    if not reason.strip():
        raise _usage(f"{names.reason} must say why (it is printed on the credit note)")
    if reissue and (amount is not None or lines):
        raise _usage(
            f"{names.reissue} credits the whole invoice: leave out {names.amount} and {names.lines}"
        )
    if amount is not None and lines:
        raise _usage(f"give {names.amount} or {names.lines}, not both")
    return _Asked(
        reason=reason.strip(),
        amount=parse_amount(amount, names.amount) if amount is not None else None,
        picks=parse_lines(lines, names.lines) if lines else None,
    )


def _remaining(svc: Services, doc: InvoiceRecord) -> Remaining:
    notes = [note.snapshot for note in svc.store.credit_notes_of(doc.id)]
    return remaining_of(doc.snapshot, notes)


def remaining_to_credit(svc: Services, doc: InvoiceRecord) -> Decimal:
    """What is left to credit on an invoice, incl. VAT (0 for a credit note)."""
    if doc.kind != "invoice":
        return Decimal("0.00")
    return max(_remaining(svc, doc).total, Decimal("0.00"))


def credit_document(
    svc: Services,
    doc: InvoiceRecord,
    *,
    reason: str,
    amount: str | Decimal | None = None,
    lines: str | None = None,
    reissue: bool = False,
    money_back: bool = True,
    send_email: bool = True,
    names: FieldNames = NEUTRAL,
) -> CreditDone:
    """A credit note on invoice `doc`: `amount` incl. VAT (pro rata), `lines` ('2', '2:1,3'),
    else what is left of it; `reissue`: all of it, then a new invoice (new number) from the
    order as the shop has it now (the owner fixed the buyer there first). `money_back=False`:
    a price correction, nothing paid back; `send_email=False`: no customer channel."""
    asked = _read_request(reason, amount, lines, reissue, names)
    if doc.kind != "invoice":
        raise _problem(
            f"no credit note issued on {doc.number}: it is a credit note, not an invoice; "
            f"credit the invoice it corrects ({doc.snapshot.credited_number}) instead"
        )
    options = {} if send_email else {"send_email": False}
    issued: list[InvoiceRecord] = []
    # A reissue whose credit note went through but whose new invoice did not (the shop
    # could not be read) goes on with the new invoice when run again.
    if not (reissue and _remaining(svc, doc).credited_out):
        paid_back = money_back and not reissue
        credit = _manual_credit(svc, doc, asked, money_back=paid_back, cancel=reissue)
        issued.append(_archived(svc, _issue(svc, doc, credit, options), issued))
    warnings = _reissue(svc, doc, options, issued) if reissue else []
    return CreditDone(issued, warnings)


def _manual_credit(
    svc: Services, original: InvoiceRecord, asked: _Asked, *, money_back: bool, cancel: bool
) -> Credit:
    """The Credit the request asks for."""
    done = svc.store.credit_notes_of(original.id)
    # One source per credit note of the order (the key is the order's, across reissues).
    order_docs = svc.store.documents_for_order(original.shop, original.order_id)
    sequence = sum(1 for d in order_docs if d.kind == "credit_note") + 1
    credited_lines = []
    if asked.amount is not None:
        total = asked.amount
    elif asked.picks is not None:
        try:
            credited_lines = lines_of_invoice(original.snapshot, asked.picks)
        except CreditNotIssuable as exc:
            raise _usage("; ".join(p.message for p in exc.problems)) from None
        total = sum((ln.amount + ln.tax for ln in credited_lines), Decimal(0))
    else:  # the whole invoice, or what is left of it
        credited_lines = whole_invoice(original.snapshot) if not done else []
        total = _remaining(svc, original).total
    return Credit(
        # A reissue's cancellation is told apart: a refund arriving before the corrected
        # invoice waits for it instead of finding nothing left to credit.
        source=f"{'cancel' if cancel else 'manual'}:{sequence}",
        amount=total,
        at=svc.store.clock(),
        reason=asked.reason,
        method="manual" if money_back else "none",
        lines=credited_lines,
    )


def _issue(
    svc: Services, original: InvoiceRecord, credit: Credit, options: dict[str, Any]
) -> InvoiceRecord:
    try:
        result = issue_credit(svc, original, credit, then=_then(svc, original.shop, options))
    except CreditNotIssuable as exc:
        reasons = "\n- ".join(str(p) for p in exc.problems)
        raise _problem(f"no credit note issued on {original.number}:\n- {reasons}") from None
    except StepError as exc:  # the numbering period turned (New Year) while it waited
        raise _problem(f"no credit note issued on {original.number}: {exc}; run again") from None
    if not result.created:  # its source was taken meanwhile: another credit ran at once
        raise _problem("another credit note was issued at the same time: run again")
    return result.invoice


def _archived(svc: Services, doc: InvoiceRecord, before: Sequence[InvoiceRecord]) -> InvoiceRecord:
    """`doc` once its PDF is archived (the owner is shown where it is)."""
    try:
        ensure_pdf(svc, doc)
    except StepError as exc:
        why = f"{doc.number} issued, but its PDF was not archived:\n{exc}"
        raise _problem(why, before) from None
    return doc


def _reissue(
    svc: Services, original: InvoiceRecord, options: dict[str, Any], issued: list[InvoiceRecord]
) -> list[str]:
    """The corrected invoice, and the credit notes made again on it, appended to `issued`;
    returns what is left to credit by hand."""
    order = _order_now(svc, original, issued)
    try:
        facts = gather_issue_facts(svc, order)
    except OutsideFactUnavailable as exc:
        why = f"the corrected invoice was not issued: {exc}; run again later"
        raise _problem(why, issued) from None
    try:
        reissue = reissue_invoice(
            svc, original, order, then=_then(svc, original.shop, options, after="issue"),
            credit_then=_then(svc, original.shop, options), facts=facts,
        )  # fmt: skip
    except (CreditNotIssuable, StepError) as exc:
        raise _problem(f"the corrected invoice was not issued: {exc}; run again", issued) from None
    result = reissue.result
    if result.outcome is Outcome.quarantined or result.invoice is None:
        why = "\n- ".join(result.reasons)
        raise _problem(f"the corrected invoice was not issued:\n- {why}", issued)
    issued.append(_archived(svc, result.invoice, issued))
    for note in reissue.credited_again:
        issued.append(_archived(svc, note, issued))
    if not reissue.not_credited:
        return []
    return [
        f"{result.invoice.number} is issued, but what {original.number}'s credit notes gave "
        "back could not be credited on it (you are alerted): credit it by hand:\n- "
        + "\n- ".join(reissue.not_credited)
    ]


def _order_now(svc: Services, original: InvoiceRecord, issued: list[InvoiceRecord]) -> Order:
    """The order read again from its shop (the owner fixed the buyer there), else as recorded."""
    if svc.settings.shop(original.shop) is not None:
        fetched = svc.connector(original.shop).fetch_order(original.order_id)
        if fetched.order is not None:
            return fetched.order
        raise _problem(
            f"order {original.order_id} cannot be read: {fetched.not_paid_reason}", issued
        )
    record = svc.store.get_order(original.shop, original.order_id)
    if record is None or record.payload is None:
        raise _problem(f"order {original.shop}/{original.order_id} is not recorded", issued)
    return record.payload


def _then(
    svc: Services, shop: str, options: dict[str, Any], after: str = "credit"
) -> list[FollowUp]:
    return STEPS.declared_follow_ups(svc, after, Flow(shop, options))


# --------------------------------------------------------------------------- resending


def _unconfigured(svc: Services, shop: str, kind: str) -> str | None:
    """Why `kind` reaches no customer of `shop` at all (the table it needs), else None."""
    if kind == "email":
        if not svc.settings.email.enabled:
            return "email is not configured ([email] host is empty)"
        return None
    if kind == "sms":
        if svc.settings.sms_for(shop) is None:
            return f"shop {shop} sends no texts: add an [[sms]] table for it first"
        return None
    if svc.settings.helpdesk_for(shop, kind) is None:
        return f"shop {shop} has no {kind} [[helpdesks]] table: add one for it first"
    return None


def resend_channels(svc: Services, doc: InvoiceRecord) -> list[str]:
    """The channels `doc` can be handed over on again now (email whenever it is configured:
    a missing address can be given)."""
    return [kind for kind in RESEND_CHANNELS if _unconfigured(svc, doc.shop, kind) is None]


def resend_document(
    svc: Services,
    doc: InvoiceRecord,
    channel: str = "email",
    to: str | None = None,
    *,
    names: FieldNames = NEUTRAL,
) -> str:
    """Queue `doc` for one more hand-over on `channel` (a new delivery, never a new
    document): by email to `to`, else the buyer's address; on another channel to the
    customer on file. Returns where it goes; the worker sends it."""
    kind = channel.strip().lower()
    if kind not in RESEND_CHANNELS:
        raise _usage(f"{names.channel} {channel!r}: one of {', '.join(RESEND_CHANNELS)}")
    if to and kind != "email":
        raise _usage(f"{names.to} is for email: other channels reach the customer on file")
    unconfigured = _unconfigured(svc, doc.shop, kind)
    if unconfigured:
        raise _usage(unconfigured)
    # The owner asked for this one: an SMS resend is not held to the daily cap.
    payload = _email_payload(svc, doc, to, names) if kind == "email" else {"resend": True}
    run = _would_run(svc, doc, kind, payload)
    step = _channel_step(kind)
    # The step's own skip and target: the owner is refused what the worker would skip.
    reason = step.skip(run)
    if reason:
        raise _usage(f"{doc.number}: {reason}")
    target = step.target(run)
    svc.store.enqueue_delivery(kind, doc, payload, target=target)
    return target


def _email_payload(
    svc: Services, doc: InvoiceRecord, to: str | None, names: FieldNames
) -> dict[str, Any]:
    """The email job's payload: the address it goes to, checked now rather than bounced."""
    given = (to or "").strip()
    asked = _would_run(svc, doc, "email", {"to": given} if given else {})
    target = _channel_step("email").target(asked).strip()
    if not target:
        raise _usage(f"{doc.number} has no email address on its order: give one ({names.to})")
    if parseaddr(target)[1] != target or "@" not in target:
        if given:
            raise _usage(f"{names.to} {target!r} is not an email address such as marie@example.fr")
        raise _usage(
            f"{doc.number}'s email address {target!r} is not one such as marie@example.fr: "
            f"give another ({names.to})"
        )
    return {"to": target}


def _channel_step(kind: str) -> Step:
    step = STEPS.step(kind)
    assert step is not None and step.channel == kind  # RESEND_CHANNELS are declared steps
    return step


def _would_run(svc: Services, doc: InvoiceRecord, kind: str, payload: dict[str, Any]) -> StepRun:
    """The run the resend's job will be, for its step's skip and target to read now."""
    now = svc.store.clock()
    job = JobRecord(
        id=0, kind=kind, payload=dict(payload), state="pending", attempts=0, run_at=now,
        lease_owner=None, lease_until=None, last_error=None, shop=doc.shop,
        order_id=doc.order_id, invoice_id=doc.id, created_at=now, updated_at=now,
        first_attempt_at=None, dedupe_key="", result=None,
    )  # fmt: skip
    return StepRun(svc, job, then=())
