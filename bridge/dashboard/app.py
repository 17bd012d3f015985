"""The dashboard's FastAPI app: sign-in and sign-out, the pages the guards' refusals become,
and each view's routes (bridge/dashboard/views). `Dashboard` (context.py) is what the views
are given; it is re-exported here for them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from bridge.dashboard.context import (
    Dashboard,
    FormExpired,
    LoginRequired,
    Refused,
    client_address,
)
from bridge.dashboard.pages import LANGUAGE_COOKIE, private
from bridge.dashboard.passwords import (
    AccountError,
    hash_password,
    needs_rehash,
    normal_username,
    password_matches,
)
from bridge.dashboard.views import ROUTERS
from bridge.dashboard.wording import LOCALES
from bridge.services import Services

LOGIN_WINDOW = timedelta(minutes=15)


def create_dashboard_app(services: Services) -> FastAPI:
    dash = Dashboard(services)
    app = FastAPI(title="Quittance dashboard", docs_url=None, redoc_url=None, openapi_url=None)
    _errors(app, dash)
    _sign_in(app, dash)
    for routes in ROUTERS:
        app.include_router(routes(dash))

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def _errors(app: FastAPI, dash: Dashboard) -> None:
    @app.exception_handler(LoginRequired)
    def to_login(request: Request, exc: LoginRequired) -> Response:
        return private(RedirectResponse(f"/login?next={quote(exc.path)}", status_code=303))

    @app.exception_handler(Refused)
    def refused(request: Request, exc: Refused) -> Response:
        session = dash.sessions.current(request)
        return dash.page(request, session, "message.html", status=403, message="forbidden")

    @app.exception_handler(FormExpired)
    def expired(request: Request, exc: FormExpired) -> Response:
        session = dash.sessions.current(request)
        return dash.page(request, session, "message.html", status=400, message="form_expired")


def _sign_in(app: FastAPI, dash: Dashboard) -> None:

    @app.get("/login")
    def login_form(request: Request, next: str = "/") -> Response:
        return _login_page(dash, request, _safe_next(next))

    @app.post("/login")
    def login(
        request: Request, username: str = Form(""), password: str = Form(""),
        csrf: str = Form(""), next: str = Form("/"),
    ) -> Response:  # fmt: skip
        target = _safe_next(next)
        if not dash.sessions.login_form_ok(request, csrf):
            return _login_page(dash, request, target, error="login_expired", status=400)
        name = username.strip().lower()[:64]
        attempts = _attempts(dash, request, name)
        if any(dash.store.counted(key, LOGIN_WINDOW) >= cap for key, cap in attempts):
            dash.store.audit("login.throttled", user=name, client=client_address(request))
            page = _login_page(dash, request, target, error="login_throttled", status=429)
            page.headers["Retry-After"] = str(int(LOGIN_WINDOW.total_seconds()))
            return page
        user = _user_named(dash, name)
        if user is None or not password_matches(user.password_hash, password):
            if user is None:
                password_matches(None, password)  # the same work as a wrong password
            # only failures count: an owner who signs in often is never locked out
            for key, cap in attempts:
                dash.store.allow_request(key, cap, LOGIN_WINDOW)
            dash.store.audit("login.failed", user=name, client=client_address(request))
            return _login_page(dash, request, target, error="login_failed", status=401)
        if needs_rehash(user.password_hash):
            dash.store.rehash_dashboard_user(user.id, hash_password(password))
        response = private(RedirectResponse(target, status_code=303))
        dash.sessions.start(response, user)
        dash.store.audit(
            "login", user=user.username, role=user.role, client=client_address(request)
        )
        return response

    @app.post("/logout")
    def logout(request: Request, csrf: str = Form("")) -> Response:
        session = dash.form(request, csrf, owner=False)
        dash.audit(request, session, "logout")
        response = private(RedirectResponse("/login", status_code=303))
        dash.sessions.end(response, session)
        return response

    @app.get("/language/{code}")
    def language(code: str, next: str = "/") -> Response:
        response = private(RedirectResponse(_safe_next(next), status_code=303))
        if code in LOCALES:
            response.set_cookie(
                LANGUAGE_COOKIE, code, max_age=365 * 86400, samesite="lax", path="/"
            )
        return response


def _login_page(
    dash: Dashboard, request: Request, target: str, *, error: str = "", status: int = 200
) -> HTMLResponse:
    nonce, token = dash.sessions.login_form_token(request)
    response = dash.page(
        request, None, "login.html", status=status, error=error, next=target, login_token=token
    )
    dash.sessions.keep_login_nonce(response, nonce)
    return response


def _attempts(dash: Dashboard, request: Request, name: str) -> list[tuple[str, int]]:
    """The two counters a sign-in attempt is held to: its client's and its account's."""
    limits = dash.settings.dashboard
    return [
        (f"dashboard-login:client:{client_address(request)}", limits.login_attempts_per_client),
        (f"dashboard-login:account:{name}", limits.login_attempts_per_account),
    ]


def _user_named(dash: Dashboard, name: str) -> Any:
    try:
        username = normal_username(name)
    except AccountError:
        return None
    user = dash.store.dashboard_user(username)
    return None if user is None or user.disabled_at is not None else user


def _safe_next(target: str) -> str:
    # only a path of ours: "//evil.example" or "https://…" would send the owner elsewhere
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


__all__ = ["Dashboard", "create_dashboard_app"]
