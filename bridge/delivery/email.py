"""The receipt email: build it from an invoice snapshot, send it over SMTP.

`build_receipt_email` is pure (templates + snapshot -> `EmailMessage`); `send_email` does the
I/O with short in-process retries of transient failures. Durable retries (minutes, hours) are
the job queue's business: after the quick attempts a `TransientDeliveryError` propagates.

Templates (Jinja2) live in `templates/email/` — `receipt.<locale>.subject.txt`,
`receipt.<locale>.txt`, `receipt.<locale>.html` (extending `base.html`), locale fr and en. A
shop overrides any of them by putting a file with the same relative path
(`email/receipt.fr.html`) in its templates directory; missing files fall back to ours. The
HTML part gets its CSS inlined (css-inline), so a `<style>` block in a template is fine: mail
clients see `style=""` attributes.
"""

from __future__ import annotations

import re
import smtplib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, make_msgid
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import css_inline
import jinja2
import structlog

from bridge.delivery.errors import (
    DeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
    as_delivery_error,
)
from bridge.delivery.secrets import reveal
from bridge.delivery.smtp import SmtpSettings, smtp_session
from bridge.failures import HandoverRefused
from bridge.handover import check_before_handover
from bridge.invoicing.payment_labels import is_free_order_label
from bridge.invoicing.snapshot import DocumentKind, InvoiceSnapshot
from bridge.quick_retry import quick_retries
from bridge.render.formatting import format_date, format_money
from bridge.render.templates import TemplateCheckError, Templates
from bridge.render.view import refund_sentence

LOCALES = ("fr", "en")
DEFAULT_QUICK_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class SurveyInvite:
    """The satisfaction question of a receipt: each choice is a link to `url` with
    `score=<n>` added (or `{score}` replaced), which opens a page where the customer confirms
    (a click alone records nothing: mail scanners click every link)."""

    url: str
    question: str
    labels: Sequence[str]  # worst first; score n is labels[n - 1]
    scale: int = 3


# Greeting heuristics: a leading civility keeps the whole name ("Mme Dupont"); a legal-form
# word means the name is a company's, so the greeting stays neutral.
_TITLE_WORDS = "m m. mr mr. mrs mrs. ms ms. mme mme. mlle mlle. dr dr. pr pr. me me. miss mx mx."
_COMPANY_WORDS_TEXT = """sarl sas sasu sa eurl sci snc scop scm selarl gie association société
    societe mairie commune ltd ltd. llc inc inc. gmbh bv nv plc sl srl spa ag ug company corp"""
_TITLES = frozenset(_TITLE_WORDS.split())
_COMPANY_WORDS = frozenset(_COMPANY_WORDS_TEXT.split())


class EmailSettings(SmtpSettings, Protocol):
    """What this module reads from `Settings.email` (any object with these attributes): the
    SMTP connection (`SmtpSettings`) plus the sender; `bcc` is an address, a comma-separated
    list or a sequence of addresses ("" / None for none).
    """

    from_address: str
    from_name: str
    reply_to: str | None
    bcc: Any


def _log() -> Any:
    return structlog.get_logger()


# --------------------------------------------------------------------------- templates


@lru_cache(maxsize=16)
def _templates_for(override_dir: Path | None) -> Templates:
    return Templates(override_dir)


def _environment(templates: Templates | Path | str | None) -> jinja2.Environment:
    """The Jinja2 environment: ours, with a shop's override directory in front of it if any.

    Accepts a `bridge.render.Templates` (its environment is reused), an override directory,
    or None (our templates only).
    """
    if isinstance(templates, Templates):
        return templates.env
    try:
        return _templates_for(Path(templates) if templates is not None else None).env
    except TemplateCheckError as exc:  # a broken override will not fix itself: owner must look
        raise PermanentDeliveryError(f"email templates: {exc}") from exc


_INLINER = css_inline.CSSInliner(keep_style_tags=False, load_remote_stylesheets=False)


# --------------------------------------------------------------------------- personalisation


def _nice_case(word: str) -> str:
    if word.islower() or word.isupper():
        return "-".join(part[:1].upper() + part[1:].lower() for part in word.split("-"))
    return word


def _norm(text: str) -> str:
    return " ".join(text.casefold().split())


def greeting_name(snapshot: InvoiceSnapshot) -> str:
    """How to address the customer: "Marie", "Mme Dupont", or "" for a neutral greeting.

    A company buyer is addressed by its contact person's first name when there is one (a
    `name` that is not the company's own name); otherwise neutrally.
    """
    buyer = snapshot.buyer
    name = " ".join(buyer.name.split())
    if not name:
        return ""
    if buyer.company and _norm(name) == _norm(buyer.company):
        return ""
    words = name.split(" ")
    lowered = {w.casefold().strip(",") for w in words}
    if (buyer.is_business or buyer.company) and lowered & _COMPANY_WORDS:
        return ""
    if lowered & _COMPANY_WORDS and len(words) > 1:
        return ""
    if words[0].casefold() in _TITLES:
        if len(words) == 1:
            return ""
        return " ".join([words[0], *(_nice_case(w) for w in words[1:])])
    first = words[0].strip(",;")
    if not any(ch.isalpha() for ch in first):
        return ""
    return _nice_case(first)


def _survey_links(survey: SurveyInvite | None) -> list[dict[str, Any]]:
    if survey is None or not survey.url:
        return []
    links = []
    for score in range(len(survey.labels), 0, -1):  # best first, as people read
        if "{score}" in survey.url:
            url = survey.url.replace("{score}", str(score))
        else:
            parts = urlsplit(survey.url)
            query = [*parse_qsl(parts.query, keep_blank_values=True), ("score", str(score))]
            url = urlunsplit(parts._replace(query=urlencode(query)))
        links.append({"score": score, "label": survey.labels[score - 1], "url": url})
    return links


def _default_contact(snapshot: InvoiceSnapshot, email_cfg: EmailSettings) -> str:
    seller = snapshot.seller
    email = seller.email or (email_cfg.reply_to or "") or email_cfg.from_address
    parts = [p for p in (email, seller.phone) if p]
    return " — ".join(parts)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _domain(address: str) -> str:
    return address.rpartition("@")[2].strip().strip(">").lower()


def email_address(display_name: str, addr: str, what: str) -> Address:
    """`addr` as a header address; PermanentDeliveryError naming `what` when it is unusable."""
    addr = addr.strip()
    if not addr or "@" not in addr or any(c in addr for c in "\r\n\t ,;<>"):
        raise PermanentDeliveryError(f"{what} address is missing or invalid")
    local, _, domain = addr.rpartition("@")
    try:
        return Address(display_name=_one_line(display_name), username=local, domain=domain)
    except (ValueError, TypeError, IndexError) as exc:
        raise PermanentDeliveryError(f"{what} address is invalid: {exc}") from None


def _color(value: str) -> str:
    return value if re.fullmatch(r"#[0-9A-Fa-f]{3,8}", value or "") else "#1f3a5f"


def order_label(reference: str, locale: str) -> str:
    """'n° 1042' / '#1042' for a bare number, the reference itself otherwise."""
    reference = reference.strip()
    if reference[:1].isdigit():
        return f"n°\u00a0{reference}" if locale == "fr" else f"#{reference}"
    return reference


def attachment_name(number: str) -> str:
    """The PDF's file name: the number with anything a mail client might mangle replaced."""
    return re.sub(r"[^A-Za-z0-9+_.-]", "-", number) + ".pdf"


# --------------------------------------------------------------------------- build


def build_receipt_email(
    snapshot: InvoiceSnapshot,
    pdf_bytes: bytes,
    email_cfg: EmailSettings,
    templates: Templates | Path | None = None,
    *,
    shop_contact: str = "",
    invoices_url: str = "",
    document_url: str = "",
    survey: SurveyInvite | None = None,
    templates_dir: Path | None = None,
) -> EmailMessage:
    """The customer's email: text + HTML alternatives, the PDF attached as `<number>.pdf`.

    `templates` (a `bridge.render.Templates` or a directory) or `templates_dir` point to a
    shop's override directory (same layout as our `templates/`: `email/receipt.fr.html`, ...).
    `shop_contact` defaults to the seller's email (and phone). `invoices_url` (the customer's
    portal), else `document_url` (this PDF), and `survey` add their links when given.

    Raises `PermanentDeliveryError` when the buyer has no usable email address.
    """
    locale = snapshot.locale if snapshot.locale in LOCALES else "en"
    seller = snapshot.seller
    buyer = snapshot.buyer
    shop_name = seller.trade_name or seller.legal_name
    first_name = greeting_name(snapshot)
    totals = snapshot.totals
    is_credit_note = snapshot.kind == DocumentKind.credit_note
    # The sentence says "an avoir of 12,50 €": the amount credited, positive (the PDF signs it).
    amount = abs(totals.total_incl) if is_credit_note else totals.total_incl
    credited_on = snapshot.credited_issue_date if is_credit_note else None

    context = {
        "locale": locale,
        "snapshot": snapshot,
        "seller": seller,
        "buyer": buyer,
        "shop_name": shop_name,
        "first_name": first_name,
        "number": snapshot.number,
        "is_credit_note": is_credit_note,
        "credited_number": snapshot.credited_number,
        "credited_issue_date": format_date(credited_on, locale, long=True) if credited_on else "",
        "credit_reason": snapshot.credit_reason.strip() if is_credit_note else "",
        # the PDF's own sentence, "" when nothing was paid back (a correction, not a refund)
        "refund_text": (
            refund_sentence(snapshot.payment, locale)
            if is_credit_note and totals.amount_paid
            else ""
        ),
        "order_reference": snapshot.order.reference,
        "order_label": order_label(snapshot.order.reference, locale),
        "amount": format_money(amount, snapshot.currency, locale),
        "paid_on": format_date(snapshot.payment.paid_on, locale, long=True),
        "payment_method": snapshot.payment.method_label,
        "free_order": is_free_order_label(snapshot.payment.method_label),
        "issue_date": format_date(snapshot.issue_date, locale, long=True),
        "shop_contact": shop_contact or _default_contact(snapshot, email_cfg),
        "invoices_url": invoices_url,
        "document_url": document_url,
        "survey_question": survey.question if survey is not None else "",
        "survey_links": _survey_links(survey),
        "brand_color": _color(seller.brand_color),
        "website": seller.website,
    }

    env = _environment(templates_dir if templates_dir is not None else templates)
    return compose_email(
        env, "receipt", locale, context, email_cfg,
        to=email_address(buyer.name or buyer.company, buyer.email, "buyer email"),
        sender_name=shop_name, pdfs=[(pdf_bytes, attachment_name(snapshot.number))],
    )  # fmt: skip


def compose_email(
    env: jinja2.Environment,
    template: str,
    locale: str,
    context: dict[str, Any],
    email_cfg: EmailSettings,
    *,
    to: Address,
    sender_name: str,
    pdfs: Sequence[tuple[bytes, str]] = (),
) -> EmailMessage:
    """`email/<template>.<locale>.{subject.txt,txt,html}` rendered into a text + HTML message
    from the shop to `to`, with `pdfs` ((content, file name)) attached."""
    sender = email_address(
        email_cfg.from_name or sender_name, email_cfg.from_address, "from_address"
    )
    reply_to = email_address(
        email_cfg.from_name or sender_name,
        email_cfg.reply_to or email_cfg.from_address,
        "reply_to",
    )
    try:
        name = f"email/{template}.{locale}"
        subject = _one_line(env.get_template(f"{name}.subject.txt").render(context))
        text = env.get_template(f"{name}.txt").render(context)
        html = env.get_template(f"{name}.html").render(context)
    except jinja2.TemplateError as exc:
        # a broken override template will not fix itself: the owner must look
        raise PermanentDeliveryError(f"email template error: {exc}") from exc
    html = _INLINER.inline(html)

    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = sender
    message["To"] = to
    message["Reply-To"] = reply_to
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = make_msgid(domain=sender.domain)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation-reply loops
    message.set_content(text, subtype="plain", charset="utf-8")
    message.add_alternative(html, subtype="html", charset="utf-8")
    for content, filename in pdfs:
        message.add_attachment(content, maintype="application", subtype="pdf", filename=filename)
    # after the body: set_content / add_attachment move Content-* headers into the parts
    message["Content-Language"] = locale
    return message


# --------------------------------------------------------------------------- send


def _bcc_list(bcc: Any) -> list[str]:
    if not bcc:
        return []
    items: Iterable[str] = [bcc] if isinstance(bcc, str) else bcc
    return [addr for _, addr in getaddresses([str(b) for b in items]) if addr]


def _envelope_recipients(message: EmailMessage) -> list[str]:
    fields = [str(v) for key in ("To", "Cc") for v in message.get_all(key, [])]
    return [addr for _, addr in getaddresses(fields) if addr]


def _send_once(
    message: EmailMessage, email_cfg: EmailSettings, recipients: Sequence[str], bcc: Sequence[str]
) -> None:
    with smtp_session(email_cfg) as smtp:
        del message["Bcc"]  # never a visible header: the archive copy is envelope-only
        # Connected and logged in: only now is the lease checked, so what follows (a few
        # replies, each within `timeout`) is all that must fit in it.
        check_before_handover()
        refused = smtp.send_message(
            message, from_addr=email_cfg.from_address, to_addrs=[*recipients, *bcc]
        )
    if refused:
        customer = {r: v for r, v in refused.items() if r in recipients}
        if customer:
            raise smtplib.SMTPRecipientsRefused(customer)
        _log().warning(
            "email.bcc_refused",
            host=email_cfg.host,
            port=int(email_cfg.port),
            bcc_domains=sorted({_domain(r) for r in refused}),
            codes=sorted({code for code, _ in refused.values()}),
        )


def send_email(
    message: EmailMessage,
    email_cfg: EmailSettings,
    *,
    attempts: int = DEFAULT_QUICK_ATTEMPTS,
    wait_initial: float = 0.5,
    wait_max: float = 5.0,
) -> str:
    """Send `message` (To/Cc from its headers, plus `email_cfg.bcc` in the envelope only).

    Returns the message's Message-ID (set here if the message has none). Transient failures
    are retried `attempts` times in all, waiting `wait_initial`, 2x, 4x... (at most `wait_max`)
    seconds; then `TransientDeliveryError` is raised. Permanent ones raise
    `PermanentDeliveryError` at once. The password never appears in logs or error messages.
    """
    if not email_cfg.host:
        raise PermanentDeliveryError("email is not configured (email.host is empty)")
    if not message["Message-ID"]:
        message["Message-ID"] = make_msgid(domain=_domain(email_cfg.from_address) or None)
    message_id = str(message["Message-ID"])
    recipients = _envelope_recipients(message)
    if not recipients:
        raise PermanentDeliveryError("the message has no recipient")
    bcc = [b for b in _bcc_list(email_cfg.bcc) if b not in recipients]
    secrets = [reveal(email_cfg.password)]
    where = f"{email_cfg.host}:{email_cfg.port}"
    log_fields = {
        "host": email_cfg.host,
        "port": int(email_cfg.port),
        "recipient_domain": ",".join(sorted({_domain(r) for r in recipients})),
    }

    def attempt() -> None:
        error: DeliveryError
        try:
            _send_once(message, email_cfg, recipients, bcc)
            return
        except HandoverRefused:
            raise  # not the server's answer: nothing was sent
        except Exception as exc:
            error = as_delivery_error(exc, secrets=secrets, context=where)
        raise error  # outside the except block: the raw exception is not chained implicitly

    def log_retry(exc: BaseException | None, wait: float, attempt: int) -> None:
        _log().warning(
            "email.retry",
            attempt=attempt,
            error=type(exc).__name__ if exc else None,
            smtp_code=getattr(exc, "smtp_code", None),
            **log_fields,
        )

    retrying = quick_retries(
        attempts=attempts, initial=wait_initial, maximum=wait_max,
        retry_on=TransientDeliveryError, on_retry=log_retry,
    )  # fmt: skip
    try:
        retrying(attempt)
    except DeliveryError as exc:
        _log().warning(
            "email.failed",
            error=type(exc).__name__,
            smtp_code=exc.smtp_code,
            unexpected=exc.unexpected,
            reason=str(exc),
            **log_fields,
        )
        raise
    _log().info("email.sent", message_id=message_id, bcc=bool(bcc), **log_fields)
    return message_id
