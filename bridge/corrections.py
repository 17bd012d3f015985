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

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
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
from bridge.store import FollowUp, InvoiceRecord, IssueResult, JobRecord

# The channels that reach the customer; `attach` writes on the shop's order, not to them.
RESEND_CHANNELS = ("email", "sms", "zendesk", "intercom")
CENT = Decimal("0.01")
Picks = list[tuple[int, Decimal | None]]
# What a person types: ASCII digits (Decimal also reads "１" and "٣"), one separator, no sign.
_AMOUNT = re.compile(r"[0-9]+(?:[.,][0-9]*)?|[.,][0-9]+")
_LINE = re.compile(r"[0-9]{1,6}")  # str.isdigit takes "²", which int() refuses
# An amount or quantity of ten billion or more is a typo, and one of 400 digits would not
# even quantize to cents (decimal's context holds 28 digits).
MAX_ADJUSTED = 9
MAX_REASON = 200  # the credit note prints it, in a box of its own
MAX_ADDRESS = 254  # RFC 5321: the longest path a mail server accepts
# A request id, as the dashboard's form carries it (secrets.token_urlsafe(16)): long and not
# all digits, so `manual:<request id>` never meets the CLI's `manual:<n>`.
_REQUEST_ID = re.compile(r"(?=.*[^0-9])[A-Za-z0-9_-]{16,64}")


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
    what is left for the owner to do by hand (issued all the same); `repeated`: the request
    was done already (same request id), `documents` is what it issued then."""

    documents: list[InvoiceRecord]
    warnings: list[str] = field(default_factory=list)
    repeated: bool = False


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
    """A positive amount in cents ("12,50" as well as "12.50"), at most 10 digits before
    the point; `name` is the field's."""
    shown = _shown(str(value))
    if isinstance(value, Decimal):
        amount = value
    elif _AMOUNT.fullmatch(text := value.strip()):
        amount = Decimal(text.replace(",", "."))
    else:
        raise _usage(f"{name} {shown} is not a number such as 12.50")
    if amount.is_finite() and amount.adjusted() > MAX_ADJUSTED:
        raise _usage(
            f"{name} {shown} is not a number such as 12.50: "
            f"more than {MAX_ADJUSTED + 1} digits before the point"
        )
    if not amount.is_finite() or amount <= 0 or amount != amount.quantize(CENT):
        raise _usage(f"{name} {shown} must be a positive amount in cents, such as 12.50")
    return amount


def _shown(text: str, at_most: int = 40) -> str:
    """`text` quoted in a message, cut when long (the message is read, not the 400 digits)."""
    return repr(text) if len(text) <= at_most else repr(text[:at_most]) + "…"


def parse_lines(text: str, name: str = "lines") -> Picks:
    """'2:1,3' → [(2, 1), (3, None)]: line 2, one unit; all of line 3."""
    picks: Picks = []
    for part in text.split(","):
        position, _, quantity = part.strip().partition(":")
        if not _LINE.fullmatch(position):
            raise _usage(
                f"{name} {_shown(text)}: each entry is a line number, optionally ':quantity'"
            )
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
    if len(reason.strip()) > MAX_REASON:
        raise _usage(
            f"{names.reason} is {len(reason.strip())} characters long: it is printed on the "
            f"credit note, say it in {MAX_REASON} at most"
        )
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
    request_id: str | None = None,
) -> CreditDone:
    """A credit note on invoice `doc`: `amount` incl. VAT (pro rata), `lines` ('2', '2:1,3'),
    else what is left of it; `reissue`: all of it, then a new invoice (new number) from the
    order as the shop has it now (the owner fixed the buyer there first). `money_back=False`:
    a price correction, nothing paid back; `send_email=False`: no customer channel.

    `request_id`: the form's own id (the dashboard's): the same request sent twice (a double
    click, a replayed POST) issues one credit note, and the second answers with it. Without
    one, each call is a request of its own (the CLI's)."""
    asked = _read_request(reason, amount, lines, reissue, names)
    if request_id is not None and not _REQUEST_ID.fullmatch(request_id):
        raise _usage("this form has expired: open the document again and fill it in again")
    if doc.kind != "invoice":
        raise _problem(
            f"no credit note issued on {doc.number}: it is a credit note, not an invoice; "
            f"credit the invoice it corrects ({doc.snapshot.credited_number}) instead"
        )
    options = {} if send_email else {"send_email": False}
    issued: list[InvoiceRecord] = []
    source = _source(svc, doc, request_id, cancel=reissue)
    # This request was done already (a double submit): its note is the answer. Going on
    # would credit what is left now, in a second note. (A reissue finds what it has done
    # itself, below.)
    repeat = _issued_by(svc, doc, source) if request_id is not None and not reissue else None
    if repeat is not None:
        return CreditDone([_archived(svc, repeat, issued)], repeated=True)
    # A reissue whose credit note went through but whose new invoice did not (the shop
    # could not be read) goes on with the new invoice when run again.
    if not (reissue and _remaining(svc, doc).credited_out):
        paid_back = money_back and not reissue
        credit = _manual_credit(svc, doc, asked, source, money_back=paid_back)
        result = _issue(svc, doc, credit, options, same_request=request_id is not None)
        issued.append(_archived(svc, result.invoice, issued))
        if not result.created and not reissue:
            return CreditDone(issued, repeated=True)
    warnings = _reissue(svc, doc, options, issued) if reissue else []
    return CreditDone(issued, warnings)


def _source(svc: Services, doc: InvoiceRecord, request_id: str | None, *, cancel: bool) -> str:
    """The credit note's source, unique on the order (the key is the order's, across
    reissues): the request's id, else the next number. A reissue's cancellation is told
    apart: a refund arriving before the corrected invoice waits for it instead of finding
    nothing left to credit."""
    if request_id is None:
        order_docs = svc.store.documents_for_order(doc.shop, doc.order_id)
        request_id = str(sum(1 for d in order_docs if d.kind == "credit_note") + 1)
    return f"{'cancel' if cancel else 'manual'}:{request_id}"


def _issued_by(svc: Services, doc: InvoiceRecord, source: str) -> InvoiceRecord | None:
    """The credit note of `doc`'s order issued for `source`, if any."""
    order_docs = svc.store.documents_for_order(doc.shop, doc.order_id)
    return next((d for d in order_docs if d.kind == "credit_note" and d.source == source), None)


def _manual_credit(
    svc: Services, original: InvoiceRecord, asked: _Asked, source: str, *, money_back: bool
) -> Credit:
    """The Credit the request asks for."""
    done = svc.store.credit_notes_of(original.id)
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
        source=source,
        amount=total,
        at=svc.store.clock(),
        reason=asked.reason,
        method="manual" if money_back else "none",
        lines=credited_lines,
    )


def _issue(
    svc: Services, original: InvoiceRecord, credit: Credit, options: dict[str, Any], *,
    same_request: bool,
) -> IssueResult:  # fmt: skip
    """The credit note issued; `same_request`: its source is the request's id, so one
    found issued already is this request's, sent twice at once (not created then)."""
    try:
        result = issue_credit(svc, original, credit, then=_then(svc, original.shop, options))
    except CreditNotIssuable as exc:
        reasons = "\n- ".join(str(p) for p in exc.problems)
        raise _problem(f"no credit note issued on {original.number}:\n- {reasons}") from None
    except StepError as exc:  # the numbering period turned (New Year) while it waited
        raise _problem(f"no credit note issued on {original.number}: {exc}; run again") from None
    if not result.created and not same_request:  # its number was taken by another credit
        raise _problem("another credit note was issued at the same time: run again")
    return result


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
    request_id: str | None = None,
) -> str:
    """Queue `doc` for one more hand-over on `channel` (a new delivery, never a new
    document): by email to `to`, else the buyer's address; on another channel to the
    customer on file. Returns where it goes; the worker sends it. `request_id`: the form's
    own id: the same request sent twice queues one delivery (see `credit_document`)."""
    if request_id is not None and not _REQUEST_ID.fullmatch(request_id):
        raise _usage("this form has expired: open the document again and fill it in again")
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
    svc.store.enqueue_delivery(kind, doc, payload, target=target, request_id=request_id)
    return target


def _email_payload(
    svc: Services, doc: InvoiceRecord, to: str | None, names: FieldNames
) -> dict[str, Any]:
    """The email job's payload: the address it goes to, checked now rather than bounced."""
    given = (to or "").strip()
    if len(given) > MAX_ADDRESS:
        raise _usage(
            f"{names.to} is {len(given)} characters long: an email address has "
            f"{MAX_ADDRESS} at most"
        )
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
