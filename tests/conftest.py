"""Shared fixtures: databases (SQLite and PostgreSQL), a temp workspace, sample orders."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_ADMIN_URL = os.environ.get(
    "QUITTANCE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
SAMPLES = Path(__file__).resolve().parent.parent / "bridge" / "samples"
FIXTURES = Path(__file__).resolve().parent.parent.parent / "shared" / "fixtures"


def _pg_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL.replace("+psycopg", ""), connect_timeout=3):
            return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def pg_available() -> bool:
    return _pg_available()


def new_pg_schema_url() -> tuple[str, str]:
    """Create an empty schema and return (url whose search_path is that schema, schema)."""
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in PG_ADMIN_URL else "?"
    return f"{PG_ADMIN_URL}{sep}options=-csearch_path%3D{schema}", schema


def drop_pg_schema(schema: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database URL: one SQLite file, or one PostgreSQL schema, per test.

    PostgreSQL tests fail (not skip) when the server is down: CI starts it, and a silently
    skipped half of the store suite would hide real bugs.
    """
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'quittance.db'}"
        return
    url, schema = new_pg_schema_url()
    try:
        yield url
    finally:
        drop_pg_schema(schema)


@pytest.fixture
def pg_url() -> Iterator[str]:
    url, schema = new_pg_schema_url()
    try:
        yield url
    finally:
        drop_pg_schema(schema)
