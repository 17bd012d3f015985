"""The text of the receipt SMS: `sms/receipt.<locale>.txt` rendered for one document, made to
fit the segments the shop pays for.

The template (ours, or the shop's own in its templates folder) gets the shop's name, the
document's number and kind, the amount as the customer reads it ("42,00 €"), the order and
the link. Whitespace collapses to single spaces, so the template can be laid out on lines.

A text is billed per segment (`bridge.delivery.sms.length`): when it needs more than
`[[sms]] max_segments`, the shop-name prefix goes first (a name with an accent outside GSM-7
alone can turn a 160-character text into a 70-character one); still too long, the document
is not sent and the owner is told which template to shorten.
"""

from __future__ import annotations

from typing import Any

import jinja2

from bridge.delivery.channel import Handover
from bridge.delivery.errors import PermanentDeliveryError
from bridge.delivery.sms.length import SmsLength, measure
from bridge.render.formatting import format_money

LOCALES = ("fr", "en")


def template_name(locale: str) -> str:
    return f"sms/receipt.{locale if locale in LOCALES else 'en'}.txt"


def order_label(reference: str, locale: str) -> str:
    """'#1042' (en) for a bare number, the reference as it is otherwise. French gets no "n°":
    the degree sign is outside GSM-7 and would cost more than half the text's room."""
    reference = reference.strip()
    if locale == "en" and reference[:1].isdigit():
        return f"#{reference}"
    return reference


def _context(doc: Handover, locale: str, shop_name: str) -> dict[str, Any]:
    return {
        "locale": locale,
        "shop_name": " ".join(shop_name.split()),
        "number": doc.number,
        "kind": doc.kind,
        "is_credit_note": doc.is_credit_note,
        "amount": format_money(doc.amount, doc.currency, locale),
        "order_reference": doc.order_reference,
        "order": order_label(doc.order_reference, locale),
        "customer_name": doc.customer_name,
        "link": doc.link,
    }


def _render(template: jinja2.Template, name: str, context: dict[str, Any]) -> str:
    try:
        text = template.render(context)
    except jinja2.TemplateError as exc:
        # a broken override template will not fix itself: the owner must look
        raise PermanentDeliveryError(f"{name}: template error: {exc}") from exc
    # str.split() also splits on the no-break spaces format_money puts in "42,00 €": U+00A0
    # is outside GSM-7 and would send the whole text in UCS-2.
    return " ".join(text.split())


def _load(env: jinja2.Environment, name: str) -> jinja2.Template:
    try:
        return env.get_template(name)
    except jinja2.TemplateError as exc:
        raise PermanentDeliveryError(f"{name}: template error: {exc}") from exc


def _too_long(name: str, length: SmsLength, max_segments: int, shop: str) -> str:
    return (
        f"{name} renders {length.segments} segments ({length.encoding}, {length.units} "
        f"units) > max_segments {max_segments}: shorten the template or raise [[sms]] "
        f"max_segments of shop {shop}"
    )


def sms_text(doc: Handover, env: jinja2.Environment, *, sender_name: str, max_segments: int) -> str:
    """The text to send for `doc`, at most `max_segments` long; `PermanentDeliveryError` when
    the template cannot make one (broken, empty, too long, or without the document number)."""
    locale = doc.locale if doc.locale in LOCALES else "en"
    name = template_name(locale)
    template = _load(env, name)
    text = _render(template, name, _context(doc, locale, sender_name))
    if measure(text).segments > max_segments and sender_name.strip():
        text = _render(template, name, _context(doc, locale, ""))
    length = measure(text)
    if length.segments == 0:
        raise PermanentDeliveryError(f"{name} renders an empty text for {doc.number}")
    if length.segments > max_segments:
        raise PermanentDeliveryError(_too_long(name, length, max_segments, doc.shop))
    if doc.number not in text:
        # An earlier attempt's text is recognised by the number in it: without it, a retry
        # after a timeout could text the customer twice.
        raise PermanentDeliveryError(f"{name} must print the document number ({{{{ number }}}})")
    return text
