"""The customer's URLs: their portal, one document's PDF, the survey of an invoice.

Each URL is built from `[server] public_url` and signed (bridge/portal/tokens.py); none is
made when the public URL or the link secret is missing (the email then goes without them).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from urllib.parse import quote

from bridge.config import Settings
from bridge.links import token_is_valid
from bridge.portal.tokens import LinkSigner, expiry_in
from bridge.store import InvoiceRecord, Store
from bridge.store.records import CustomerRecord


def link_signer(settings: Settings) -> LinkSigner | None:
    """The signer of `[server] link_secret` (then previous_link_secrets); None without one."""
    server = settings.server
    if server.link_secret is None:
        return None
    keys = [server.link_secret, *server.previous_link_secrets]
    return LinkSigner([key.get_secret_value() for key in keys])


class CustomerLinks:
    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self.signer = link_signer(settings)
        self.base = settings.server.public_url.rstrip("/")

    @property
    def available(self) -> bool:
        return bool(self.base) and self.signer is not None

    @property
    def portal_on(self) -> bool:
        return self.available and self.settings.portal.enabled

    def portal_url(self, customer: CustomerRecord, *, days: int | None = None) -> str:
        if not self.portal_on or self.signer is None:
            return ""
        days = days or self.settings.portal.link_days
        token = self.signer.portal_token(customer.id, customer.generation, expiry_in(days))
        return f"{self.base}/portal/{token}"

    def portal_url_for(self, invoice: InvoiceRecord) -> str:
        """The portal of the document's customer ("" when it has no email address)."""
        owner = self.store.owner_of(invoice.id)
        return "" if owner is None else self.portal_url(owner)

    def document_url(self, invoice: InvoiceRecord) -> str:
        if not self.available or self.signer is None:
            return ""
        owner = self.store.owner_of(invoice.id)
        generation = owner.generation if owner is not None else 0
        days = self.settings.portal.document_link_days
        token = self.signer.document_token(invoice.number, generation, expiry_in(days))
        return f"{self.base}/invoices/{quote(invoice.number, safe='')}.pdf?t={token}"

    def survey_url(self, invoice: InvoiceRecord) -> str:
        """The survey page of the invoice, without a score (the email adds `score=N`)."""
        if not self.available or self.signer is None:
            return ""
        config = self.settings.survey_for(invoice.shop)
        token = self.signer.survey_token(invoice.id, expiry_in(config.answer_days), config.scale)
        return f"{self.base}/survey/{token}"

    def legacy_link_valid(self, number: str, token: str) -> bool:
        """Whether `token` is a bare signature of before of `number`, under one of our keys."""
        server = self.settings.server
        if server.link_secret is None:
            return False
        keys = [server.link_secret, *server.previous_link_secrets]
        return any(token_is_valid(k.get_secret_value(), number, token) for k in keys)

    def legacy_link_opens(self, owner: CustomerRecord | None) -> bool:
        """Whether a valid bare signature (no expiry in it, see `legacy_link_valid`) still
        opens: before `[portal] legacy_links_until`, for a customer never revoked."""
        if owner is not None and owner.generation > 0:
            return False
        return not _past(self.settings.portal.legacy_links_until)


def _past(last_day: date | None) -> bool:
    """Whether `last_day` (inclusive, a UTC day) is over."""
    return last_day is not None and datetime.now(UTC).date() > last_day
