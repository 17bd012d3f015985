"""What every customer page shares: the services, the signer, the rate limit per client, the
language, and the pages that say a link is not ours or has expired."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Callable
from datetime import timedelta

import structlog
from fastapi import Request
from fastapi.responses import Response

from bridge.portal.links import CustomerLinks
from bridge.portal.rendering import Pages, pick_locale
from bridge.services import Services
from bridge.store.records import CustomerRecord

log = structlog.get_logger()

RENEW_ACTION = "/portal/renew"


class CustomerSide:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.settings = services.settings
        self.store = services.store
        self.links = CustomerLinks(services.settings, services.store)
        self.pages = Pages(services, self.links.signer)
        secret = services.settings.server.link_secret
        # Keys of the rate limits name a client or an address without storing it (without a
        # link secret nothing is served, and a key of this process's own does).
        self._key_secret = hashlib.sha256(
            b"quittance.rate-limits:"
            + (secret.get_secret_value().encode() if secret else secrets.token_bytes(32))
        ).digest()

    def answer(self, request: Request, page: Callable[[str], Response]) -> Response:
        """`page(locale)` in the visitor's language, or the 429 page once this client is over
        `[portal] requests_per_minute` (every customer page goes through here)."""
        locale = self.default_locale(request)
        slow = self.too_many(request, locale)
        return slow if slow is not None else page(locale)

    def too_many(self, request: Request, locale: str) -> Response | None:
        """The 429 page once the client is over `[portal] requests_per_minute`."""
        client = self.keyed(_client_network(request))
        limit = self.settings.portal.requests_per_minute
        if self.store.allow_request(f"page:{client}", limit, timedelta(minutes=1)):
            return None
        log.info("customer page rate-limited", client=client[:12])
        page = self.pages.render("portal/slow_down.html", locale, status=429, retry_minutes=1)
        page.headers["Retry-After"] = "60"
        return page

    def keyed(self, text: str) -> str:
        return hmac.new(self._key_secret, text.encode(), hashlib.sha256).hexdigest()[:32]

    def invalid(self, locale: str, status: int = 404) -> Response:
        return self.pages.render("portal/invalid.html", locale, status=status)

    def default_locale(self, request: Request) -> str:
        return pick_locale(request, self.settings.seller.default_locale)

    def locale_of(self, customer: CustomerRecord, request: Request) -> str:
        """The language of the customer's latest document."""
        latest = self.store.latest_customer_document(customer.id)
        return latest.snapshot.locale if latest is not None else self.default_locale(request)

    def expired(self, request: Request, token: str, locale: str) -> Response:
        """Expired or revoked: a page whose button sends a new link to the address on file."""
        return self.pages.form(
            request, "portal/expired.html", locale, status=410, renew_action=RENEW_ACTION,
            token=token,
        )  # fmt: skip

    def serves(self, shop: str) -> bool:
        """A configured shop, or one whose documents came another way (`quittance issue`,
        an import) and still have their customers."""
        if not self.links.portal_on:
            return False
        return self.settings.shop(shop) is not None or self.store.shop_has_customers(shop)


def _client_network(request: Request) -> str:
    """The client's address, an IPv6 one by its /64 (one subscriber holds a whole /64)."""
    host = request.client.host if request.client else "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)  # a dual-stack listener's IPv4 client
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)
