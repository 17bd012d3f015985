"""The database's own guards (the immutability triggers), checked by `verify`.

The triggers refuse changes to issued documents, the event log and the series counters;
someone who drops or disables one can then rewrite freely. The chain key still exposes a
rewrite, but a missing guard is reported on its own: it is the break-in itself.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Connection

# Created by the migrations (0001, 0003, 0006), by name.
SQLITE_GUARDS = {
    "invoices_no_delete": "invoices", "invoices_no_update": "invoices",
    "invoices_no_replace": "invoices", "invoices_follow_counter": "invoices",
    "events_no_delete": "events", "events_no_update": "events", "events_no_replace": "events",
    "series_counters_no_replace": "series_counters",
    "series_counters_forward": "series_counters",
    "series_counters_no_delete": "series_counters",
}  # fmt: skip
POSTGRES_GUARDS = {
    "invoices_immutable": "invoices", "invoices_no_truncate": "invoices",
    "invoices_follow_counter": "invoices",
    "events_append_only": "events", "events_no_truncate": "events",
    "series_counters_forward": "series_counters",
    "series_counters_no_truncate": "series_counters",
}  # fmt: skip

# pg_trigger.tgenabled: O fires in normal sessions, A always; D is disabled and R fires
# only in replica sessions (so not in ours).
_PG_FIRING = ("O", "A")


def guard_problems(conn: Connection) -> list[str]:
    """One sentence per guard that is missing or disabled (empty: all in place)."""
    if conn.dialect.name == "sqlite":
        return _sqlite_problems(conn)
    return _postgres_problems(conn)


def _sqlite_problems(conn: Connection) -> list[str]:
    present = set(
        conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'")).scalars()
    )
    return [_missing(name, table) for name, table in SQLITE_GUARDS.items() if name not in present]


def _postgres_problems(conn: Connection) -> list[str]:
    rows = conn.execute(
        text(
            "SELECT t.tgname, t.tgenabled FROM pg_trigger t "
            "WHERE NOT t.tgisinternal AND t.tgrelid IN "
            "('invoices'::regclass, 'events'::regclass, 'series_counters'::regclass)"
        )
    ).all()
    state = {name: str(enabled) for name, enabled in rows}
    problems = []
    for name, table in POSTGRES_GUARDS.items():
        if name not in state:
            problems.append(_missing(name, table))
        elif state[name] not in _PG_FIRING:
            problems.append(
                f"the guard trigger {name} on {table} is disabled (ALTER TABLE … DISABLE "
                "TRIGGER): someone with the owner role did it; re-enable it and find out why"
            )
    return problems


def _missing(name: str, table: str) -> str:
    return (
        f"the guard trigger {name} on {table} is missing (dropped): whoever did it could "
        "rewrite the table; restore it from the migrations and find out why"
    )
