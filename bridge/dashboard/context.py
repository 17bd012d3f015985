"""What every dashboard view is given (`Dashboard`): the services, the page frame, the
sessions, and the guards whose refusals the app turns into pages (bridge/dashboard/app.py)."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from bridge.dashboard.pages import Frame
from bridge.dashboard.sessions import Session, Sessions, csrf_ok
from bridge.dashboard.wording import Wording
from bridge.services import Services


class LoginRequired(Exception):
    def __init__(self, path: str) -> None:
        self.path = path


class Refused(Exception):
    """403: signed in, but the role does not allow it."""


class FormExpired(Exception):
    """400: a POST without its session's CSRF token."""


class Dashboard:
    """What every view is given: the services, the frame, the sessions, and the guards."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.settings = services.settings
        self.store = services.store
        self.frame = Frame(services)
        self.sessions = Sessions(services.settings, services.store)

    def reader(self, request: Request) -> Session:
        """Anyone signed in (owner or accountant), else off to the sign-in page."""
        session = self.sessions.current(request)
        if session is None:
            raise LoginRequired(_come_back_to(request))
        return session

    def owner(self, request: Request) -> Session:
        session = self.reader(request)
        if not session.is_owner:
            raise Refused()
        return session

    def form(self, request: Request, csrf: str, *, owner: bool = True) -> Session:
        """The session behind a POST: its CSRF token must match (and, by default, be an
        owner's: an accountant reads and exports, never changes anything)."""
        session = self.owner(request) if owner else self.reader(request)
        if not csrf_ok(session, csrf):
            raise FormExpired()
        return session

    def page(
        self, request: Request, session: Session | None, name: str, *,
        wording: Wording | None = None, status: int = 200, **context: Any,
    ) -> HTMLResponse:  # fmt: skip
        return self.frame.render(request, session, name, wording=wording, status=status, **context)

    def audit(self, request: Request, session: Session, action: str, **detail: Any) -> None:
        self.store.audit(
            action, user=session.user.username, role=session.user.role,
            client=client_address(request), **detail,
        )  # fmt: skip


def _come_back_to(request: Request) -> str:
    """Where the sign-in sends the reader back: the page with its search, or the overview
    for a form (a POST cannot be replayed by a redirect)."""
    if request.method not in ("GET", "HEAD"):
        return "/"
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def client_address(request: Request) -> str:
    """The client as uvicorn saw it (behind a trusted proxy: its X-Forwarded-For)."""
    return request.client.host if request.client else "unknown"
