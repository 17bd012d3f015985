"""Who is signed in: a session cookie holding a signed random secret (itsdangerous, with its
timestamp), whose SHA-256 names a `dashboard_sessions` row. The signature turns away forged
cookies before the database is asked; the row lets sign-out, a new password and a disabled
account end a session at once; both expire after `[dashboard] session_hours`.

Every form carries the session's CSRF token; the sign-in form, before any session, carries a
signed nonce matched with a cookie of its own."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from fastapi import Request
from fastapi.responses import Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from bridge.config import Settings
from bridge.store import Store
from bridge.store.dashboard import DashboardUser

SESSION_COOKIE = "quittance_dashboard"
LOGIN_COOKIE = "quittance_dashboard_login"
KEY_NAME = "dashboard-cookies"


@dataclass(frozen=True, slots=True)
class Session:
    id: str
    user: DashboardUser
    csrf: str

    @property
    def is_owner(self) -> bool:
        return self.user.role == "owner"


class Sessions:
    def __init__(self, settings: Settings, store: Store) -> None:
        self.store = store
        self.hours = settings.dashboard.session_hours
        self.secure = settings.dashboard.address().startswith("https://")
        key = store.dashboard_key(KEY_NAME, lambda: secrets.token_urlsafe(48))
        self._cookies = URLSafeTimedSerializer(key, salt="quittance.dashboard.session")
        self._login = URLSafeTimedSerializer(key, salt="quittance.dashboard.login")

    def start(
        self, response: Response, user: DashboardUser, *, replacing: Session | None = None
    ) -> None:
        """A new session (a new secret: one known before sign-in is worth nothing after),
        closing the one the browser held, if any."""
        if replacing is not None:
            self.store.close_dashboard_session(replacing.id)
        secret = secrets.token_urlsafe(32)
        until = self.store.clock() + timedelta(hours=self.hours)
        csrf = secrets.token_urlsafe(32)
        self.store.open_dashboard_session(_row_id(secret), user.id, csrf, until)
        self._set(response, SESSION_COOKIE, self._cookies.dumps(secret), self.hours * 3600)
        response.delete_cookie(LOGIN_COOKIE, path="/")

    def current(self, request: Request) -> Session | None:
        cookie = request.cookies.get(SESSION_COOKIE, "")
        if not cookie:
            return None
        try:
            secret = self._cookies.loads(cookie, max_age=self.hours * 3600)
        except BadSignature:  # also an expired signature
            return None
        row = self.store.dashboard_session(_row_id(str(secret)))
        return None if row is None else Session(_row_id(str(secret)), row.user, row.csrf)

    def end(self, response: Response, session: Session | None) -> None:
        if session is not None:
            self.store.close_dashboard_session(session.id)
        response.delete_cookie(SESSION_COOKIE, path="/")

    def login_form_token(self, request: Request) -> tuple[str, str]:
        """(nonce, field) of the sign-in form: the field goes in the form, the nonce in the
        cookie `keep_login_nonce` sets."""
        nonce = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(16)
        return nonce, self._login.dumps(nonce)

    def keep_login_nonce(self, response: Response, nonce: str) -> None:
        self._set(response, LOGIN_COOKIE, nonce, 3600)

    def login_form_ok(self, request: Request, field: str) -> bool:
        try:
            nonce = self._login.loads(field, max_age=3600)
        except BadSignature:
            return False
        cookie = request.cookies.get(LOGIN_COOKIE, "")
        return bool(cookie) and hmac.compare_digest(str(nonce).encode(), cookie.encode())

    def _set(self, response: Response, name: str, value: str, max_age: int) -> None:
        # Strict: the owner's pages never need their cookie on a cross-site request.
        response.set_cookie(
            name, value, max_age=max_age, httponly=True, samesite="strict",
            secure=self.secure, path="/",
        )  # fmt: skip


def csrf_ok(session: Session, field: str) -> bool:
    # bytes: compare_digest refuses non-ASCII str, and a form may carry anything
    return bool(field) and hmac.compare_digest(session.csrf.encode(), field.encode())


def _row_id(secret: str) -> str:
    # A database dump holds no usable session: only the digest of each secret is stored.
    return hashlib.sha256(secret.encode()).hexdigest()
