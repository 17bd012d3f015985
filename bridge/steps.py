"""The pipeline, declared: every job kind in the order it runs, each with its contract.

    kind      the job kind the worker claims
    after     the step(s) whose success enqueues this one; None for an entry step, which
              intake enqueues itself (webhook → ingest; ingest, polling, import → issue and
              one credit per refund)
    applies   whether the step belongs to a document's flow at all, read from configuration
              and the options intake set (a shop that sends no email, an order with no shop
              to attach to); a step that does not apply is not enqueued: nothing to report
    skip      why, when its turn comes, the step has nothing to do (no address on the
              order…); the job is recorded `skipped` with that reason for the owner to see
    run       what it does; returns a result dict (the job is `done`) or `Skipped(reason)`,
              or raises an error of the failure vocabulary (`bridge.failures`)
    channel   a step that hands the document over (email, sms, zendesk, intercom, attach):
              each of its jobs is a row of the delivery log, moved with the job (`target`
              says to whom or where); each channel retries and fails on its own, so one
              channel's outage never holds back or repeats another
    budget    the seconds a channel's hand-over may run after its last lease check (an
              email's SMTP replies, a helpdesk's upload and note): the lease must outlast it

The worker (`bridge.worker`) runs a step and, in the transaction that marks it done, enqueues
the steps declared `after` it that apply, keyed by the document so a replay adds nothing.
Followers need a document: the steps that open one (`issue`, `credit`, `opens_document`)
enqueue their own in the issuing transaction, with the number (the outbox), because a
document may be issued outside a job (`quittance issue`, `quittance credit`) and must still
get its PDF, email and attach-back. Adding a step (Factur-X, SMS) is one entry in `STEPS`.

Render jobs queued before steps were declared carry their followers in the payload (`"then"`);
those lists are honoured as they are, so a database written by an older version drains
unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bridge.config.email import send_budget_seconds
from bridge.crediting import (
    alert_foreign_refund,
    awaiting_reissue,
    issue_credit,
    note_deleted_refunds,
    predates_quittance,
    refuse_credit,
)
from bridge.customer_channels import (
    add_to_helpdesk,
    customer_phone,
    outcome_result,
    send_sms,
    sms_number,
    sms_skip_reason,
)
from bridge.delivery.channel import NothingToDo
from bridge.delivery.channel import Outcome as Handed
from bridge.delivery.errors import PermanentDeliveryError
from bridge.delivery.sms.numbers import NotAMobile
from bridge.failures import PermanentStepError, WaitingForInvoice
from bridge.handover import check_before_handover
from bridge.invoicing.build import NO_FACTS
from bridge.invoicing.credit import CreditNotIssuable, credit_from_refund
from bridge.issue_facts import OutsideFactUnavailable, gather_issue_facts
from bridge.model import Refund
from bridge.pipeline import (
    Outcome,
    accept_order,
    ensure_pdf,
    invoice_link,
    quarantine,
    quarantine_unreadable,
    send_receipt,
    submit_order,
)
from bridge.polling import FIRST_POLL_LOOKBACK
from bridge.portal.actions import alert_low_score, send_portal_link
from bridge.services import Services
from bridge.store import FollowUp, InvoiceRecord, JobRecord
from bridge.store.jobs import WAITING_FOR_INVOICE


@dataclass(frozen=True)
class Skipped:
    reason: str


JobResult = dict[str, object] | Skipped


@dataclass(frozen=True)
class Flow:
    """What an `applies` rule reads: the document's shop and the options its intake set
    (`{"send_email": False}` from `quittance backfill --no-email`)."""

    shop: str
    options: Mapping[str, Any]


@dataclass(frozen=True)
class StepRun:
    """What a step's `run` and `skip` receive: the services, the job, and what follows it."""

    svc: Services
    job: JobRecord
    then: Sequence[FollowUp]


def _always(svc: Services, flow: Flow) -> bool:
    return True


def _never(run: StepRun) -> str | None:
    return None


def _nowhere(run: StepRun) -> str:
    return ""


def _no_budget(svc: Services, job: JobRecord) -> float:
    return 0.0


@dataclass(frozen=True)
class Step:
    kind: str
    run: Callable[[StepRun], JobResult]
    after: str | tuple[str, ...] | None = None
    applies: Callable[[Services, Flow], bool] = _always
    skip: Callable[[StepRun], str | None] = _never
    # The steps that create a document (`issue`, `credit`) enqueue their followers with it,
    # in their own transaction; every other document step's followers commit with its "done".
    opens_document: bool = False
    channel: str = ""
    target: Callable[[StepRun], str] = _nowhere
    budget: Callable[[Services, JobRecord], float] = _no_budget

    @property
    def on_document(self) -> bool:
        return self.opens_document or self.after is not None

    @property
    def follows(self) -> tuple[str, ...]:
        if self.after is None:
            return ()
        return (self.after,) if isinstance(self.after, str) else self.after


class Pipeline:
    """An ordered, checked list of steps: kinds unique, every `after` declared before it and
    on a document (followers are keyed by it: `<kind>:<invoice_id>`)."""

    def __init__(self, steps: Sequence[Step]) -> None:
        seen: dict[str, Step] = {}
        for step in steps:
            if step.kind in seen:
                raise ValueError(f"step {step.kind!r} is declared twice")
            for after in step.follows:
                before = seen.get(after)
                if before is None:
                    raise ValueError(f"step {step.kind!r} follows {after!r}, not declared before")
                if not before.on_document:
                    raise ValueError(
                        f"step {step.kind!r} follows {after!r}, which has no document yet: "
                        "follow a step that opens one (issue, credit) or one after it"
                    )
            seen[step.kind] = step
        self.steps = tuple(steps)

    def __iter__(self) -> Iterator[Step]:
        return iter(self.steps)

    def step(self, kind: str) -> Step | None:
        return next((step for step in self.steps if step.kind == kind), None)

    def declared_follow_ups(self, svc: Services, after: str, flow: Flow) -> list[FollowUp]:
        """The steps declared after `after` that apply to this flow, with its options."""
        return [
            (step.kind, dict(flow.options))
            for step in self.steps
            if after in step.follows and step.applies(svc, flow)
        ]

    def follow_ups_for_job(self, svc: Services, job: JobRecord) -> list[FollowUp]:
        """What follows this job. A render job queued before steps were declared carries its
        followers as `"then"` (the only job kind that version gave one): they are kept."""
        if job.kind == "render" and "then" in job.payload:
            return [(str(kind), {}) for kind in job.payload["then"]]
        flow = Flow(job.shop or "", _flow_options(job.payload))
        return self.declared_follow_ups(svc, job.kind, flow)


# Options intake may set on an entry job; they travel with the document to every step.
# `send_email: False` (`--no-email`) keeps every customer channel quiet: email, SMS, helpdesk.
FLOW_OPTIONS = ("send_email",)


def _flow_options(payload: Mapping[str, Any]) -> dict[str, Any]:
    return {key: payload[key] for key in FLOW_OPTIONS if key in payload}


# --------------------------------------------------------------------------- the steps


def _invoice_of(run: StepRun) -> InvoiceRecord:
    job = run.job
    invoice = run.svc.store.get_invoice_by_id(job.invoice_id) if job.invoice_id else None
    if invoice is None:
        raise PermanentStepError(f"job {job.id} ({job.kind}) refers to no invoice")
    return invoice


def ingest(run: StepRun) -> JobResult:
    """Read the order from the shop and submit it if it is paid. A verified webhook is only a
    trigger (`event_id`); `quittance retry` of an order that could not be read re-reads it by
    `order_ref`. A paid order that cannot be read is quarantined, its raw payload kept."""
    svc, shop, order_ref = run.svc, *_ingest_target(run)
    fetched = svc.connector(shop).fetch_order(order_ref)
    if not fetched.paid:
        return {"paid": False, "reason": fetched.not_paid_reason}
    if fetched.order is None:
        order_id = fetched.order_id or order_ref
        quarantine_unreadable(svc, shop, order_id, fetched.not_paid_reason, fetched.raw)
        return Skipped(f"quarantined: {fetched.not_paid_reason}")
    order = fetched.order
    started = predates_quittance(svc, order, FIRST_POLL_LOOKBACK)
    if started is not None:
        return Skipped(alert_foreign_refund(svc, order, started))
    submit_order(svc, order)
    deleted = note_deleted_refunds(svc, order)
    return {
        "paid": True, "order": order.order_id, "refunds": len(order.refunds),
        **({"refund_deleted": deleted} if deleted else {}),
    }  # fmt: skip


def _ingest_target(run: StepRun) -> tuple[str, str]:
    """(shop, order_ref) of an ingest job: from its webhook event, or given directly."""
    payload = run.job.payload
    if "event_id" not in payload:
        if not run.job.shop or not payload.get("order_ref"):
            raise PermanentStepError(f"job {run.job.id} names neither an event nor an order")
        return run.job.shop, str(payload["order_ref"])
    event = run.svc.store.get_webhook(int(payload["event_id"]))
    if event is None:
        raise PermanentStepError(f"webhook event {payload['event_id']} is missing")
    return event.shop, event.order_ref


def issue(run: StepRun) -> JobResult:
    """Number and freeze the invoice of a recorded order, or quarantine it with the reasons."""
    svc, job = run.svc, run.job
    record = svc.store.get_order(job.shop or "", job.order_id or "")
    if record is None or record.payload is None:
        raise PermanentStepError(f"order {job.shop}/{job.order_id} is not recorded")
    order = record.payload
    try:
        # Already issued (a replay after a crash): nothing to ask VIES or the ECB again.
        issued = svc.store.get_invoice_for_order(order.shop, order.order_id) is not None
        facts = NO_FACTS if issued else gather_issue_facts(svc, order)
    except OutsideFactUnavailable as exc:
        waited = svc.store.clock() - (job.first_attempt_at or svc.store.clock())
        if waited < exc.max_wait:
            raise  # transient: the job retries with backoff
        # max_wait 0: waiting cannot mend it (a currency the ECB does not publish): say so plainly
        waiting = f" (still so after {waited}, retry when it answers)" if exc.max_wait else ""
        result = quarantine(svc, order, [f"{exc}{waiting}"])
        return Skipped("quarantined: " + "; ".join(result.reasons))
    result = accept_order(svc, order, then=run.then, facts=facts)
    if result.outcome is Outcome.quarantined:
        return Skipped("quarantined: " + "; ".join(result.reasons))
    assert result.invoice is not None
    return {"invoice": result.invoice.number, "outcome": result.outcome.value}


def credit(run: StepRun) -> JobResult:
    """One credit note for one refund, on the order's invoice in force. A refund seen before
    its invoice waits for it (`WaitingForInvoice`, re-armed when the invoice is issued); one
    that cannot be credited (more than remains, a rate never charged) is refused and the
    owner told."""
    svc, job = run.svc, run.job
    refund = Refund.model_validate(job.payload["refund"])
    if refund.amount == 0:  # a restock with no money back: nothing to credit
        return Skipped(f"refund {refund.refund_id} gave nothing back: no credit note")
    original = svc.store.current_invoice(job.shop or "", job.order_id or "")
    if original is None or awaiting_reissue(svc, original):
        raise WaitingForInvoice(
            f"{WAITING_FOR_INVOICE} of order {job.order_id}: refund {refund.refund_id} is "
            "credited once the invoice is issued"
        )
    credit_ = credit_from_refund(refund, fallback_at=svc.store.clock())
    try:
        result = issue_credit(svc, original, credit_, then=run.then)
    except CreditNotIssuable as exc:
        refuse_credit(svc, original, credit_, str(exc))
        return Skipped(f"refused: {exc}")
    return {"credit_note": result.invoice.number, "credits": original.number}


def render(run: StepRun) -> JobResult:
    """Render and archive the PDF once; its SHA-256 is recorded as the proof."""
    invoice = _invoice_of(run)
    ensure_pdf(run.svc, invoice)
    return {"pdf_sha256": run.svc.store.get_invoice_by_id(invoice.id).pdf_sha256}  # type: ignore[union-attr]


def _customer_channels_on(flow: Flow) -> bool:
    return bool(flow.options.get("send_email", True))


def shop_sends_email(svc: Services, flow: Flow) -> bool:
    shop = svc.settings.shop(flow.shop)
    return _customer_channels_on(flow) and (shop is None or shop.send_email)


def email_budget(svc: Services, job: JobRecord) -> float:
    email = svc.settings.email
    return send_budget_seconds(email.timeout, email.bcc)


def email_skip_reason(run: StepRun) -> str | None:
    if not email_target(run):
        return (
            "no email address on the order: `quittance resend NUMBER --to ADDRESS` sends it "
            "once the customer gives one"
        )
    if not run.svc.settings.email.enabled:
        return "email is not configured ([email] host is empty)"
    return None


def email_target(run: StepRun) -> str:
    """Where the email goes: the address `quittance resend --to` gave, else the buyer's."""
    return str(run.job.payload.get("to") or _invoice_of(run).snapshot.buyer.email)


def email(run: StepRun) -> JobResult:
    """The customer's personal email with the PDF attached."""
    return send_receipt(run.svc, _invoice_of(run), to=email_target(run))


def _channel_result(outcome: Handed) -> JobResult:
    if isinstance(outcome, NothingToDo):
        return Skipped(outcome.reason)
    return outcome_result(outcome)


def shop_texts(svc: Services, flow: Flow) -> bool:
    return _customer_channels_on(flow) and svc.settings.sms_for(flow.shop) is not None


def sms_skip(run: StepRun) -> str | None:
    return sms_skip_reason(run.svc, _invoice_of(run))


def sms_target(run: StepRun) -> str:
    invoice = _invoice_of(run)
    try:
        return sms_number(run.svc, invoice)
    except (NotAMobile, PermanentDeliveryError):
        return customer_phone(run.svc, invoice)


def sms_budget(svc: Services, job: JobRecord) -> float:
    cfg = svc.settings.sms_for(job.shop or "")
    return cfg.send_budget_seconds if cfg is not None else 0.0


def sms(run: StepRun) -> JobResult:
    """A short text to the customer's mobile: amount, number, a link to their documents."""
    invoice = _invoice_of(run)
    capped = not run.job.payload.get("resend")  # `quittance resend --channel sms` is the owner's
    outcome = send_sms(run.svc, invoice, run.job, capped=capped)
    return _channel_result(outcome)


def helpdesk_step(kind: str) -> Step:
    """The step adding each document to the customer's open `kind` ticket or conversation."""

    def applies(svc: Services, flow: Flow) -> bool:
        on = svc.settings.helpdesk_for(flow.shop, kind) is not None
        return on and _customer_channels_on(flow)

    def skip(run: StepRun) -> str | None:
        if not _invoice_of(run).snapshot.buyer.email:
            return f"no email address on the order: {kind} cannot find the customer"
        return None

    def target(run: StepRun) -> str:
        return f"{kind}: {_invoice_of(run).snapshot.buyer.email}"

    def budget(svc: Services, job: JobRecord) -> float:
        cfg = svc.settings.helpdesk_for(job.shop or "", kind)
        return cfg.send_budget_seconds if cfg is not None else 0.0

    def run(run_: StepRun) -> JobResult:
        invoice = _invoice_of(run_)
        outcome = add_to_helpdesk(run_.svc, invoice, kind, run_.job)
        return _channel_result(outcome)

    run.__doc__ = f"The document as a note on the customer's open {kind} conversation."
    return Step(
        kind, run, after="render", applies=applies, skip=skip, channel=kind, target=target,
        budget=budget,
    )  # fmt: skip


def has_platform_shop(svc: Services, flow: Flow) -> bool:
    """Only orders of a configured shop can be written back to (not a manual import)."""
    return svc.settings.shop(flow.shop) is not None


def attach_target(run: StepRun) -> str:
    return f"{run.job.shop} order {run.job.order_id}"


def attach(run: StepRun) -> JobResult:
    """Write the document's number and link back onto the order (note or metafield), once;
    a credit note beside its invoice, a reissued invoice in place of the one it replaces."""
    doc = _invoice_of(run)
    url = invoice_link(run.svc, doc)
    replaces = doc.source.removeprefix("reissue:") if doc.source.startswith("reissue:") else ""
    # The shop may email its note to the customer: a worker whose lease is gone writes nothing.
    check_before_handover()
    result = run.svc.connector(doc.shop).attach_invoice(
        doc.order_id, doc.number, url, kind=doc.kind, replaces=replaces
    )
    return {"attached": result.attached, "detail": result.detail}


def portal_link(run: StepRun) -> JobResult:
    """Email a customer the fresh portal link they asked for (bridge/portal/pages.py)."""
    payload = run.job.payload
    return send_portal_link(run.svc, int(payload["customer_id"]), int(payload["days"]))


def survey_alert(run: StepRun) -> JobResult:
    """Tell the owner a customer answered the survey in the bottom two scores."""
    payload = run.job.payload
    invoice_id = int(payload["invoice_id"])
    if "score" not in payload:  # queued before jobs carried their score: the one on file
        survey = run.svc.store.survey(invoice_id)
        payload = {**payload, "score": survey.score if survey and survey.score else 0}
    return alert_low_score(run.svc, invoice_id, int(payload["score"]))


STEPS = Pipeline(
    [
        Step("ingest", ingest),
        Step("issue", issue, opens_document=True),
        Step("credit", credit, opens_document=True),
        Step("render", render, after=("issue", "credit")),
        Step(
            "email",
            email,
            after="render",
            applies=shop_sends_email,
            skip=email_skip_reason,
            channel="email",
            target=email_target,
            budget=email_budget,
        ),
        Step(
            "sms",
            sms,
            after="render",
            applies=shop_texts,
            skip=sms_skip,
            channel="sms",
            target=sms_target,
            budget=sms_budget,
        ),
        helpdesk_step("zendesk"),
        helpdesk_step("intercom"),
        Step(
            "attach",
            attach,
            after="render",
            applies=has_platform_shop,
            channel="attach",
            target=attach_target,
        ),
        # The customer's side: entry steps enqueued by the portal and survey pages.
        Step("portal_link", portal_link),
        Step("survey_alert", survey_alert),
    ]
)
