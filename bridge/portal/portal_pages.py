"""The customer's documents: their portal page, a PDF from it, and a document's direct link.

A link opens only while it is signed by us, unexpired, and carries the customer's current
generation (a revocation bumps it); an expired or revoked one opens a page offering a new
link (bridge/portal/new_links.py). Every PDF handed out is logged.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote

import structlog
from fastapi import Request
from fastapi.responses import Response

from bridge.delivery.email import order_label
from bridge.failures import StepError
from bridge.portal.rendering import private
from bridge.portal.side import CustomerSide
from bridge.portal.tokens import DocumentClaim, LinkExpired, LinkInvalid, PortalClaim
from bridge.render.formatting import format_date, format_money
from bridge.store import InvoiceRecord
from bridge.store.records import CustomerRecord

log = structlog.get_logger()

LEGACY = "legacy:"  # the renew form's token for a bare-signature link: "legacy:<number>:<t>"


@dataclass(frozen=True)
class Visit:
    """Who a portal link is for, and whether it still opens."""

    customer: CustomerRecord
    claim: PortalClaim | None  # None: expired or revoked (offer a new link)


class PortalPages:
    def __init__(self, side: CustomerSide) -> None:
        self.side = side
        self.store = side.store

    def visit(self, token: str) -> Visit | None:
        signer = self.side.links.signer
        if signer is None or not self.side.links.portal_on:
            return None
        try:
            claim: PortalClaim | None = signer.read_portal(token)
        except LinkInvalid:
            return None
        except LinkExpired as exc:
            claim, customer_id = None, exc.claim.customer_id
        else:
            customer_id = claim.customer_id
        customer = self.store.customer_by_id(customer_id)
        if customer is None:
            return None
        if claim is not None and claim.generation != customer.generation:
            claim = None  # revoked since it was signed
        return Visit(customer, claim)

    def documents_page(self, request: Request, token: str, locale: str) -> Response:
        side = self.side
        visit = self.visit(token)
        if visit is None:
            return side.invalid(locale)
        documents = self.store.customer_documents(visit.customer.id)
        locale = documents[0].snapshot.locale if documents else locale
        if visit.claim is None:
            return side.expired(request, token, locale)
        return side.pages.render(
            "portal/documents.html", locale,
            documents=[_row(doc, token, locale) for doc in documents],
            expires_on=format_date(visit.claim.expires_at.date(), locale, long=True),
            request_url=f"/portal/request/{visit.customer.shop}",
        )  # fmt: skip

    def portal_download(self, request: Request, token: str, filename: str, locale: str) -> Response:
        side = self.side
        visit = self.visit(token)
        if visit is None:
            return side.invalid(locale)
        if visit.claim is None:
            return side.expired(request, token, side.locale_of(visit.customer, request))
        invoice = self.store.get_invoice(filename.removesuffix(".pdf"))
        owner = self.store.owner_of(invoice.id) if invoice is not None else None
        if invoice is None or owner is None or owner.id != visit.customer.id:
            return side.invalid(locale)
        return self.pdf(invoice, via="portal", disposition="attachment")

    def document_link(self, request: Request, filename: str, token: str, locale: str) -> Response:
        side = self.side
        number = filename.removesuffix(".pdf")
        # The signature first, from the URL alone: a stranger learns nothing of which
        # numbers exist.
        signed = self._signed_document(number, token) if filename.endswith(".pdf") else None
        if signed is None:
            return side.invalid(locale, status=403)
        invoice = self.store.get_invoice(number)
        if invoice is None:
            return side.invalid(locale)
        owner = self.store.owner_of(invoice.id)
        generation = owner.generation if owner is not None else 0
        if isinstance(signed, DocumentClaim):
            opens = not signed.expired and signed.generation == generation
        else:
            opens = side.links.legacy_link_opens(owner)  # its signature checked above
        if not opens:
            renew = token if "." in token else f"{LEGACY}{number}:{token}"
            return side.expired(request, renew, invoice.snapshot.locale)
        return self.pdf(invoice, via="link", disposition="inline")

    def _signed_document(self, number: str, token: str) -> DocumentClaim | bool | None:
        """The claim of a signed link to `number` (expired ones too), True for a valid bare
        signature of before, None for anything else."""
        signer = self.side.links.signer
        if signer is None or not token:
            return None
        if "." not in token:
            return True if self.side.links.legacy_link_valid(number, token) else None
        try:
            return signer.read_document(token, number)
        except LinkExpired as exc:
            return replace(exc.claim, expired=True)
        except LinkInvalid:
            return None

    def pdf(self, invoice: InvoiceRecord, *, via: str, disposition: str) -> Response:
        from bridge.pipeline import ensure_pdf  # the pipeline imports the portal's actions

        try:
            data = ensure_pdf(self.side.services, invoice)
        except StepError as exc:  # e.g. a template override that drops a mention: retry later
            log.warning("invoice download not ready", invoice=invoice.number, err=str(exc))
            return private(Response("invoice not available yet", status_code=503))
        self.store.record_download(invoice.id, via=via)
        filename = invoice.number.replace("/", "_") + ".pdf"
        return private(
            Response(
                data,
                media_type="application/pdf",
                headers={"Content-Disposition": f'{disposition}; filename="{filename}"'},
            )
        )


def _row(doc: InvoiceRecord, token: str, locale: str) -> dict[str, Any]:
    snapshot = doc.snapshot
    return {
        "number": doc.number,
        "is_credit_note": doc.kind == "credit_note",
        "issue_date": format_date(snapshot.issue_date, locale),
        "amount": format_money(snapshot.totals.total_incl, snapshot.currency, locale),
        "order_label": order_label(snapshot.order.reference, locale),
        "download_url": f"/portal/{token}/documents/{quote(doc.number, safe='')}.pdf",
    }
