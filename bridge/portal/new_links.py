"""A new portal link, always to the address on file: from the expired page's button (the old
link says whose it was) or from the form asking for an address, which answers the same page
with the same status whether or not the shop knows the address."""

from __future__ import annotations

from datetime import timedelta

import structlog
from fastapi import Request
from fastapi.responses import Response

from bridge.portal.portal_pages import LEGACY
from bridge.portal.side import CustomerSide
from bridge.portal.tokens import DocumentClaim, LinkExpired, LinkInvalid, PortalClaim
from bridge.portal.wording import PAGE_WORDING
from bridge.store.records import CustomerRecord

log = structlog.get_logger()


class NewLinkPages:
    def __init__(self, side: CustomerSide) -> None:
        self.side = side
        self.store = side.store
        self.portal = side.settings.portal

    def renew(self, request: Request, token: str, csrf: str, locale: str) -> Response:
        side = self.side
        if not side.pages.csrf_ok(request, csrf):
            return side.expired(request, token, locale)  # a fresh form: press again
        customer = self._holder(token)
        if customer is not None:
            locale = side.locale_of(customer, request)
            self._send_link(customer)
        return self._sent(locale)

    def request_form(self, request: Request, shop: str, locale: str) -> Response:
        side = self.side
        if not side.serves(shop):
            return side.invalid(locale)
        return side.pages.form(
            request, "portal/request.html", locale, action=f"/portal/request/{shop}", error=""
        )

    def request_link(
        self, request: Request, shop: str, email: str, csrf: str, locale: str
    ) -> Response:
        side = self.side
        if not side.serves(shop):
            return side.invalid(locale)
        error = self._form_error(request, email, csrf, locale)
        if error:
            return side.pages.form(
                request, "portal/request.html", locale, status=400,
                action=f"/portal/request/{shop}", error=error,
            )  # fmt: skip
        # The same answer, and nearly the same work, whether the shop knows the address or
        # not: the quota is spent either way; only a known address queues an email.
        customer = self.store.customer(shop, email)
        if self._spend_quota(shop, email) and customer is not None:
            self._queue_link(customer)
        return self._sent(locale)

    def _form_error(self, request: Request, email: str, csrf: str, locale: str) -> str:
        wording = PAGE_WORDING[locale if locale in PAGE_WORDING else "fr"]
        if not self.side.pages.csrf_ok(request, csrf):
            return wording["error_form_expired"]
        if not _looks_like_email(email):
            return wording["error_email_invalid"]
        return ""

    def _holder(self, token: str) -> CustomerRecord | None:
        """The customer a link of ours was for, expired or revoked alike."""
        signer = self.side.links.signer
        if signer is None:
            return None
        if token.startswith(LEGACY):
            number, _, bare = token.removeprefix(LEGACY).rpartition(":")
            invoice = self.store.get_invoice(number) if number else None
            if invoice is None or not self.side.links.legacy_link_valid(number, bare):
                return None
            return self.store.owner_of(invoice.id)
        for read in (signer.read_portal, signer.read_document):
            try:
                claim = read(token)
            except LinkExpired as exc:
                claim = exc.claim
            except LinkInvalid:
                continue
            return self._customer_of(claim)
        return None

    def _customer_of(self, claim: PortalClaim | DocumentClaim) -> CustomerRecord | None:
        if isinstance(claim, PortalClaim):
            return self.store.customer_by_id(claim.customer_id)
        invoice = self.store.get_invoice(claim.number)
        return self.store.owner_of(invoice.id) if invoice is not None else None

    def _send_link(self, customer: CustomerRecord) -> None:
        if self._spend_quota(customer.shop, customer.email):
            self._queue_link(customer)

    def _queue_link(self, customer: CustomerRecord) -> None:
        now = self.store.clock()
        # one link per address per minute whatever is pressed: the quota says the rest
        self.store.enqueue(
            "portal_link", {"customer_id": customer.id, "days": self.portal.renewal_link_days},
            dedupe_key=f"portal_link:{customer.id}:{now:%Y%m%d%H%M}", shop=customer.shop,
        )  # fmt: skip

    def _spend_quota(self, shop: str, email: str) -> bool:
        """Count a new link for the address; False once over `new_links_per_hour`."""
        key = f"new-link:{self.side.keyed(f'{shop}:{email.strip().lower()}')}"
        allowed = self.store.allow_request(key, self.portal.new_links_per_hour, timedelta(hours=1))
        if not allowed:
            log.info("new portal link refused: address over its hourly quota", shop=shop)
        return allowed

    def _sent(self, locale: str) -> Response:
        return self.side.pages.render(
            "portal/sent.html", locale, valid_days=self.portal.renewal_link_days
        )


def _looks_like_email(text: str) -> bool:
    local, _, domain = text.strip().rpartition("@")
    spaced = any(c.isspace() for c in text.strip())
    return bool(local) and "." in domain and len(text) <= 320 and not spaced
