"""Who may see the owner's dashboard: accounts made by `quittance admin`, argon2 hashes,
sessions that expire and end on sign-out or a new password, CSRF on every form, sign-in
limits per account and per client, roles, and an audit line for each of these."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
import structlog
import time_machine
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from bridge.cli import app as cli_app
from bridge.config import ConfigError, load_settings
from bridge.dashboard.accounts import add_user
from bridge.dashboard.passwords import AccountError
from bridge.dashboard.sessions import SESSION_COOKIE
from bridge.services import Services
from tests.support.config import write_config
from tests.support.dashboard import (
    BASE_URL,
    PASSWORD,
    csrf_of,
    dashboard_client,
    sign_in,
    signed_in,
)

LIMITS = {"login_attempts_per_account": 3, "login_attempts_per_client": 5, "port": 0}


@pytest.fixture(autouse=True)
def _fresh_logging() -> Iterator[None]:
    yield
    structlog.reset_defaults()  # an in-process CLI run leaves it writing to a closed stream


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_config(tmp_path / "quittance.toml", dashboard=LIMITS)


@pytest.fixture
def svc(config: Path) -> Iterator[Services]:
    services = Services.from_settings(load_settings(config, environ={}))
    yield services
    services.close()


def attempt(client: TestClient, username: str, password: str) -> int:
    form = client.get("/login")
    answer = client.post(
        "/login",
        data={"username": username, "password": password, "csrf": csrf_of(form.text)},
        follow_redirects=False,
    )
    return answer.status_code


def audited(svc: Services) -> list[str]:
    return [event.kind.removeprefix("dashboard.") for event in reversed(svc.store.audit_trail())]


def test_a_page_without_a_session_sends_to_the_sign_in_form(svc: Services) -> None:
    answer = dashboard_client(svc).get("/documents?q=1&shop=a", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=/documents%3Fq%3D1%26shop%3Da"


def test_the_right_password_opens_the_overview(svc: Services) -> None:
    client = signed_in(svc, "owner", "marie")
    page = client.get("/")
    assert page.status_code == 200
    assert "marie" in page.text
    assert audited(svc) == ["login"]


def test_a_wrong_password_is_refused_and_audited(svc: Services) -> None:
    add_user(svc.store, "marie", PASSWORD, "owner", "en")
    client = dashboard_client(svc)
    assert attempt(client, "marie", "not the password at all") == 401
    assert client.get("/", follow_redirects=False).status_code == 303
    assert audited(svc) == ["login.failed"]


def test_an_unknown_account_gets_the_same_answer_as_a_wrong_password(svc: Services) -> None:
    add_user(svc.store, "marie", PASSWORD, "owner", "en")
    client = dashboard_client(svc)
    form = client.get("/login")
    wrong = client.post(
        "/login", data={"username": "marie", "password": "x" * 20, "csrf": csrf_of(form.text)}
    )
    unknown = client.post(
        "/login", data={"username": "nobody", "password": "x" * 20, "csrf": csrf_of(form.text)}
    )
    assert wrong.status_code == unknown.status_code == 401
    # the sign-in page speaks the seller's language until the reader is known
    assert "Identifiant ou mot de passe incorrect." in wrong.text
    assert len(wrong.text) == len(unknown.text)  # the form's fresh token aside, the same page


def test_the_password_is_stored_as_an_argon2id_hash(svc: Services) -> None:
    add_user(svc.store, "marie", PASSWORD, "owner", "fr")
    user = svc.store.dashboard_user("marie")
    assert user is not None
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash


def test_a_short_password_is_refused_naming_the_length(svc: Services) -> None:
    with pytest.raises(AccountError, match="at least 12 characters"):
        add_user(svc.store, "marie", "short", "owner", "fr")


def test_a_sign_in_without_its_form_token_is_refused(svc: Services) -> None:
    add_user(svc.store, "marie", PASSWORD, "owner", "en")
    client = dashboard_client(svc)
    answer = client.post("/login", data={"username": "marie", "password": PASSWORD})
    assert answer.status_code == 400
    assert client.cookies.get(SESSION_COOKIE) is None


def test_an_account_is_held_back_after_its_failed_attempts(svc: Services) -> None:
    add_user(svc.store, "marie", PASSWORD, "owner", "en")
    client = dashboard_client(svc)
    assert [attempt(client, "marie", "wrong password!") for _ in range(3)] == [401] * 3
    assert attempt(client, "marie", PASSWORD) == 429  # even the right one, for now
    assert audited(svc)[-1] == "login.throttled"


def test_attempts_sent_at_once_are_all_counted(svc: Services) -> None:
    add_user(svc.store, "marie", PASSWORD, "owner", "en")
    clients = [dashboard_client(svc) for _ in range(8)]
    forms = [csrf_of(c.get("/login").text) for c in clients]

    def guess(pair: tuple[TestClient, str]) -> int:
        client, token = pair
        data = {"username": "marie", "password": "wrong password!", "csrf": token}
        return client.post("/login", data=data, follow_redirects=False).status_code

    with ThreadPoolExecutor(8) as pool:
        codes = sorted(pool.map(guess, zip(clients, forms, strict=True)))
    assert codes == [401] * 3 + [429] * 5  # the cap of 3, not one per thread


def test_a_held_back_flood_is_audited_once_per_window(svc: Services) -> None:
    add_user(svc.store, "marie", PASSWORD, "owner", "en")
    client = dashboard_client(svc)
    for _ in range(10):
        attempt(client, "marie", "wrong password!")
    assert audited(svc).count("login.throttled") == 1


def test_guesses_from_one_address_do_not_hold_back_the_owner_elsewhere(svc: Services) -> None:
    add_user(svc.store, "marie", PASSWORD, "owner", "en")
    guesser = TestClient(dashboard_client(svc).app, base_url=BASE_URL, client=("203.0.113.9", 1))
    for _ in range(4):
        attempt(guesser, "marie", "wrong password!")
    owner = TestClient(dashboard_client(svc).app, base_url=BASE_URL, client=("198.51.100.7", 1))
    assert attempt(owner, "marie", PASSWORD) == 303


def test_a_long_flood_from_one_address_does_not_hold_the_owner_back_elsewhere(
    svc: Services,
) -> None:
    add_user(svc.store, "marie", PASSWORD, "owner", "en")
    guesser = TestClient(dashboard_client(svc).app, base_url=BASE_URL, client=("203.0.113.9", 1))
    for _ in range(40):  # past the every-address ceiling (3 x 10), had refusals counted there
        attempt(guesser, "marie", "wrong password!")
    owner = TestClient(dashboard_client(svc).app, base_url=BASE_URL, client=("198.51.100.7", 1))
    assert attempt(owner, "marie", PASSWORD) == 303


def test_a_flood_under_ever_new_names_is_audited_once(svc: Services) -> None:
    client = dashboard_client(svc)
    for n in range(12):
        attempt(client, f"name{n}", "wrong password!")
    assert audited(svc).count("login.throttled") == 1


def test_a_name_that_is_no_account_is_not_kept_in_the_audit_log(svc: Services) -> None:
    attempt(dashboard_client(svc), "my-secret-password", "oops")
    (event,) = svc.store.audit_trail()
    assert event.detail["user"] == "(no such account)"


def test_a_form_token_with_odd_characters_is_refused_not_a_crash(svc: Services) -> None:
    client = signed_in(svc, "owner", "marie")
    assert client.post("/logout", data={"csrf": "é"}).status_code == 400


def test_signing_in_again_closes_the_session_the_browser_held(svc: Services) -> None:
    client = signed_in(svc, "owner", "marie")
    first = client.cookies.get(SESSION_COOKIE)
    sign_in(client, "marie")
    stale = dashboard_client(svc)
    stale.cookies.set(SESSION_COOKIE, str(first))
    assert stale.get("/", follow_redirects=False).status_code == 303


def test_the_account_signs_in_again_once_the_window_has_passed(svc: Services) -> None:
    add_user(svc.store, "marie", PASSWORD, "owner", "en")
    client = dashboard_client(svc)
    for _ in range(3):
        attempt(client, "marie", "wrong password!")
    with time_machine.travel(svc.store.clock() + timedelta(minutes=16), tick=False):
        assert attempt(client, "marie", PASSWORD) == 303


def test_successful_sign_ins_do_not_count_towards_the_limit(svc: Services) -> None:
    add_user(svc.store, "marie", PASSWORD, "owner", "en")
    client = dashboard_client(svc)
    assert [attempt(client, "marie", PASSWORD) for _ in range(6)] == [303] * 6


def test_one_client_guessing_many_accounts_is_held_back(svc: Services) -> None:
    client = dashboard_client(svc)
    codes = [attempt(client, f"guess{n}", "wrong password!") for n in range(6)]
    assert codes == [401] * 5 + [429]


def test_a_session_expires_after_the_configured_hours(svc: Services) -> None:
    client = signed_in(svc, "owner", "marie")
    later = svc.store.clock() + timedelta(hours=12, minutes=1)
    with time_machine.travel(later, tick=False):
        assert client.get("/", follow_redirects=False).status_code == 303


def test_sign_out_ends_the_session_even_for_a_copied_cookie(svc: Services) -> None:
    client = signed_in(svc, "owner", "marie")
    cookie = client.cookies.get(SESSION_COOKIE)
    client.post("/logout", data={"csrf": csrf_of(client.get("/").text)})
    thief = dashboard_client(svc)
    thief.cookies.set(SESSION_COOKIE, str(cookie))
    assert thief.get("/", follow_redirects=False).status_code == 303
    assert audited(svc) == ["login", "logout"]


def test_a_new_password_ends_the_accounts_sessions(svc: Services) -> None:
    client = signed_in(svc, "owner", "marie")
    add_user(svc.store, "marie", "another long password", "owner", "en")
    assert client.get("/", follow_redirects=False).status_code == 303


def test_a_disabled_account_can_no_longer_sign_in(svc: Services) -> None:
    client = signed_in(svc, "owner", "marie")
    svc.store.disable_dashboard_user("marie")
    assert client.get("/", follow_redirects=False).status_code == 303
    assert attempt(dashboard_client(svc), "marie", PASSWORD) == 401


def test_a_forged_session_cookie_is_refused(svc: Services) -> None:
    client = dashboard_client(svc)
    client.cookies.set(SESSION_COOKIE, "eyJmb3JnZWQiOnRydWV9.AAAA.BBBB")
    assert client.get("/", follow_redirects=False).status_code == 303


def test_the_session_cookie_is_http_only_and_same_site_strict(svc: Services) -> None:
    add_user(svc.store, "marie", PASSWORD, "owner", "en")
    client = dashboard_client(svc)
    form = client.get("/login")
    answer = client.post(
        "/login",
        data={"username": "marie", "password": PASSWORD, "csrf": csrf_of(form.text)},
        follow_redirects=False,
    )
    cookie = next(c for c in answer.headers.get_list("set-cookie") if SESSION_COOKIE in c)
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Secure" not in cookie  # http://127.0.0.1: a Secure cookie would never come back


def test_the_cookie_is_secure_behind_an_https_address(tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "q.toml", dashboard={"url": "https://admin.example.fr", "port": 0}
    )
    services = Services.from_settings(load_settings(config, environ={}))
    try:
        add_user(services.store, "marie", PASSWORD, "owner", "en")
        client = TestClient(dashboard_client(services).app, base_url="https://admin.example.fr")
        form = client.get("/login")
        answer = client.post(
            "/login",
            data={"username": "marie", "password": PASSWORD, "csrf": csrf_of(form.text)},
            follow_redirects=False,
        )
        cookie = next(c for c in answer.headers.get_list("set-cookie") if SESSION_COOKIE in c)
        assert "Secure" in cookie
    finally:
        services.close()


def test_a_form_without_the_sessions_token_is_refused(svc: Services) -> None:
    client = signed_in(svc, "owner", "marie")
    answer = client.post("/logout", data={"csrf": "not-the-token"})
    assert answer.status_code == 400
    assert client.get("/", follow_redirects=False).status_code == 200  # still signed in


def test_an_accountant_is_refused_what_only_an_owner_may_see(svc: Services) -> None:
    client = signed_in(svc, "accountant", "compta")
    assert client.get("/audit").status_code == 403
    assert client.get("/").status_code == 200


def test_the_sign_in_does_not_send_the_owner_to_another_site(svc: Services) -> None:
    add_user(svc.store, "marie", PASSWORD, "owner", "en")
    client = dashboard_client(svc)
    form = client.get("/login?next=//evil.example/")
    answer = client.post(
        "/login",
        data={
            "username": "marie",
            "password": PASSWORD,
            "csrf": csrf_of(form.text),
            "next": "//evil.example/",
        },
        follow_redirects=False,
    )
    assert answer.headers["location"] == "/"


def test_pages_are_private_and_load_nothing_from_elsewhere(svc: Services) -> None:
    page = signed_in(svc).get("/")
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["x-frame-options"] == "DENY"
    assert "default-src 'none'" in page.headers["content-security-policy"]


def test_the_language_link_switches_the_pages_to_french(svc: Services) -> None:
    client = signed_in(svc, "owner", "marie")  # an English-speaking account
    assert "Overview" in client.get("/").text
    client.get("/language/fr?next=/")
    assert "Vue d&#39;ensemble" in client.get("/").text


def test_the_dashboard_port_may_not_be_the_webhooks_port(tmp_path: Path) -> None:
    config = write_config(tmp_path / "q.toml", dashboard={"port": 8080})
    with pytest.raises(ConfigError, match=r"dashboard.*a port of its own"):
        load_settings(config, environ={})


# -- quittance admin ----------------------------------------------------------------------


def test_admin_add_user_reads_the_password_from_stdin(config: Path, svc: Services) -> None:
    result = CliRunner().invoke(
        cli_app,
        ["admin", "add-user", "Compta", "--role", "accountant", "--password-stdin", "-c",
         str(config)],
        input=PASSWORD + "\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    user = svc.store.dashboard_user("compta")
    assert user is not None and user.role == "accountant"
    assert "password:" not in result.output  # given, so never printed


def test_admin_add_user_without_a_terminal_makes_up_a_password(config: Path) -> None:
    result = CliRunner().invoke(cli_app, ["admin", "add-user", "marie", "-c", str(config)])
    assert result.exit_code == 0, result.output
    password = result.output.split("password: ")[1].split()[0]
    services = Services.from_settings(load_settings(config, environ={}))
    try:
        sign_in(dashboard_client(services), "marie", password)
    finally:
        services.close()


def test_admin_add_user_refuses_an_unknown_role(config: Path) -> None:
    result = CliRunner().invoke(
        cli_app,
        ["admin", "add-user", "marie", "--role", "boss", "--password-stdin", "-c", str(config)],
        input=PASSWORD + "\n",
    )
    assert result.exit_code == 2
    assert "owner (everything) or accountant" in result.output


def test_admin_disable_user_names_an_unknown_account(config: Path) -> None:
    result = CliRunner().invoke(cli_app, ["admin", "disable-user", "nobody", "-c", str(config)])
    assert result.exit_code == 1
    assert "no account named 'nobody'" in result.output
