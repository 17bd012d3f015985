"""Who may sign in, and how often: the sign-in limits and the password check.

Every attempt is counted before its password is checked, so attempts sent at once are all
counted (a check after the fact let a burst through); a successful sign-in takes its counts
back, so an owner who signs in often is never held back. Three counters:

- the client address: `[dashboard] login_attempts_per_client` per window, whatever the name;
- the account from that address: `login_attempts_per_account` — guessing one owner's
  password from one place stops there, and only that place is held back;
- the account from every address together: ten times that — a guess spread over many
  addresses stops too, at the price of the owner waiting out the window.

At most HASHING_AT_ONCE argon2 checks run at once (64 MiB each): a flood of sign-ins waits
or is told to come back, and the webhooks sharing this process keep their threads."""

from __future__ import annotations

import threading
from datetime import timedelta

from fastapi import Request

from bridge.dashboard.context import Dashboard, client_address
from bridge.dashboard.passwords import (
    AccountError,
    hash_password,
    needs_rehash,
    normal_username,
    password_matches,
)
from bridge.store.dashboard import DashboardUser

LOGIN_WINDOW = timedelta(minutes=15)
SPREAD_FACTOR = 10
HASHING_AT_ONCE = 4
HASHING_WAIT_SECONDS = 0.5

Counter = tuple[str, int]


class SignInGate:
    def __init__(self, dash: Dashboard) -> None:
        self.dash = dash
        self._hashing = threading.BoundedSemaphore(HASHING_AT_ONCE)

    def attempt(self, request: Request, typed_name: str, password: str) -> DashboardUser | str:
        """The account signed in, or the wording key of why not (throttled, busy, failed)."""
        name = _counted_name(typed_name)
        counters = self._counters(request, name)
        counted = self._count(counters)
        if len(counted) < len(counters):
            self._audit_throttled(request, name, counters[len(counted)][0])
            return "login_throttled"
        # A short wait: a sign-in waiting here holds one of the threads the webhooks and the
        # customers' pages share. Still counted against its address: a flood of busy
        # attempts meets the client's limit like any other.
        if not self._hashing.acquire(timeout=HASHING_WAIT_SECONDS):
            self._take_back(counted[1:])
            return "login_busy"
        try:
            user = self._checked(name, password)
        finally:
            self._hashing.release()
        if user is None:
            known = self._user_named(name) is not None
            # a name that is no account may be a password typed in the wrong field: not kept
            who = name if known else "(no such account)"
            self.dash.store.audit("login.failed", user=who, client=client_address(request))
            return "login_failed"
        self._take_back(counted)
        if needs_rehash(user.password_hash):
            self.dash.store.rehash_dashboard_user(user.id, hash_password(password))
        return user

    def _count(self, counters: list[Counter]) -> list[Counter]:
        """Counts the attempt on each counter in turn, stopping at the first over its limit:
        an attempt refused from one address never counts on the account's every-address
        ceiling, or one address alone could hold the owner back everywhere."""
        counted: list[Counter] = []
        for key, cap in counters:
            if not self.dash.store.allow_request(key, cap, LOGIN_WINDOW):
                break
            counted.append((key, cap))
        return counted

    def _checked(self, name: str, password: str) -> DashboardUser | None:
        user = self._user_named(name)
        # an unknown name costs the same work as a wrong password
        matches = password_matches(user.password_hash if user else None, password)
        return user if matches else None

    def _user_named(self, name: str) -> DashboardUser | None:
        try:
            username = normal_username(name)
        except AccountError:
            return None
        user = self.dash.store.dashboard_user(username)
        return None if user is None or user.disabled_at is not None else user

    def _counters(self, request: Request, name: str) -> list[Counter]:
        limits = self.dash.settings.dashboard
        client = client_address(request)
        per_account = limits.login_attempts_per_account
        return [
            (f"dashboard-login:client:{client}", limits.login_attempts_per_client),
            (f"dashboard-login:account:{name}:{client}", per_account),
            (f"dashboard-login:account:{name}", per_account * SPREAD_FACTOR),
        ]

    def _take_back(self, counters: list[Counter]) -> None:
        for key, _cap in counters:
            self.dash.store.uncount(key, LOGIN_WINDOW)

    def _audit_throttled(self, request: Request, name: str, counter: str) -> None:
        # once per address and window, whatever the names typed: a held-back flood must not
        # fill the append-only log (the counters keep counting it)
        client = client_address(request)
        if not self.dash.store.claim_alert(f"dashboard-throttled:{client}", LOGIN_WINDOW):
            return
        who = name if self._user_named(name) else "(no such account)"
        held = counter.split(":")[1]  # "client" or "account"
        self.dash.store.audit("login.throttled", user=who, client=client, counter=held)


def _counted_name(typed: str) -> str:
    """The name the counters know an attempt by: the account's own spelling when it is one
    (so "Marie " and "marie" share one count), else what was typed, cut short."""
    try:
        return normal_username(typed)
    except AccountError:
        return typed.strip().lower()[:64]
