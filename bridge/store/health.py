"""Would a write go through now? What `/readyz` asks the database, leaving no row behind.

A read (counting jobs) succeeds on a read-only file, on a PostgreSQL standby and in a session
forced read-only, while every webhook would then fail. So the probe does what intake does
first, a write to `jobs`, with a statement that matches no row, and rolls back:

SQLite      BEGIN IMMEDIATE takes the database's one write lock, as every write transaction of
            the store does; the write statement after it is refused by a read-only file or
            mount. A short busy timeout: a probe reports a lock held too long instead of
            waiting the 30 s a worker would.
PostgreSQL  a standby or a read-only session is named first (clearer than the error), then the
            same statement under `lock_timeout`: it takes the lock an INSERT takes, so a
            migration or a maintenance command holding `jobs` shows.

A rolled-back transaction writes nothing to disk on either dialect, so a full disk passes
here: readiness measures the free space of the disk instead.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from bridge.store.engine import SQLITE_BUSY_TIMEOUT_S
from bridge.store.errors import StoreError

# Long enough for the writes the store makes (one transaction each, milliseconds), short
# enough to answer a readiness probe.
PROBE_LOCK_TIMEOUT_S = 2.0

# A write that matches no row: the server must accept a write here, and nothing changes.
# `jobs`: intake's first write (a webhook's "ingest" job); it carries no trigger.
NO_ROW_WRITE = "UPDATE jobs SET id = id WHERE 1 = 0"

# PostgreSQL SQLSTATEs the probe names.
_LOCK_NOT_AVAILABLE = "55P03"
_READ_ONLY_TRANSACTION = "25006"


class DatabaseNotWritable(StoreError):
    """Why a write would not go through now, in one line: what is wrong and what to do."""


def check_writable(engine: Engine, *, lock_timeout_s: float = PROBE_LOCK_TIMEOUT_S) -> None:
    """Raise `DatabaseNotWritable` unless a write to the database would go through now."""
    if engine.dialect.name == "sqlite":
        _check_sqlite(engine, lock_timeout_s)
    else:
        _check_postgresql(engine, lock_timeout_s)


def sqlite_file(engine: Engine) -> Path | None:
    """The SQLite file the engine writes (None: PostgreSQL, or a database in memory)."""
    name = engine.url.database
    if engine.dialect.name != "sqlite" or not name or name == ":memory:":
        return None
    name = name.removeprefix("file:")  # a URI filename ("file:/path?mode=ro")
    return None if not name or name.startswith(":memory:") else Path(name).absolute()


def _check_sqlite(engine: Engine, lock_timeout_s: float) -> None:
    where = (engine.url.database or ":memory:").removeprefix("file:")  # a URI filename
    try:
        raw = engine.raw_connection()
    except DBAPIError as exc:
        raise DatabaseNotWritable(_sqlite_reason(where, exc.orig, lock_timeout_s)) from exc
    except sqlite3.Error as exc:  # raised by the engine's own connect hook (WAL, pragmas)
        raise DatabaseNotWritable(_sqlite_reason(where, exc, lock_timeout_s)) from exc
    try:
        # The DBAPI connection itself: the busy timeout must change BEFORE "BEGIN IMMEDIATE",
        # and a SQLAlchemy connection would open its transaction first. The engine turned
        # pysqlite's own BEGIN off, so these statements run exactly as written.
        cursor = raw.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {int(lock_timeout_s * 1000)}")
            cursor.execute("BEGIN IMMEDIATE")
            cursor.execute(NO_ROW_WRITE)
            cursor.execute("ROLLBACK")
            # back to what the pool's other users expect of this connection
            cursor.execute(f"PRAGMA busy_timeout = {int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        finally:
            cursor.close()
    except sqlite3.Error as exc:
        # Left half-way (short busy timeout, maybe a transaction open): it must not go back
        # to the pool for a worker to use.
        raw.invalidate()
        raise DatabaseNotWritable(_sqlite_reason(where, exc, lock_timeout_s)) from exc
    finally:
        raw.close()


def _sqlite_reason(where: str, exc: BaseException | None, lock_timeout_s: float) -> str:
    said = first_line(exc)
    if "locked" in said or "busy" in said:
        return (
            f"the SQLite file {where} stayed locked by another writer for {lock_timeout_s:g} s: "
            "a long write or a stuck process holds it"
        )
    if "readonly" in said or "read-only" in said:
        return f"the SQLite file {where} is read-only ({said}): make it and its folder writable"
    if "unable to open" in said:
        return (
            f"cannot open the SQLite file {where} ({said}): its folder must exist and be "
            "writable (SQLite writes its -wal and -shm files beside it)"
        )
    return f"the SQLite file {where} refuses a write ({said}): check the file and its disk"


def _check_postgresql(engine: Engine, lock_timeout_s: float) -> None:
    where = f"{engine.url.host or 'localhost'}:{engine.url.port or 5432}/{engine.url.database}"
    try:
        with engine.connect() as conn:
            standby, read_only = conn.execute(
                text("SELECT pg_is_in_recovery(), current_setting('transaction_read_only')")
            ).one()
            if standby:
                raise DatabaseNotWritable(
                    f"PostgreSQL at {where} is a standby (in recovery, read-only): point "
                    "[storage] database_url at the primary"
                )
            if read_only == "on":
                raise DatabaseNotWritable(
                    f"PostgreSQL at {where} opens read-only transactions "
                    "(default_transaction_read_only is on): turn it off for this role or database"
                )
            # set_config(…, true) is SET LOCAL: it ends with this transaction, rolled back below
            conn.execute(
                text("SELECT set_config('lock_timeout', :timeout, true)"),
                {"timeout": f"{int(lock_timeout_s * 1000)}ms"},
            )
            conn.exec_driver_sql(NO_ROW_WRITE)
            conn.rollback()
    except DBAPIError as exc:
        raise DatabaseNotWritable(_postgresql_reason(where, exc, lock_timeout_s)) from exc


def _postgresql_reason(where: str, exc: DBAPIError, lock_timeout_s: float) -> str:
    sqlstate = getattr(exc.orig, "sqlstate", None)
    said = first_line(exc.orig)
    if sqlstate == _LOCK_NOT_AVAILABLE:
        return (
            f"no write lock on jobs at {where} within {lock_timeout_s:g} s: a long transaction "
            "or a migration holds it (see pg_stat_activity)"
        )
    if sqlstate == _READ_ONLY_TRANSACTION:
        return (
            f"PostgreSQL at {where} refuses writes ({said}): point [storage] database_url at "
            "a writable primary"
        )
    if sqlstate is None:  # never reached the server
        return (
            f"cannot reach PostgreSQL at {where} ({said}): start it, or fix [storage] database_url"
        )
    return f"PostgreSQL at {where} refuses a write ({said})"


def first_line(exc: BaseException | None) -> str:
    """An error in one line for a sentence: its message's first line (a database error's
    later lines repeat the statement and its parameters), or its type when it says nothing."""
    text_ = str(exc or "").strip()
    return text_.splitlines()[0] if text_ else type(exc).__name__
