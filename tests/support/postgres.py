"""A throwaway schema on the test PostgreSQL server, for tests and benches alike.

Each user gets its own schema (the URL's search_path points at it), so tests running in
parallel, or two suites at once, never see each other's tables.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

ADMIN_URL = os.environ.get("QUITTANCE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
START_HINT = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"


def display_url() -> str:
    """The server's URL as it may be printed: without its password."""
    from sqlalchemy.engine import make_url

    return make_url(ADMIN_URL).render_as_string(hide_password=True)


def _libpq_url() -> str:
    return ADMIN_URL.replace("+psycopg", "")


def unreachable_reason() -> str | None:
    """None when the server answers; otherwise why not, in one line."""
    import psycopg

    try:
        with psycopg.connect(_libpq_url(), connect_timeout=3):
            return None
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return first


def new_schema_url(prefix: str = "t") -> tuple[str, str]:
    """Create an empty schema; return (a URL whose search_path is that schema, the schema)."""
    import psycopg

    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_libpq_url(), autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in ADMIN_URL else "?"
    return f"{ADMIN_URL}{sep}options=-csearch_path%3D{schema}", schema


def drop_schema(schema: str) -> None:
    import psycopg

    with psycopg.connect(_libpq_url(), autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@contextmanager
def schema_url(prefix: str = "t") -> Iterator[str]:
    url, schema = new_schema_url(prefix)
    try:
        yield url
    finally:
        drop_schema(schema)
