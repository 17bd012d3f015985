"""The owner's dashboard under test: its app over a bridge's services, accounts made as
`quittance admin add-user` makes them, and a client signed in through the real form."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from bridge.dashboard.accounts import add_user
from bridge.dashboard.app import create_dashboard_app
from bridge.services import Services

PASSWORD = "correct horse battery staple"
BASE_URL = "http://127.0.0.1:8081"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def dashboard_client(svc: Services) -> TestClient:
    return TestClient(create_dashboard_app(svc), base_url=BASE_URL)


def csrf_of(html: str) -> str:
    """The CSRF field of the first form on the page."""
    found = _CSRF.search(html)
    assert found, "no form with a CSRF field on this page"
    return found.group(1)


def sign_in(client: TestClient, username: str, password: str = PASSWORD) -> None:
    form = client.get("/login")
    answer = client.post(
        "/login",
        data={"username": username, "password": password, "csrf": csrf_of(form.text)},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text


def signed_in(svc: Services, role: str = "owner", username: str | None = None) -> TestClient:
    """A client signed in as a new account of `role` (named after the role unless given)."""
    name = username or role
    add_user(svc.store, name, PASSWORD, role, "en")
    client = dashboard_client(svc)
    sign_in(client, name)
    return client
