"""The frame of every dashboard page: its own templates (not the invoice template set, which
is frozen with every document), the seller's branding, the wording in the reader's language,
the navigation their role allows, and headers that keep the page private."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Any

import jinja2
from babel.dates import format_datetime
from babel.numbers import format_currency, format_decimal
from fastapi import Request
from fastapi.responses import HTMLResponse

from bridge.dashboard.sessions import Session
from bridge.dashboard.wording import LOCALES, Wording, merged

# the customer's pages' headers: no keeping, framing or leaking, nothing loaded from elsewhere
from bridge.portal.rendering import pick_locale, private, shop_branding
from bridge.services import Services

LANGUAGE_COOKIE = "quittance_dashboard_lang"
TEMPLATES = Path(__file__).resolve().parent / "templates"

# (path, wording key, owner only): the menu, in reading order.
NAVIGATION = (
    ("/", "nav_overview", False),
    ("/documents", "nav_documents", False),
    ("/failures", "nav_failures", False),
    ("/deliveries", "nav_deliveries", False),
    ("/integrity", "nav_integrity", False),
    ("/satisfaction", "nav_satisfaction", False),
    ("/exports", "nav_exports", False),
    ("/audit", "nav_audit", True),
)

_NOTICE_TEXT = re.compile(r"^[\w .,:;@+/#'()-]{1,120}$")


class Frame:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.zone = services.settings.seller.zoneinfo
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATES),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    @cached_property
    def branding(self) -> dict[str, str]:
        return shop_branding(self.services.settings.seller)

    def locale(self, request: Request, session: Session | None) -> str:
        chosen = request.cookies.get(LANGUAGE_COOKIE, "")
        if chosen in LOCALES:
            return chosen
        if session is not None and session.user.locale in LOCALES:
            return session.user.locale
        return pick_locale(request, self.services.settings.seller.default_locale)

    def render(
        self, request: Request, session: Session | None, name: str, *,
        wording: Wording | None = None, status: int = 200, **context: Any,
    ) -> HTMLResponse:  # fmt: skip
        locale = self.locale(request, session)
        html = self.env.get_template(name).render(
            locale=locale,
            t=merged(wording, locale),
            session=session,
            csrf=session.csrf if session else "",
            nav=self._nav(request, session),
            path=request.url.path,
            notice=_notice(request.query_params),
            when=lambda moment: self.when(moment, locale),
            money=lambda amount, currency: money(amount, currency, locale),
            number=lambda value: format_decimal(value, locale=_babel(locale)),
            **self.branding,
            **context,
        )
        return private(HTMLResponse(html, status_code=status))  # type: ignore[return-value]

    def when(self, moment: datetime | None, locale: str) -> str:
        """A moment in the seller's time zone, as the owner reads their clock."""
        if moment is None:
            return "—"
        local = moment.astimezone(self.zone)
        return format_datetime(local, "short", tzinfo=self.zone, locale=_babel(locale))

    def _nav(self, request: Request, session: Session | None) -> list[dict[str, Any]]:
        if session is None:
            return []
        here = request.url.path
        return [
            {"href": href, "key": key, "current": here == href or (
                href != "/" and here.startswith(href + "/"))}
            for href, key, owner_only in NAVIGATION
            if session.is_owner or not owner_only
        ]  # fmt: skip


def money(amount: Decimal, currency: str, locale: str) -> str:
    return format_currency(amount, currency, locale=_babel(locale))


def _babel(locale: str) -> str:
    return "fr_FR" if locale == "fr" else "en_GB"


def _notice(query: Mapping[str, str]) -> dict[str, str] | None:
    """What the last action did, carried by its redirect: a wording key and a short text
    (a number, an address), shown escaped; anything else in the URL is ignored."""
    key, text = query.get("done", ""), query.get("what", "")
    if not re.fullmatch(r"[a-z_]{1,40}", key):
        return None
    return {"key": key, "what": text if _NOTICE_TEXT.match(text) else ""}
