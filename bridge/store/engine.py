"""Engine creation: the per-dialect settings the rest of the store relies on.

SQLite: WAL (readers never block the writer), a 30 s busy timeout and `BEGIN IMMEDIATE` for
write transactions, so concurrent writers queue on the database lock instead of failing
half-way with "database is locked" when a deferred transaction tries to upgrade its lock.
PostgreSQL: psycopg 3, READ COMMITTED; row locks do the serialising.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, ExceptionContext, make_url

from bridge.store.errors import IMMUTABLE_MARKER, InvoiceImmutableError

SQLITE_BUSY_TIMEOUT_S = 30.0

# Execution option that asks the SQLite begin hook for BEGIN IMMEDIATE (write transaction).
WRITE_OPTION = "quittance_write"


def normalise_url(url: str | URL) -> URL:
    """`postgresql://` means psycopg 3 here (psycopg2 is not a dependency)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() != "psycopg":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def create_store_engine(url: str | URL) -> Engine:
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = _sqlite_engine(parsed)
    else:
        # pre_ping: long-running workers outlive server restarts and idle-connection reapers.
        # connect_timeout: a server that drops packets fails a connection in seconds, not in
        # the minutes of the kernel's own timeout (/readyz, the heartbeat, the worker loop).
        # A URL that sets its own keeps it.
        connect: dict[str, Any] = (
            {} if "connect_timeout" in parsed.query else {"connect_timeout": 10}
        )
        # Keepalives: a pooled connection to a server gone silent fails in about a minute,
        # not after the kernel's quarter of an hour of retransmissions.
        connect |= {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10,
                    "keepalives_count": 3}  # fmt: skip
        # hide_parameters: an error's text never carries the statement's values (a customer's
        # order) into logs, job errors or alerts.
        engine = create_engine(
            parsed, pool_pre_ping=True, connect_args=connect, hide_parameters=True
        )
    event.listen(engine, "handle_error", _translate_immutability)
    return engine


def writer(engine: Engine) -> Engine:
    """The same engine (same pool), flagged so SQLite opens its transactions IMMEDIATE."""
    return engine.execution_options(**{WRITE_OPTION: True})


def _sqlite_engine(url: URL) -> Engine:
    database = url.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S}, hide_parameters=True
    )  # (hide_parameters: see the PostgreSQL engine)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take BEGIN away from pysqlite (it would issue a deferred BEGIN on its own, too late
        # and too weak); the "begin" hook below issues it. SQLAlchemy's documented recipe.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
            _enable_wal(cursor)
            # FULL: a committed invoice number must survive a power cut, not just a crash.
            cursor.execute("PRAGMA synchronous = FULL")
            cursor.execute("PRAGMA foreign_keys = ON")
            # REPLACE conflict resolution deletes rows; this makes it fire the DELETE triggers
            # that guard invoices and events.
            cursor.execute("PRAGMA recursive_triggers = ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        if conn.get_execution_options().get(WRITE_OPTION):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")

    return engine


def _enable_wal(cursor: Any) -> None:
    """Switch a new database file to WAL, retrying while another process does the same.

    The switch needs an exclusive lock, and SQLite answers "database is locked" at once
    (deadlock avoidance, no busy handler) to a connection that read the header while another
    one was converting: several workers opening a fresh file together hit it. Once the file
    is in WAL mode (persistent), the pragma is a no-op and never contends.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_S
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _translate_immutability(context: ExceptionContext) -> None:
    """Turn the triggers' refusals into `InvoiceImmutableError`, even for raw SQL."""
    original = context.original_exception
    if IMMUTABLE_MARKER in str(original):
        raise InvoiceImmutableError(str(original).strip()) from context.sqlalchemy_exception
