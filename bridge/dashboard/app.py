"""The dashboard's FastAPI app: sign-in and sign-out, the pages the guards' refusals become,
and each view's routes (bridge/dashboard/views). `Dashboard` (context.py) is what the views
are given; it is re-exported here for them."""

from __future__ import annotations

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
from bridge.dashboard.signing_in import SignInGate
from bridge.dashboard.views import ROUTERS
from bridge.dashboard.wording import LOCALES
from bridge.services import Services


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
        target = f"/login?next={quote(exc.path, safe='/')}"
        return private(RedirectResponse(target, status_code=303))

    @app.exception_handler(Refused)
    def refused(request: Request, exc: Refused) -> Response:
        session = dash.sessions.current(request)
        return dash.page(request, session, "message.html", status=403, message="forbidden")

    @app.exception_handler(FormExpired)
    def expired(request: Request, exc: FormExpired) -> Response:
        session = dash.sessions.current(request)
        return dash.page(request, session, "message.html", status=400, message="form_expired")


def _sign_in(app: FastAPI, dash: Dashboard) -> None:
    gate = SignInGate(dash)

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
        outcome = gate.attempt(request, username, password)
        if isinstance(outcome, str):
            status = {"login_throttled": 429, "login_busy": 503}.get(outcome, 401)
            page = _login_page(dash, request, target, error=outcome, status=status)
            if status != 401:
                page.headers["Retry-After"] = "900" if status == 429 else "5"
            return page
        response = private(RedirectResponse(target, status_code=303))
        dash.sessions.start(response, outcome, replacing=dash.sessions.current(request))
        client = client_address(request)
        dash.store.audit("login", user=outcome.username, role=outcome.role, client=client)
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


def _safe_next(target: str) -> str:
    # only a path of ours: "//evil.example" or "https://…" would send the owner elsewhere
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


__all__ = ["Dashboard", "create_dashboard_app"]
