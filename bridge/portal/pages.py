"""The customer's pages on the public port: their documents, a PDF, a new link.

A link opens only while it is signed by us, unexpired, and carries the customer's current
generation (a revocation bumps it). An expired or revoked link opens a page offering a fresh
one, sent to the address on file only; the "send me a link" form answers the same whatever the
address. Every page is rate-limited per client address in the database (all replicas count
together), and every PDF handed out is logged.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from hashlib import sha256
from typing import Any
from urllib.parse import quote

import structlog
from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from bridge.delivery.email import order_label
from bridge.failures import StepError
from bridge.portal.links import CustomerLinks
from bridge.portal.rendering import Pages, pick_locale, private
from bridge.portal.tokens import DocumentClaim, LinkExpired, LinkInvalid, PortalClaim
from bridge.portal.wording import PAGE_WORDING
from bridge.render.formatting import format_date, format_money
from bridge.services import Services
from bridge.store import InvoiceRecord
from bridge.store.records import CustomerRecord

log = structlog.get_logger()

LEGACY = "legacy:"  # the renew form's token for a bare-signature link: "legacy:<number>:<t>"


@dataclass(frozen=True)
class Visit:
    """Who a portal link is for, and whether it still opens."""

    customer: CustomerRecord
    claim: PortalClaim | None  # None: expired or revoked (offer a new link)


class CustomerSide:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.settings = services.settings
        self.store = services.store
        self.links = CustomerLinks(services.settings, services.store)
        self.pages = Pages(services, self.links.signer)

    # -- common ----------------------------------------------------------------------------

    def too_many(self, request: Request, locale: str) -> Response | None:
        """The 429 page once the client address is over `[portal] requests_per_minute`."""
        client = request.client.host if request.client else "unknown"
        limit = self.settings.portal.requests_per_minute
        if self.store.allow_request(f"page:{client}", limit, timedelta(minutes=1)):
            return None
        log.info("customer page rate-limited", client_hash=_digest(client))
        page = self.pages.render("portal/slow_down.html", locale, status=429, retry_minutes=1)
        page.headers["Retry-After"] = "60"
        return page

    def invalid(self, locale: str, status: int = 404) -> Response:
        return self.pages.render("portal/invalid.html", locale, status=status)

    def default_locale(self, request: Request) -> str:
        return pick_locale(request, self.settings.seller.default_locale)

    def locale_of(self, customer: CustomerRecord, request: Request) -> str:
        """The language of the customer's latest document."""
        documents = self.store.customer_documents(customer.id)
        return documents[0].snapshot.locale if documents else self.default_locale(request)

    def expired(self, token: str, locale: str) -> Response:
        return self.pages.form(
            "portal/expired.html", locale, status=410, renew_action="/portal/renew", token=token
        )

    # -- the portal ------------------------------------------------------------------------

    def visit(self, token: str) -> Visit | None:
        signer = self.links.signer
        if signer is None or not self.links.portal_on:
            return None
        try:
            claim: PortalClaim | None = signer.read_portal(token)
        except LinkInvalid:
            return None
        except LinkExpired as exc:
            claim = None
            customer_id = exc.claim.customer_id
        else:
            customer_id = claim.customer_id
        customer = self.store.customer_by_id(customer_id)
        if customer is None:
            return None
        if claim is not None and claim.generation != customer.generation:
            claim = None  # revoked since it was signed
        return Visit(customer, claim)

    def documents_page(self, request: Request, token: str) -> Response:
        locale = self.default_locale(request)
        slow = self.too_many(request, locale)
        if slow is not None:
            return slow
        visit = self.visit(token)
        if visit is None:
            return self.invalid(locale)
        locale = self.locale_of(visit.customer, request)
        if visit.claim is None:
            return self.expired(token, locale)
        documents = self.store.customer_documents(visit.customer.id)
        rows = [self._row(doc, token, locale) for doc in documents]
        return self.pages.render(
            "portal/documents.html", locale, documents=rows,
            expires_on=format_date(visit.claim.expires_at.date(), locale, long=True),
            request_url=f"/portal/request/{visit.customer.shop}",
        )  # fmt: skip

    def _row(self, doc: InvoiceRecord, token: str, locale: str) -> dict[str, Any]:
        snapshot = doc.snapshot
        return {
            "number": doc.number,
            "is_credit_note": doc.kind == "credit_note",
            "issue_date": format_date(snapshot.issue_date, locale),
            "amount": format_money(snapshot.totals.total_incl, snapshot.currency, locale),
            "order_label": order_label(snapshot.order.reference, locale),
            "download_url": f"/portal/{token}/documents/{quote(doc.number, safe='')}.pdf",
        }

    def portal_download(self, request: Request, token: str, filename: str) -> Response:
        locale = self.default_locale(request)
        slow = self.too_many(request, locale)
        if slow is not None:
            return slow
        visit = self.visit(token)
        if visit is None:
            return self.invalid(locale)
        if visit.claim is None:
            return self.expired(token, self.locale_of(visit.customer, request))
        invoice = self.store.get_invoice(filename.removesuffix(".pdf"))
        owner = self.store.owner_of(invoice.id) if invoice is not None else None
        if invoice is None or owner is None or owner.id != visit.customer.id:
            return self.invalid(locale)
        return self.pdf(invoice, via="portal", disposition="attachment")

    def pdf(self, invoice: InvoiceRecord, *, via: str, disposition: str) -> Response:
        from bridge.pipeline import ensure_pdf

        try:
            data = ensure_pdf(self.services, invoice)
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

    # -- a direct PDF link -----------------------------------------------------------------

    def document_link(self, request: Request, filename: str, token: str) -> Response:
        locale = self.default_locale(request)
        slow = self.too_many(request, locale)
        if slow is not None:
            return slow
        number = filename.removesuffix(".pdf")
        # The signature first, from the URL alone: a stranger learns nothing of which
        # numbers exist.
        signed = self._signed_document(number, token) if filename.endswith(".pdf") else None
        if signed is None:
            return self.invalid(locale, status=403)
        invoice = self.store.get_invoice(number)
        if invoice is None:
            return self.invalid(locale)
        owner = self.store.owner_of(invoice.id)
        generation = owner.generation if owner is not None else 0
        if isinstance(signed, DocumentClaim):
            opens = not signed.expired and signed.generation == generation
        else:
            opens = self.links.legacy_link_opens(number, token, owner)
        if not opens:
            renew = token if "." in token else f"{LEGACY}{number}:{token}"
            return self.expired(renew, invoice.snapshot.locale)
        return self.pdf(invoice, via="link", disposition="inline")

    def _signed_document(self, number: str, token: str) -> DocumentClaim | bool | None:
        """The claim of a signed link to `number` (expired ones too), True for a valid bare
        signature of before, None for anything else."""
        signer = self.links.signer
        if signer is None or not token:
            return None
        if "." not in token:
            return True if self.links.legacy_link_valid(number, token) else None
        try:
            return signer.read_document(token, number)
        except LinkExpired as exc:
            return replace(exc.claim, expired=True)
        except LinkInvalid:
            return None

    # -- a new link ------------------------------------------------------------------------

    def renew(self, request: Request, token: str, csrf: str) -> Response:
        locale = self.default_locale(request)
        slow = self.too_many(request, locale)
        if slow is not None:
            return slow
        if not self.pages.csrf_ok(request, csrf):
            return self.expired(token, locale)  # a fresh form: press again
        customer = self._holder(token)
        if customer is not None:
            locale = self.locale_of(customer, request)
            self._send_link(customer)
        return self._sent(locale)

    def _holder(self, token: str) -> CustomerRecord | None:
        """The customer a link of ours was for, expired or revoked alike."""
        signer = self.links.signer
        if signer is None:
            return None
        if token.startswith(LEGACY):
            number, _, bare = token.removeprefix(LEGACY).rpartition(":")
            invoice = self.store.get_invoice(number) if number else None
            if invoice is None or not self.links.legacy_link_valid(number, bare):
                return None
            return self.store.owner_of(invoice.id)
        for read in (signer.read_portal, signer.read_document):
            try:
                claim = read(token)
            except LinkExpired as exc:
                claim = exc.claim
            except LinkInvalid:
                continue
            return self._customer_of_claim(claim)
        return None

    def _customer_of_claim(self, claim: Any) -> CustomerRecord | None:
        if isinstance(claim, PortalClaim):
            return self.store.customer_by_id(claim.customer_id)
        invoice = self.store.get_invoice(claim.number)
        return self.store.owner_of(invoice.id) if invoice is not None else None

    def request_form(self, request: Request, shop: str) -> Response:
        locale = self.default_locale(request)
        slow = self.too_many(request, locale)
        if slow is not None:
            return slow
        if not self.serves(shop):
            return self.invalid(locale)
        return self.pages.form(
            "portal/request.html", locale, action=f"/portal/request/{shop}", error=""
        )

    def request_link(self, request: Request, shop: str, email: str, csrf: str) -> Response:
        locale = self.default_locale(request)
        slow = self.too_many(request, locale)
        if slow is not None:
            return slow
        if not self.serves(shop):
            return self.invalid(locale)
        wording = PAGE_WORDING[locale if locale in PAGE_WORDING else "fr"]
        error = ""
        if not self.pages.csrf_ok(request, csrf):
            error = wording["error_form_expired"]
        elif not _looks_like_email(email):
            error = wording["error_email_invalid"]
        if error:
            return self.pages.form(
                "portal/request.html", locale, status=400, action=f"/portal/request/{shop}",
                error=error,
            )  # fmt: skip
        # The same answer, and the same work, whether the shop knows the address or not.
        customer = self.store.customer(shop, email)
        if customer is not None:
            self._send_link(customer)
        else:
            self._spend_address_quota(shop, email)
        return self._sent(locale)

    def serves(self, shop: str) -> bool:
        """A configured shop, or one whose documents came another way (`quittance issue`,
        an import) and still have their customers."""
        if not self.links.portal_on:
            return False
        return self.settings.shop(shop) is not None or self.store.shop_has_customers(shop)

    def _send_link(self, customer: CustomerRecord) -> None:
        if not self._spend_address_quota(customer.shop, customer.email):
            log.info("new portal link refused: address over its hourly quota", shop=customer.shop)
            return
        days = self.settings.portal.renewal_link_days
        now = self.store.clock()
        # one link per address per minute whatever is pressed: the quota says the rest
        self.store.enqueue(
            "portal_link", {"customer_id": customer.id, "days": days},
            dedupe_key=f"portal_link:{customer.id}:{now:%Y%m%d%H%M}", shop=customer.shop,
        )  # fmt: skip

    def _spend_address_quota(self, shop: str, email: str) -> bool:
        key = f"new-link:{shop}:{_digest(email.strip().lower())}"
        limit = self.settings.portal.new_links_per_hour
        return self.store.allow_request(key, limit, timedelta(hours=1))

    def _sent(self, locale: str) -> Response:
        days = self.settings.portal.renewal_link_days
        return self.pages.render("portal/sent.html", locale, valid_days=days)


def _looks_like_email(text: str) -> bool:
    local, _, domain = text.strip().rpartition("@")
    return bool(local) and "." in domain and len(text) <= 320 and not any(c.isspace() for c in text)


def _digest(text: str) -> str:
    # rate-limit keys and log lines name an address without storing it
    return sha256(text.encode()).hexdigest()[:32]


def portal_routes(side: CustomerSide) -> APIRouter:
    router = APIRouter()
    answers: dict[int | str, dict[str, Any]] = {
        404: {"description": "not a link of ours"},
        410: {"description": "expired or revoked: the page offers a new link"},
        429: {"description": "too many requests from this address"},
    }

    @router.get("/portal/{token}", responses=answers)
    def documents_page(request: Request, token: str) -> Response:
        return side.documents_page(request, token)

    @router.get("/portal/{token}/documents/{filename:path}", responses=answers)
    def portal_download(request: Request, token: str, filename: str) -> Response:
        return side.portal_download(request, token, filename)

    @router.post("/portal/renew", responses=answers)
    def renew(request: Request, token: str = Form(""), csrf: str = Form("")) -> Response:
        return side.renew(request, token, csrf)

    @router.get("/portal/request/{shop}", responses=answers)
    def request_form(request: Request, shop: str) -> Response:
        return side.request_form(request, shop)

    @router.post("/portal/request/{shop}", responses=answers)
    def request_link(
        request: Request, shop: str, email: str = Form(""), csrf: str = Form("")
    ) -> Response:
        return side.request_link(request, shop, email, csrf)

    # `path`: invoice numbers may contain "/" (allowed by BR-FR-01), encoded as %2F in links.
    @router.get("/invoices/{filename:path}", responses={403: {}, 404: {}, 410: {}})
    def document_link(request: Request, filename: str, t: str = "") -> Response:
        return side.document_link(request, filename, t)

    return router
