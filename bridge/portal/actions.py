"""What the customer's side does beyond answering pages: ask for an opinion in a receipt,
send a fresh portal link, tell the owner of an unhappy customer. The last two run as durable
jobs (bridge/steps.py: "portal_link", "survey_alert"), so a page never waits on SMTP and a
crash loses nothing."""

from __future__ import annotations

import hashlib

from bridge.config.portal import SurveyConfig
from bridge.delivery.email import (
    SurveyInvite,
    compose_email,
    email_address,
    greeting_name,
    send_email,
)
from bridge.failures import PermanentStepError
from bridge.portal.links import CustomerLinks
from bridge.portal.plain_text import plain_line
from bridge.portal.wording import LOCALES, default_survey_labels, default_survey_question
from bridge.services import Services, alert_owner
from bridge.store import InvoiceRecord


def survey_wording(config: SurveyConfig, locale: str, scale: int) -> tuple[str, list[str]]:
    """(question, labels worst first) in `locale` for a `scale`-point question: the owner's,
    else ours (the owner's labels only while they fit the scale the customer was asked on)."""
    locale = locale if locale in LOCALES else "en"
    question = config.question_fr if locale == "fr" else config.question_en
    labels = config.labels_fr if locale == "fr" else config.labels_en
    if len(labels) != scale:
        labels = default_survey_labels(scale, locale)
    return question or default_survey_question(locale), list(labels)


def survey_invite(svc: Services, invoice: InvoiceRecord) -> SurveyInvite | None:
    """The question for the invoice's receipt, recorded as asked; None when the shop does not
    ask, for a credit note (a refund is not the moment), or without public links."""
    config = svc.settings.survey_for(invoice.shop)
    if not config.enabled or invoice.kind != "invoice":
        return None
    url = CustomerLinks(svc.settings, svc.store).survey_url(invoice)
    if not url:
        return None
    question, labels = survey_wording(config, invoice.snapshot.locale, config.scale)
    return SurveyInvite(url=url, question=question, labels=labels, scale=config.scale)


def record_invitation(svc: Services, invoice: InvoiceRecord, survey: SurveyInvite) -> None:
    """The receipt that asked went out: count it as asked (the response rate's base)."""
    svc.store.invite_survey(invoice.id, invoice.shop, survey.scale)


def send_portal_link(svc: Services, customer_id: int, days: int) -> dict[str, object]:
    """Email the customer a fresh portal link, valid `days`, to the address on file."""
    customer = svc.store.customer_by_id(customer_id)
    if customer is None:
        raise PermanentStepError(f"customer {customer_id} is not in the database")
    links = CustomerLinks(svc.settings, svc.store)
    url = links.portal_url(customer, days=days)
    if not url:
        raise PermanentStepError(
            "the portal is off or has no public URL: set [server] public_url and link_secret"
        )
    document = svc.store.latest_customer_document(customer.id)
    latest = document.snapshot if document is not None else None
    locale = latest.locale if latest is not None and latest.locale in LOCALES else "fr"
    seller = latest.seller if latest is not None else svc.settings.seller
    shop_name = seller.trade_name or seller.legal_name
    context = {
        "locale": locale, "shop_name": shop_name, "portal_url": url, "valid_days": days,
        "first_name": greeting_name(latest) if latest is not None else "",
        "website": seller.website, "seller": seller, "brand_color": seller.brand_color,
    }  # fmt: skip
    message = compose_email(
        svc.templates.env, "portal_link", locale, context, svc.settings.email,
        to=email_address("", customer.email, "the customer's address on file"),
        sender_name=shop_name,
    )  # fmt: skip
    message_id = send_email(
        message, svc.settings.email, attempts=1 + svc.settings.jobs.quick_retries
    )
    svc.store.append_event(
        "portal.link_sent", shop=customer.shop, detail={"customer_id": customer.id, "days": days}
    )
    return {"message_id": message_id}


def alert_low_score(svc: Services, invoice_id: int, score: int) -> dict[str, object]:
    """Tell the owner a customer answered `score` (in the bottom two), with the order and
    comment; nothing when the customer has changed their answer since."""
    invoice = svc.store.get_invoice_by_id(invoice_id)
    survey = svc.store.survey(invoice_id)
    if invoice is None or survey is None:
        raise PermanentStepError(f"no survey for invoice id {invoice_id}")
    if survey.score != score:
        return {"alerted": False, "reason": f"answer changed to {survey.score} since"}
    snapshot = invoice.snapshot
    who = plain_line(snapshot.buyer.name or snapshot.buyer.company or snapshot.buyer.email, 200)
    comment = survey.comment or ""
    digest = hashlib.sha256(comment.encode()).hexdigest()[:16]
    sent = alert_owner(
        svc,
        # the same answer sent again is one alert per [alerts] dedupe window
        key=f"survey:{invoice_id}:{score}:{digest}",
        title=f"Quittance: an unhappy customer ({score}/{survey.scale}) on {invoice.number}",
        body=f"Shop {invoice.shop}, order {snapshot.order.reference or invoice.order_id}, "
        f"invoice {invoice.number}, customer {who}: {score}/{survey.scale}.\n"
        f"Comment: {survey.comment or '(no comment)'}\n"
        f"`quittance stats --shop {invoice.shop}` lists every answer.",
    )
    return {"alerted": sent}
