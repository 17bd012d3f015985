"""The survey page: a link of the receipt opens it with the choice preselected; only the
customer's submit records an answer.

Mail scanners and link previews fetch every link of an email, so a GET never records
anything: the answer is a POST with a CSRF pair (a cookie the page set and the signed value in
its form), which a scanner replaying links does not have. One answer per invoice, changeable
for `[[surveys]] change_days` after the first; a score in the bottom two tells the owner
through a durable job queued with the answer.
"""

from __future__ import annotations

from datetime import timedelta

from fastapi import Request
from fastapi.responses import Response

from bridge.config.portal import SurveyConfig
from bridge.delivery.email import order_label
from bridge.portal.actions import survey_wording
from bridge.portal.plain_text import plain_line
from bridge.portal.side import CustomerSide
from bridge.portal.tokens import LinkExpired, LinkInvalid
from bridge.render.formatting import format_date
from bridge.store import InvoiceRecord
from bridge.store.portal import LOCKED, RECORDED
from bridge.store.records import SurveyRecord

COMMENT_MAX = 2000  # characters kept of a comment (a paragraph or two)


class SurveyPages:
    def __init__(self, side: CustomerSide) -> None:
        self.side = side
        self.store = side.store
        self.pages = side.pages

    def form(self, request: Request, token: str, score: str, locale: str) -> Response:
        opened = self._open(token, locale)
        if isinstance(opened, Response):
            return opened
        invoice, survey, config = opened
        chosen = _score(score, survey.scale) or survey.score
        return self._form(request, token, invoice, survey, config, chosen, survey.comment, 200)

    def submit(
        self, request: Request, token: str, score: str, comment: str, csrf: str, locale: str
    ) -> Response:
        opened = self._open(token, locale)
        if isinstance(opened, Response):
            return opened
        invoice, survey, config = opened
        chosen = _score(score, survey.scale)
        text = clean_comment(comment)
        trusted = self.pages.csrf_ok(request, csrf) and _same_origin(self.side, request)
        if chosen is None or not trusted:
            # no answer recorded: the same form again, the customer's choice kept
            return self._form(request, token, invoice, survey, config, chosen, text, 400)
        outcome = self.store.answer_survey(
            invoice.id, chosen, text or None, change_days=config.change_days,
            comment_days=config.comment_days,
        )  # fmt: skip
        if outcome == LOCKED:
            return self._closed(invoice.id, "locked", invoice.snapshot.locale)
        answered = self.store.survey(invoice.id) or survey
        locale = invoice.snapshot.locale
        _, labels = survey_wording(config, locale, survey.scale)
        return self.pages.render(
            "survey/thanks.html", locale, label=labels[chosen - 1],
            changed=outcome != RECORDED, change_until=_change_until(answered, config, locale),
            portal_url=self._documents_url(invoice),
        )  # fmt: skip

    def _open(
        self, token: str, locale: str
    ) -> Response | tuple[InvoiceRecord, SurveyRecord, SurveyConfig]:
        """The invoice and survey a token opens, or the page saying why not."""
        signer = self.side.links.signer
        if signer is None:
            return self.side.invalid(locale)
        try:
            claim = signer.read_survey(token)
        except LinkInvalid:
            return self.side.invalid(locale)
        except LinkExpired as exc:
            return self._closed(exc.claim.invoice_id, "expired", locale)
        invoice = self.store.get_invoice_by_id(claim.invoice_id)
        if invoice is None:
            return self.side.invalid(locale)
        config = self.side.settings.survey_for(invoice.shop)
        survey = self.store.survey(invoice.id)
        if survey is None and config.enabled:  # the email went out, its invitation was lost
            self.store.invite_survey(invoice.id, invoice.shop, claim.scale or config.scale)
            survey = self.store.survey(invoice.id)
        if survey is None:
            return self.side.invalid(locale)
        if self._locked(survey, config):
            return self._closed(invoice.id, "locked", invoice.snapshot.locale)
        return invoice, survey, config

    def _locked(self, survey: SurveyRecord, config: SurveyConfig) -> bool:
        first = survey.first_answered_at
        return first is not None and self.store.clock() > first + timedelta(days=config.change_days)

    def _form(
        self, request: Request, token: str, invoice: InvoiceRecord, survey: SurveyRecord,
        config: SurveyConfig, chosen: int | None, comment: str | None, status: int,
    ) -> Response:  # fmt: skip
        locale = invoice.snapshot.locale
        # the scale the customer was asked on, even if the owner changed it since
        question, labels = survey_wording(config, locale, survey.scale)
        choices = [
            {"score": n, "label": labels[n - 1], "checked": n == chosen}
            for n in range(1, survey.scale + 1)
        ]
        return self.pages.form(
            request, "survey/form.html", locale, status=status, action=f"/survey/{token}",
            question=question, choices=choices, comment=comment or "", number=invoice.number,
            order_label=order_label(invoice.snapshot.order.reference, locale),
            answered=survey.score is not None,
            change_until=_change_until(survey, config, locale),
        )  # fmt: skip

    def _closed(self, invoice_id: int, reason: str, locale: str) -> Response:
        invoice = self.store.get_invoice_by_id(invoice_id)
        locale = invoice.snapshot.locale if invoice is not None else locale
        return self.pages.render(
            "survey/closed.html", locale, status=410, reason=reason,
            portal_url=self._documents_url(invoice),
        )  # fmt: skip

    def _documents_url(self, invoice: InvoiceRecord | None) -> str:
        """Where to find one's documents: the form that emails a portal link to the address
        on file. Never a portal link itself: a survey link outlives the customer's revocation
        and its own expiry (the closed page), so it must open nothing more."""
        if invoice is None or not self.side.serves(invoice.shop):
            return ""
        return f"/portal/request/{invoice.shop}"


def clean_comment(comment: str) -> str:
    return plain_line(comment, COMMENT_MAX)


def _score(text: str, scale: int) -> int | None:
    return int(text) if text.isdigit() and 1 <= int(text) <= scale else None


def _change_until(survey: SurveyRecord, config: SurveyConfig, locale: str) -> str:
    if survey.first_answered_at is None:
        return ""
    last = survey.first_answered_at + timedelta(days=config.change_days)
    return format_date(last.date(), locale, long=True)


def _same_origin(side: CustomerSide, request: Request) -> bool:
    """A browser names the site a form came from; another site's is refused (defence in
    depth beside the CSRF pair). No Origin, or "null" (what a browser sends from our own
    pages, which are served with `Referrer-Policy: no-referrer`): the pair decides."""
    origin = request.headers.get("origin", "")
    base = side.settings.server.public_url.rstrip("/")
    if origin in ("", "null") or not base:
        return True
    return origin.rstrip("/") == _origin_of(base) or origin == _origin_of(str(request.base_url))


def _origin_of(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"
