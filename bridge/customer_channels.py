"""The customer channels beyond email, as the steps run them: a text message to the
customer's mobile (`[[sms]]`), a note on their open Zendesk ticket or Intercom conversation
(`[[helpdesks]]`). Each reads the document, builds the `Handover` every channel takes, and
calls its channel module (`bridge.delivery.sms`, `bridge.delivery.helpdesk`), which raises
the failure vocabulary's delivery errors; the worker records each outcome in the job's own
delivery row (`bridge.steps` declares the steps).

A text carries the customer's portal link (their own documents, `bridge.portal.links`)
through a short link valid as long as the portal link (`bridge.portal.short_links`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bridge.config.channels import HelpdeskConfig, SmsConfig
from bridge.delivery.channel import CLOCK_MARGIN, Handover, NothingToDo, Outcome, Sent
from bridge.delivery.email import attachment_name
from bridge.delivery.errors import PermanentDeliveryError, TransientDeliveryError
from bridge.delivery.helpdesk.intercom import add_to_intercom
from bridge.delivery.helpdesk.zendesk import add_to_zendesk
from bridge.delivery.sms.apprise_route import send_apprise
from bridge.delivery.sms.numbers import NotAMobile, mobile_e164
from bridge.delivery.sms.text import sms_text
from bridge.delivery.sms.twilio import find_earlier_text, send_twilio
from bridge.invoicing.snapshot import DocumentKind
from bridge.pipeline import ensure_pdf
from bridge.portal.links import CustomerLinks
from bridge.portal.short_links import shorten
from bridge.services import Services, alert_owner
from bridge.store import InvoiceRecord, JobRecord

# A day: the cap's count per UTC day, and each text's mark of being counted.
CAP_WINDOW = timedelta(days=1)
IN_FLIGHT = ("pending", "retrying")  # delivery rows whose job may still hand over

HELPDESKS = {"zendesk": add_to_zendesk, "intercom": add_to_intercom}


def handover_of(
    svc: Services,
    invoice: InvoiceRecord,
    *,
    link: str = "",
    since: datetime | None = None,
    known: frozenset[str] = frozenset(),
) -> Handover:
    """The document as every channel hands it over (its PDF read from the archive)."""
    snapshot = invoice.snapshot
    buyer = snapshot.buyer
    return Handover(
        shop=invoice.shop,
        number=invoice.number,
        kind="credit_note" if snapshot.kind == DocumentKind.credit_note else "invoice",
        locale=snapshot.locale if snapshot.locale in ("fr", "en") else "en",
        amount=abs(snapshot.totals.total_incl),
        currency=snapshot.currency,
        order_reference=snapshot.order.reference,
        customer_name=buyer.name or buyer.company,
        customer_email=buyer.email,
        customer_phone=customer_phone(svc, invoice),
        link=link,
        pdf=ensure_pdf(svc, invoice),
        filename=attachment_name(invoice.number),
        since=since,
        known=known,
    )


def customer_phone(svc: Services, invoice: InvoiceRecord) -> str:
    """The phone number on the document's order, as the shop recorded it ("" when none).
    Read from the order, not the snapshot: an invoice has no use for it, and the snapshot is
    kept ten years."""
    record = svc.store.get_order(invoice.shop, invoice.order_id)
    return record.payload.customer.phone if record is not None and record.payload else ""


# --------------------------------------------------------------------------- SMS


def sms_settings(svc: Services, shop: str) -> SmsConfig:
    cfg = svc.settings.sms_for(shop)
    if cfg is None:  # the step applies only to a shop with [[sms]]: its table went away
        raise PermanentDeliveryError(f"shop {shop} has no [[sms]] table (any more): not sent")
    return cfg


def sms_number(svc: Services, invoice: InvoiceRecord) -> str:
    """The customer's mobile in E.164; `NotAMobile` says why there is none."""
    cfg = sms_settings(svc, invoice.shop)
    return mobile_e164(customer_phone(svc, invoice), cfg.default_region)


def sms_skip_reason(svc: Services, invoice: InvoiceRecord) -> str | None:
    try:
        sms_number(svc, invoice)
    except NotAMobile as exc:
        return f"no text sent: {exc}"
    return None


def send_sms(
    svc: Services, invoice: InvoiceRecord, job: JobRecord, *, capped: bool = True
) -> Outcome:
    """Text the customer, for `job`: amount, number and a short link to their documents,
    once. A text an earlier run of the job sent is found first and not counted again;
    `capped`: a new text counts against the shop's daily cap (not a resend the owner asked
    for)."""
    cfg = sms_settings(svc, invoice.shop)
    try:
        to = sms_number(svc, invoice)
    except NotAMobile as exc:  # the order changed since the step's skip check read it
        return NothingToDo(f"no text sent: {exc}")
    since, known = look_back(svc, invoice, job)
    if cfg.gateway == "twilio":
        found = find_earlier_text(cfg, to, marker=invoice.number, since=since, known=known)
        if found is not None:
            return found
    if capped and not _within_daily_cap(svc, cfg, job.id):
        return NothingToDo(_cap_reached(svc, cfg, invoice))
    doc = handover_of(svc, invoice, link=_short_link(svc, invoice))
    seller = invoice.snapshot.seller
    body = sms_text(
        doc, svc.templates.env, sender_name=seller.trade_name or seller.legal_name,
        max_segments=cfg.max_segments,
    )  # fmt: skip
    if cfg.gateway == "apprise":
        return send_apprise(cfg, to, body)
    return send_twilio(cfg, to, body)


def look_back(
    svc: Services, invoice: InvoiceRecord, job: JobRecord
) -> tuple[datetime, frozenset[str]]:
    """Where a channel looks for what an earlier run of `job` handed over: from the job's
    creation less the margin for the service's clock, leaving out the ids the document's
    other deliveries on this channel recorded (the original of a resend, say)."""
    rows = [
        r for r in svc.store.deliveries_for([invoice.id])
        if r.channel == job.kind and r.job_id != job.id
    ]  # fmt: skip
    # An older delivery still under way could take this one's hand-over for its own (or
    # this one its): this one waits until it is done.
    busy = [r for r in rows if r.job_id < job.id and r.status in IN_FLIGHT]
    if busy:
        raise TransientDeliveryError(
            f"{job.kind}: an earlier delivery of {invoice.number} (job {busy[0].job_id}) is "
            "still under way; this one goes once it is done"
        )
    known = frozenset(r.external_id for r in rows if r.external_id)
    return job.created_at - CLOCK_MARGIN, known


def _short_link(svc: Services, invoice: InvoiceRecord) -> str:
    """The customer's portal (their own documents), else this PDF, shortened; "" when the
    service has no public URL or link secret."""
    links = CustomerLinks(svc.settings, svc.store)
    portal = links.portal_url_for(invoice)
    url, days = (
        (portal, svc.settings.portal.link_days)
        if portal
        else (links.document_url(invoice), svc.settings.portal.document_link_days)
    )
    return shorten(svc.store, links.base, url, invoice_id=invoice.id, valid_days=days)


def _today(svc: Services) -> str:
    return svc.store.clock().astimezone(UTC).date().isoformat()


def _within_daily_cap(svc: Services, cfg: SmsConfig, job_id: int) -> bool:
    """Count job `job_id`'s text once against the shop's UTC day (database counters every
    worker shares): the first run that gets this far counts it, whether or not the gateway
    then takes it (it may bill it); its retries that day do not count again. A text refused
    at the cap is not counted, so a retry the next day is counted then."""
    day = f"sms-cap:{cfg.shop}:{_today(svc)}"
    return svc.store.count_once(f"{day}:job:{job_id}", day, cfg.daily_cap, CAP_WINDOW)


def _cap_reached(svc: Services, cfg: SmsConfig, invoice: InvoiceRecord) -> str:
    today = _today(svc)
    why = (
        f"daily SMS cap reached: shop {cfg.shop} sent {cfg.daily_cap} texts today ({today} "
        f"UTC), {invoice.number} is not texted (its email is unaffected); raise [[sms]] "
        "daily_cap if this volume is expected, `quittance resend NUMBER --channel sms` sends "
        "one anyway"
    )
    # once a day, whatever the alerts' dedupe window: every text past the cap lands here
    if svc.store.allow_request(f"sms-cap-alert:{cfg.shop}:{today}", 1, CAP_WINDOW):
        alert_owner(
            svc, key=f"sms-cap:{cfg.shop}:{today}",
            title=f"Quittance: SMS cap reached for shop {cfg.shop}", body=why,
        )  # fmt: skip
    return why


# --------------------------------------------------------------------------- helpdesks


def helpdesk_settings(svc: Services, shop: str, kind: str) -> HelpdeskConfig:
    cfg = svc.settings.helpdesk_for(shop, kind)
    if cfg is None:
        raise PermanentDeliveryError(f"shop {shop} has no {kind} [[helpdesks]] table (any more)")
    return cfg


def add_to_helpdesk(svc: Services, invoice: InvoiceRecord, kind: str, job: JobRecord) -> Outcome:
    """The document as a note on the customer's open ticket or conversation, once for `job`
    (its earlier runs' note is looked for first)."""
    cfg = helpdesk_settings(svc, invoice.shop, kind)
    links = CustomerLinks(svc.settings, svc.store)
    # Only a reply the customer reads needs their link; an internal note has the PDF.
    link = links.portal_url_for(invoice) if cfg.public else ""
    since, known = look_back(svc, invoice, job)
    doc = handover_of(svc, invoice, link=link, since=since, known=known)
    return HELPDESKS[kind](cfg, doc)


def outcome_result(outcome: Sent) -> dict[str, object]:
    """What the step records as its result (the delivery row takes `external_id`)."""
    return {
        "external_id": outcome.external_id,
        "target": outcome.target,
        "detail": outcome.detail,
        **({"already": True} if outcome.already else {}),
    }
