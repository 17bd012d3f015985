"""The dashboard's side of `Store` (bridge/dashboard): accounts, sessions, the cookie key
and the audit trail."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Connection

from bridge.store import dashboard, events
from bridge.store.dashboard import AUDIT_PREFIX, DashboardUser, SessionRecord
from bridge.store.records import EventRecord


class DashboardRows:
    """Mixed into `Store`, which provides the transactions and the clock."""

    def _write(self) -> AbstractContextManager[Connection]:
        raise NotImplementedError

    def _read(self) -> AbstractContextManager[Connection]:
        raise NotImplementedError

    def _now(self) -> datetime:
        raise NotImplementedError

    def save_dashboard_user(
        self, username: str, password_hash: str, role: str, locale: str
    ) -> bool:
        """True: created; False: an existing account got this password (its sessions end)."""
        with self._write() as conn:
            return dashboard.save_user(conn, username, password_hash, role, locale, self._now())

    def disable_dashboard_user(self, username: str) -> bool:
        with self._write() as conn:
            return dashboard.disable_user(conn, username, self._now())

    def rehash_dashboard_user(self, user_id: int, password_hash: str) -> None:
        with self._write() as conn:
            dashboard.rehash(conn, user_id, password_hash)

    def dashboard_user(self, username: str) -> DashboardUser | None:
        with self._read() as conn:
            return dashboard.user_by_name(conn, username)

    def dashboard_users(self) -> list[DashboardUser]:
        with self._read() as conn:
            return dashboard.users(conn)

    def open_dashboard_session(
        self, session_id: str, user_id: int, csrf: str, until: datetime
    ) -> None:
        with self._write() as conn:
            dashboard.open_session(conn, session_id, user_id, csrf, self._now(), until)

    def dashboard_session(self, session_id: str) -> SessionRecord | None:
        with self._read() as conn:
            return dashboard.session(conn, session_id, self._now())

    def close_dashboard_session(self, session_id: str) -> None:
        with self._write() as conn:
            dashboard.close_session(conn, session_id)

    def dashboard_key(self, name: str, make: Callable[[], str]) -> str:
        with self._write() as conn:
            return dashboard.key(conn, name, make, self._now())

    def counted(self, key: str, window: timedelta) -> int:
        """How many `allow_request` counted under `key` in its current window."""
        with self._read() as conn:
            return dashboard.counted(conn, key, window, self._now())

    def uncount(self, key: str, window: timedelta) -> None:
        with self._write() as conn:
            dashboard.uncount(conn, key, window, self._now())

    def audit(self, action: str, *, user: str, shop: str | None = None,
              invoice_number: str | None = None, order_id: str | None = None,
              **detail: Any) -> None:  # fmt: skip
        """One line of the audit trail: who did what to which document, kept for good."""
        with self._write() as conn:
            events.append(
                conn, AUDIT_PREFIX + action, now=self._now(), shop=shop, order_id=order_id,
                invoice_number=invoice_number, detail={"user": user, **detail},
            )  # fmt: skip

    def audit_trail(self, limit: int = 100, before_id: int | None = None) -> list[EventRecord]:
        with self._read() as conn:
            return dashboard.audit_trail(conn, limit, before_id)
