"""How a customer page is answered: the shop's branding and wording around a template, the
headers that keep it private, the CSRF cookie of its form."""

from __future__ import annotations

import base64
import mimetypes
import traceback
from functools import cached_property
from pathlib import Path
from typing import Any

import structlog
from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from bridge.config import SellerConfig
from bridge.failures import database_away
from bridge.portal.tokens import LinkSigner
from bridge.portal.wording import LOCALES, PAGE_WORDING
from bridge.services import Services

CSRF_COOKIE = "quittance_csrf"
log = structlog.get_logger()

# A customer's page holds their documents: nothing may keep it (proxies, the back button of
# a shared computer), index it, or leak its URL (the token) to another site.
PRIVATE_HEADERS = {
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "X-Robots-Tag": "noindex, nofollow",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
}


def private(response: Response) -> Response:
    response.headers.update(PRIVATE_HEADERS)
    return response


CUSTOMER_PATHS = ("/portal/", "/survey/", "/invoices/", "/l/")


class PrivateCustomerPaths:
    """ASGI middleware: the private headers on every answer under the customer's paths, the
    framework's own too (a 405 to a HEAD, a 422), and when a page breaks an answer with them
    (503 and Retry-After while the database is away, else 500) instead of a bare 500."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._headers = [(k.lower().encode(), v.encode()) for k, v in PRIVATE_HEADERS.items()]

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith(CUSTOMER_PATHS):
            await self.app(scope, receive, send)
            return
        started = False

        async def send_private(message: Any) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                names = {name for name, _ in self._headers}
                kept = [(n, v) for n, v in message.get("headers", []) if n.lower() not in names]
                message = {**message, "headers": [*kept, *self._headers]}
            await send(message)

        try:
            await self.app(scope, receive, send_private)
        except Exception as exc:
            if started:
                raise
            away = database_away(exc)
            # the frames, not the message: it may quote a customer's token or address
            log.error(
                "customer page failed", path_kind=_path_kind(scope),
                error=type(exc).__name__, where=_frames(exc), database_away=away,
            )  # fmt: skip
            status, body = (503, UNAVAILABLE) if away else (500, BROKEN)
            headers = [(b"content-type", b"text/plain; charset=utf-8")]
            if away:
                headers.append((b"retry-after", b"60"))
            await send_private(
                {"type": "http.response.start", "status": status, "headers": headers}
            )
            await send_private({"type": "http.response.body", "body": body})


UNAVAILABLE = b"Temporarily unavailable, please try again in a few minutes.\n"
BROKEN = b"This page could not be shown. Please try again later.\n"


def _frames(exc: BaseException) -> list[str]:
    return [f"{f.filename}:{f.lineno} {f.name}" for f in traceback.extract_tb(exc.__traceback__)][
        -6:
    ]


def _path_kind(scope: Any) -> str:
    # the first segment only: the rest is a customer's token
    return "/" + str(scope.get("path", "")).strip("/").split("/", 1)[0]


def pick_locale(request: Request, fallback: str) -> str:
    """The visitor's language when nothing on file says it (a page with no customer yet)."""
    for part in request.headers.get("accept-language", "").split(","):
        tag = part.split(";")[0].strip().lower()[:2]
        if tag in LOCALES:
            return tag
    return fallback if fallback in LOCALES else "fr"


class Pages:
    """Renders `templates/portal/*` and `templates/survey/*` with the common context."""

    def __init__(self, services: Services, signer: LinkSigner | None) -> None:
        self.services = services
        self.signer = signer
        self.secure_cookie = services.settings.server.public_url.startswith("https://")

    @cached_property
    def _branding(self) -> dict[str, str]:
        seller = self.services.settings.seller
        return {
            **shop_branding(seller),
            "website": seller.website,
            "contact": seller.email,
        }

    def render(self, name: str, locale: str, *, status: int = 200, **context: Any) -> HTMLResponse:
        locale = locale if locale in LOCALES else "fr"
        html = self.services.templates.render(
            name, locale=locale, t=PAGE_WORDING[locale], **self._branding, **context
        )
        return private(HTMLResponse(html, status_code=status))  # type: ignore[return-value]

    def form(
        self, request: Request, name: str, locale: str, *, status: int = 200, **context: Any
    ) -> HTMLResponse:
        """A page with a POST form: a CSRF pair, the nonce in a SameSite cookie (the one the
        browser holds, when it holds one)."""
        if self.signer is None:
            return self.render("portal/invalid.html", locale, status=404)
        cookie, field = self.signer.new_csrf(request.cookies.get(CSRF_COOKIE, ""))
        response = self.render(name, locale, status=status, csrf=field, **context)
        # Lax, not Strict: a survey link clicked in a webmail is a cross-site navigation, which
        # would come without a Strict cookie, and each new tab's nonce would void the other
        # tabs' forms. Lax still keeps it off every cross-site POST.
        response.set_cookie(
            CSRF_COOKIE, cookie, max_age=7200, httponly=True, samesite="lax",
            secure=self.secure_cookie, path="/",
        )  # fmt: skip
        return response

    def csrf_ok(self, request: Request, field: str) -> bool:
        if self.signer is None:
            return False
        return self.signer.csrf_matches(request.cookies.get(CSRF_COOKIE, ""), field)


def shop_branding(seller: SellerConfig) -> dict[str, str]:
    """The seller's name, colour and logo, as every page of ours shows them."""
    return {
        "shop_name": seller.trade_name or seller.legal_name,
        "brand_color": seller.brand_color,
        "logo_uri": data_uri(seller.logo),
    }


def data_uri(logo: Path | None) -> str:
    """The logo inline (the pages load nothing from anywhere); "" without one."""
    if logo is None:
        return ""
    try:
        data = Path(logo).read_bytes()
    except OSError:
        return ""
    kind = mimetypes.guess_type(str(logo))[0] or "image/png"
    return f"data:{kind};base64,{base64.b64encode(data).decode()}"
