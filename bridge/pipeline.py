"""What the steps do: the only place that orchestrates I/O across store, archive, render and
delivery. `bridge.steps` declares the order, the rules and the jobs; these do the work.

    submit_order   Order → recorded + an "issue" job (the durable intent), nothing else.
    accept_order   Order → invoice issued (number + follow-up jobs in one transaction)
                   or order quarantined with the reason; idempotent per (shop, order, kind).
    ensure_pdf     invoice → its PDF bytes, rendered and archived once; the recorded SHA-256
                   is the proof; re-rendering is deterministic, so a retry is harmless.
    send_receipt   invoice → the customer's personal email with the PDF.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

import structlog

from bridge.archive import ArchiveCorruptError
from bridge.audit import RESTORED_EVENT
from bridge.config import SellerConfig
from bridge.delivery.email import build_receipt_email, send_email
from bridge.failures import PermanentStepError, TransientStepError
from bridge.invoicing.amounts import Inconsistency
from bridge.invoicing.build import (
    NO_FACTS,
    IssueFacts,
    Numbering,
    OrderNotInvoiceable,
    build_invoice,
    local_date,
)
from bridge.invoicing.mentions import LegalTerms
from bridge.invoicing.shipping_vat import shipping_vat_notes
from bridge.invoicing.snapshot import DocumentKind, InvoiceSnapshot
from bridge.model import Order
from bridge.portal.actions import record_invitation, survey_invite
from bridge.portal.links import CustomerLinks
from bridge.render.archived import render_for_archive, restore
from bridge.render.printable import unprintable_fields
from bridge.services import Services, alert_owner
from bridge.store import FollowUp, InvoiceRecord
from connectors.base import UnreadableOrder

log = structlog.get_logger()


class Outcome(StrEnum):
    issued = "issued"
    already_issued = "already_issued"
    quarantined = "quarantined"


@dataclass
class AcceptResult:
    outcome: Outcome
    invoice: InvoiceRecord | None = None
    reasons: list[str] = field(default_factory=list)


def accept_order(
    svc: Services,
    order: Order,
    *,
    then: Sequence[FollowUp],
    now: datetime | None = None,
    facts: IssueFacts = NO_FACTS,
    source: str = "",
) -> AcceptResult:
    """Issue the facture acquittée of a paid order, or quarantine it with the reason.

    `then`: the jobs that follow the number, enqueued in the issuing transaction (outbox).
    `facts`: what the invoice needs from outside (VIES, ECB), read before (bridge.issue_facts).
    `source`: "" for the sale's invoice, "reissue:<number>" for one issued again after that
    number was fully credited (`bridge.crediting.reissue_invoice`)."""
    # Its refunds' credit jobs too, whatever brought the order (`quittance issue --order`,
    # a reissue read from the shop): they wait for this invoice and follow it.
    svc.store.record_order(order, credit_options={})
    period = svc.settings.numbering.period_for(
        local_date(now or svc.store.clock(), svc.seller_for_snapshot().timezone)
    )
    try:
        result = svc.store.issue_invoice(
            shop=order.shop,
            order_id=order.order_id,
            kind=DocumentKind.invoice.value,
            series=svc.settings.numbering.series,
            period=period,
            build=_invoice_builder(svc, order, period, now, facts),
            follow_up_jobs=then,
            source=source,
        )
    except OrderNotInvoiceable as exc:
        return quarantine(svc, order, [str(p) for p in exc.problems])
    log.info(
        "invoice issued" if result.created else "invoice already issued",
        shop=order.shop,
        order=order.order_id,
        invoice=result.invoice.number,
    )
    if result.created:
        try:
            _tell_owner_what_to_check(svc, order, result.invoice)
        except Exception:  # the invoice is issued: a failed alert must not fail the job
            log.exception("owner notes failed", invoice=result.invoice.number)
    outcome = Outcome.issued if result.created else Outcome.already_issued
    return AcceptResult(outcome, invoice=result.invoice)


def _tell_owner_what_to_check(svc: Services, order: Order, invoice: InvoiceRecord) -> None:
    """What an issued invoice leaves to the owner: a SIREN to collect, shipping taxed unlike
    its goods. The invoice is right as issued; the shop's data should be corrected."""
    buyer = invoice.snapshot.buyer
    collect = siren_note(order, invoice.snapshot)
    if collect:
        alert_owner(
            svc,
            key=f"collect-siren:{order.shop}:{order.order_id}",
            title=f"Quittance: collect the SIREN of {buyer.company} (invoice {invoice.number})",
            body=collect,
        )
    notes = shipping_vat_notes(order)
    if notes:
        # Kept per invoice: the alert is sent once per dedupe window, the figures are needed
        # for every invoice when the VAT return is corrected.
        svc.store.append_event(
            "invoice.shipping_vat", shop=order.shop, order_id=order.order_id,
            invoice_number=invoice.number, detail={"notes": notes},
        )  # fmt: skip
        alert_owner(
            svc,
            key=f"shipping-vat:{order.shop}",
            title=f"Quittance: shipping VAT on invoice {invoice.number} does not follow the goods",
            body="\n".join(notes),
        )


def siren_note(order: Order, snapshot: InvoiceSnapshot) -> str:
    """The owner's to-do when a company without SIREN was invoiced as a business ("" if none)."""
    buyer = snapshot.buyer
    if not buyer.is_business or buyer.siren or buyer.vat_number:
        return ""
    return (
        f"Order {order.display_reference} is invoiced to the company {buyer.company!r} as a "
        "business sale (B2B payment terms printed) but has no SIREN or VAT number: ask the "
        "customer for their SIREN and add it to their account on the shop "
        "([rules] company_without_identifier sets this policy)."
    )


def owner_notes(order: Order, snapshot: InvoiceSnapshot) -> list[str]:
    """Everything an issued invoice would tell the owner to check."""
    return [note for note in (siren_note(order, snapshot), *shipping_vat_notes(order)) if note]


def trial_invoice(
    svc: Services, order: Order, *, at: datetime, facts: IssueFacts = NO_FACTS
) -> InvoiceSnapshot:
    """The invoice `order` would get if issued at `at`: the same rules and configuration, a
    sample number in the configured format. Nothing is stored, numbered or archived."""
    seller = svc.settings.seller
    numbering_cfg = svc.settings.numbering
    number = numbering_cfg.format_number(1, local_date(at, seller.timezone))
    return _checked_build(
        order,
        lambda: _build(svc, order, seller, Numbering(numbering_cfg.series, number, 1), at, facts),
    )


def _build(
    svc: Services,
    order: Order,
    seller: SellerConfig,
    numbering: Numbering,
    issued_at: datetime,
    facts: IssueFacts,
) -> InvoiceSnapshot:
    unprintable = unprintable_fields(order)
    if unprintable:  # before the number is kept: blank mentions cannot be fixed afterwards
        raise OrderNotInvoiceable(unprintable)
    return build_invoice(
        order,
        seller,
        numbering,
        issued_at=issued_at,
        terms=LegalTerms(**svc.settings.legal.model_dump()),
        company_policy=svc.settings.rules.company_without_identifier,
        facts=facts,
    )


def _invoice_builder(
    svc: Services, order: Order, period: str, now: datetime | None, facts: IssueFacts
) -> Callable[[int], InvoiceSnapshot]:
    """The snapshot for the sequence number the store allocates, under the series lock."""
    numbering_cfg = svc.settings.numbering
    seller = svc.seller_for_snapshot()

    def build(sequence: int) -> InvoiceSnapshot:
        # The issue date is read here, under the series lock, not before waiting for it:
        # numbers and dates must both be chronological (n+1 never dated before n).
        issued_at = now or svc.store.clock()
        issue_day = local_date(issued_at, seller.timezone)
        if numbering_cfg.period_for(issue_day) != period:
            # We waited across the yearly reset (New Year's Eve): the number allocated is
            # from last year's run. Roll back and let the job run again in the new period.
            raise TransientStepError("the numbering period changed while waiting: retry")
        number = numbering_cfg.format_number(sequence, issue_day)
        numbering = Numbering(series=numbering_cfg.series, number=number, sequence=sequence)
        return _checked_build(
            order, lambda: _build(svc, order, seller, numbering, issued_at, facts)
        )

    return build


def _checked_build(order: Order, build: Callable[[], InvoiceSnapshot]) -> InvoiceSnapshot:
    """Any error while checking or building an order quarantines it, rolling the number
    back: a value no rule foresaw must not kill the job or block the orders after it."""
    try:
        return build()
    except (OrderNotInvoiceable, TransientStepError):
        raise
    except Exception as exc:
        log.exception("order could not be checked", shop=order.shop, order=order.order_id)
        raise OrderNotInvoiceable(
            [
                Inconsistency(
                    "order",
                    f"could not be checked ({type(exc).__name__}: {str(exc)[:200]}): check "
                    "its figures on the shop; if they are right, report this order to us",
                )
            ]
        ) from exc


def quarantine(svc: Services, order: Order, reasons: list[str]) -> AcceptResult:
    """No invoice for `order` until a person acts: recorded with the reasons, owner alerted."""
    svc.store.quarantine_order(order.shop, order.order_id, "; ".join(reasons))
    svc.store.append_event(
        "order.quarantined", shop=order.shop, order_id=order.order_id,
        detail={"reasons": reasons},
    )  # fmt: skip
    _alert_quarantine(svc, order.shop, order.display_reference, reasons)
    return AcceptResult(Outcome.quarantined, reasons=reasons)


def quarantine_unreadable(
    svc: Services, shop: str, order_id: str, reason: str, raw: Mapping[str, object]
) -> None:
    """A paid order its connector could not map: quarantined with the field named, the raw
    payload kept; `quittance retry` reads it from the shop again."""
    if svc.store.quarantine_unreadable(shop, [UnreadableOrder(order_id, reason, raw)]):
        _alert_quarantine(svc, shop, order_id, [reason])


def _alert_quarantine(svc: Services, shop: str, reference: str, reasons: list[str]) -> None:
    log.warning("order quarantined", shop=shop, order=reference, reasons=reasons)
    alert_owner(
        svc,
        key=f"quarantine:{shop}",
        title=f"Quittance: order {reference} needs you (shop {shop})",
        body="No invoice was issued because:\n- "
        + "\n- ".join(reasons)
        + "\nFix the order on the shop (or the configuration, as said), then "
        "`quittance retry --all`. `quittance failures` lists every quarantined order.",
    )


def ensure_pdf(svc: Services, invoice: InvoiceRecord) -> bytes:
    """The invoice's PDF, rendering and archiving it the first time.

    The first render uses the service's templates, frozen into the archive with a render
    profile, and the PDF's own text is checked for every mandatory mention BEFORE anything is
    archived: a template override that drops one raises `PdfIncompleteError` (permanent: the
    owner is alerted, nothing is archived, and the email step, which comes through here, sends
    nothing); so does a Factur-X XML that fails its schema (`FacturXInvalidError`).
    Rendering is deterministic, so a crash between archive and `set_pdf_sha256` is healed by
    running this again. A recorded file that went missing is restored only if a
    re-render with the document's own profile hashes to the recorded value; anything else is
    refused loudly (`PdfMismatchError`, `RenderProfileError`).
    """
    if invoice.pdf_sha256:
        try:
            return svc.archive.read(invoice.pdf_sha256)
        except ArchiveCorruptError:
            return _restore_recorded(svc, invoice, invoice.pdf_sha256)
    data, profile = render_for_archive(svc.archive, invoice.snapshot, svc.templates)
    archived = svc.archive.put(data, number=invoice.number)
    svc.store.set_pdf_sha256(invoice.id, archived.sha256)
    svc.store.append_event(
        "invoice.archived",
        shop=invoice.shop,
        order_id=invoice.order_id,
        invoice_number=invoice.number,
        # the profile again, in the append-only log: the archive's record has a witness
        detail={
            "sha256": archived.sha256,
            "template_set": profile.template_set,
            "renderers": profile.renderers,
        },
    )
    return data


def _restore_recorded(svc: Services, invoice: InvoiceRecord, sha256: str) -> bytes:
    """Put back a missing or altered PDF (only ever its very bytes), and keep the evidence:
    the restore goes into the append-only log, which `verify` reports from then on, and the
    owner is told. A restore that cannot be recorded does not happen."""
    was = svc.archive.state(sha256).value
    # Recorded first: a restore whose record cannot be written must not happen.
    svc.store.append_event(
        RESTORED_EVENT, shop=invoice.shop, order_id=invoice.order_id,
        invoice_number=invoice.number, detail={"sha256": sha256, "was": was},
    )  # fmt: skip
    data = restore(svc.archive, invoice.snapshot, sha256, svc.templates)
    log.warning("archived PDF restored from snapshot", invoice=invoice.number, was=was)
    alert_owner(
        svc,
        key=f"restored:{invoice.number}",
        title=f"Quittance: the PDF of {invoice.number} was {was}, restored",
        body=f"The archived PDF of {invoice.number} ({svc.archive.path_for(sha256)}) was "
        f"{was}. It was rendered again from its snapshot, to the same bytes, and put back. "
        "Nothing in Quittance deletes or changes an archived PDF: find out what did "
        "(`quittance verify` keeps listing this restore).",
    )
    return data


def submit_order(svc: Services, order: Order) -> int | None:
    """Record a paid order with its durable intents, "issue" and one "credit" per refund;
    the worker does the rest."""
    return svc.store.record_order(
        order, enqueue=("issue", {}, f"issue:{order.shop}:{order.order_id}"), credit_options={}
    )


def send_receipt(svc: Services, invoice: InvoiceRecord, *, to: str = "") -> dict[str, object]:
    """Email the document to `to`, by default its buyer (the `email` step checks there is an
    address first)."""
    email_cfg = svc.settings.email
    snapshot = invoice.snapshot
    to = to or snapshot.buyer.email
    if not to:
        raise PermanentStepError(f"invoice {invoice.number} has no email address to send to")
    pdf = ensure_pdf(svc, invoice)
    # Another address (`quittance resend --to`): the same letter to the buyer, sent there.
    addressed = snapshot.model_copy(
        update={"buyer": snapshot.buyer.model_copy(update={"email": to})}
    )
    links = CustomerLinks(svc.settings, svc.store)
    # The portal shows every document of the buyer: only the buyer's own address gets it; a
    # copy sent elsewhere links this document alone.
    to_buyer = to.strip().lower() == snapshot.buyer.email.strip().lower()
    portal = links.portal_url_for(invoice) if to_buyer else ""
    survey = survey_invite(svc, invoice) if to_buyer else None
    message = build_receipt_email(
        addressed, pdf, email_cfg, svc.templates,
        invoices_url=portal, document_url="" if portal else links.document_url(invoice),
        survey=survey,
    )  # fmt: skip
    message_id = send_email(message, email_cfg, attempts=1 + svc.settings.jobs.quick_retries)
    if survey is not None:
        try:
            record_invitation(svc, invoice, survey)
        except Exception as exc:  # the survey page records it when the customer comes
            log.warning("email sent, survey invitation not recorded", error=type(exc).__name__)
    try:
        svc.store.append_event(
            "email.sent",
            shop=invoice.shop,
            order_id=invoice.order_id,
            invoice_number=invoice.number,
            detail={"message_id": message_id, "to_domain": to.rpartition("@")[2]},
        )
    except Exception as exc:  # sent is sent: failing here would retry, and send it twice
        log.warning("email sent, event not recorded", error=type(exc).__name__)
    return {"message_id": message_id}


def invoice_link(svc: Services, invoice: InvoiceRecord) -> str:
    """The customer-facing download URL of a document ("" when no public URL is set)."""
    return CustomerLinks(svc.settings, svc.store).document_url(invoice)
