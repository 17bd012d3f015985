"""The owner's dashboard in SQL: accounts, sessions, the cookie key, and its audit trail
(events of kind "dashboard.*" in the append-only log)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.engine import Connection, RowMapping

from bridge.store import events
from bridge.store._sql import insert_for
from bridge.store.records import EventRecord
from bridge.store.schema import dashboard_keys, dashboard_sessions, dashboard_users, rate_limits
from bridge.store.schema import events as event_rows

AUDIT_PREFIX = "dashboard."


@dataclass(frozen=True, slots=True)
class DashboardUser:
    id: int
    username: str
    password_hash: str
    role: str  # owner | accountant
    locale: str
    created_at: datetime
    password_changed_at: datetime
    disabled_at: datetime | None


@dataclass(frozen=True, slots=True)
class SessionRecord:
    user: DashboardUser
    csrf: str
    expires_at: datetime


def save_user(
    conn: Connection, username: str, password_hash: str, role: str, locale: str, now: datetime
) -> bool:
    """Creates the account, or gives an existing one this password, role and language,
    enables it again if it was disabled, and ends its sessions (they began before the new
    password). True: it was created."""
    existing = user_by_name(conn, username)
    values = {"password_hash": password_hash, "role": role, "locale": locale}
    if existing is None:
        conn.execute(
            dashboard_users.insert().values(
                username=username, created_at=now, password_changed_at=now, **values
            )
        )
        return True
    conn.execute(
        update(dashboard_users)
        .where(dashboard_users.c.id == existing.id)
        .values(password_changed_at=now, disabled_at=None, **values)
    )
    conn.execute(delete(dashboard_sessions).where(dashboard_sessions.c.user_id == existing.id))
    return False


def disable_user(conn: Connection, username: str, now: datetime) -> bool:
    found = user_by_name(conn, username)
    if found is None:
        return False
    conn.execute(
        update(dashboard_users).where(dashboard_users.c.id == found.id).values(disabled_at=now)
    )
    conn.execute(delete(dashboard_sessions).where(dashboard_sessions.c.user_id == found.id))
    return True


def rehash(conn: Connection, user_id: int, password_hash: str) -> None:
    """A stronger hash of the same password (argon2's parameters were raised): the
    sessions stay, since the password did not change."""
    conn.execute(
        update(dashboard_users)
        .where(dashboard_users.c.id == user_id)
        .values(password_hash=password_hash)
    )


def user_by_name(conn: Connection, username: str) -> DashboardUser | None:
    row = (
        conn.execute(select(dashboard_users).where(dashboard_users.c.username == username))
        .mappings()
        .first()
    )
    return None if row is None else _user(row)


def users(conn: Connection) -> list[DashboardUser]:
    rows = conn.execute(select(dashboard_users).order_by(dashboard_users.c.username))
    return [_user(row) for row in rows.mappings()]


def open_session(
    conn: Connection, session_id: str, user_id: int, csrf: str, now: datetime, until: datetime
) -> None:
    conn.execute(delete(dashboard_sessions).where(dashboard_sessions.c.expires_at <= now))
    conn.execute(
        dashboard_sessions.insert().values(
            id=session_id, user_id=user_id, csrf=csrf, created_at=now, expires_at=until
        )
    )


def session(conn: Connection, session_id: str, now: datetime) -> SessionRecord | None:
    """The live session: not expired, its account enabled, begun after its last password."""
    s, u = dashboard_sessions, dashboard_users
    row = (
        conn.execute(
            select(u, s.c.csrf, s.c.expires_at, s.c.created_at.label("session_start"))
            .join(s, s.c.user_id == u.c.id)
            .where(s.c.id == session_id, s.c.expires_at > now, u.c.disabled_at.is_(None))
        )
        .mappings()
        .first()
    )
    if row is None or row["session_start"] < row["password_changed_at"]:
        return None
    return SessionRecord(_user(row), row["csrf"], row["expires_at"])


def close_session(conn: Connection, session_id: str) -> None:
    conn.execute(delete(dashboard_sessions).where(dashboard_sessions.c.id == session_id))


def key(conn: Connection, name: str, make: Callable[[], str], now: datetime) -> str:
    """The named key, made once: replicas racing to make it all read back the winner's."""
    conn.execute(
        insert_for(conn, dashboard_keys)
        .values(name=name, value=make(), created_at=now)
        .on_conflict_do_nothing(index_elements=[dashboard_keys.c.name])
    )
    return str(
        conn.execute(
            select(dashboard_keys.c.value).where(dashboard_keys.c.name == name)
        ).scalar_one()
    )


def audit_trail(conn: Connection, limit: int, before_id: int | None = None) -> list[EventRecord]:
    """The dashboard's events, newest first; `before_id` pages further back."""
    stmt = (
        select(event_rows)
        .where(event_rows.c.kind.startswith(AUDIT_PREFIX, autoescape=True))
        .order_by(event_rows.c.id.desc())
        .limit(limit)
    )
    if before_id is not None:
        stmt = stmt.where(event_rows.c.id < before_id)
    return [events.record_of(row) for row in conn.execute(stmt).mappings()]


def counted(conn: Connection, key: str, window: timedelta, now: datetime) -> int:
    """What `portal.allow` has counted under `key` in its current window (0: none)."""
    found = conn.execute(
        select(rate_limits.c.count).where(
            rate_limits.c.key == key[:300], rate_limits.c.window_start > now - window
        )
    ).scalar_one_or_none()
    return int(found or 0)


def uncount(conn: Connection, key: str, window: timedelta, now: datetime) -> None:
    """Takes back one count of `key`'s current window (a sign-in that succeeded)."""
    conn.execute(
        update(rate_limits)
        .where(
            rate_limits.c.key == key[:300],
            rate_limits.c.window_start > now - window,
            rate_limits.c.count > 0,
        )
        .values(count=rate_limits.c.count - 1)
    )


def _user(row: RowMapping) -> DashboardUser:
    return DashboardUser(
        id=row["id"],
        username=row["username"],
        password_hash=row["password_hash"],
        role=row["role"],
        locale=row["locale"],
        created_at=row["created_at"],
        password_changed_at=row["password_changed_at"],
        disabled_at=row["disabled_at"],
    )
