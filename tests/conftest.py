"""Shared fixtures: databases (SQLite and PostgreSQL), the suite's size, PostgreSQL's presence.

Everything else a test needs lives in `tests/support/` (one module per piece)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import postgres
from tests.support.hook import Hook
from tests.support.smtp import SMTPServer

# `browser`, `page` (Chromium, Playwright); `wide_consoles` (the CLI's output unwrapped)
pytest_plugins = ["tests.support.browser", "tests.support.cli"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--full-size",
        action="store_true",
        help="run the crash and scale scenarios at their full size (200 orders and 20 "
        "SIGKILLs, 300 orders on two services) instead of the suite's quicker size",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Whatever reaches PostgreSQL carries the `postgres` mark, so `-m "not postgres"` runs the
    rest of the suite on a machine without the server."""
    for item in items:
        if "pg_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.postgres)


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """One line, not a hundred connection errors, when the selected tests need PostgreSQL and
    it does not answer. (Under xdist the controller checks once, before the workers start.)"""
    if _is_xdist_process(session.config) or session.config.option.collectonly:
        return
    if any(item.get_closest_marker("postgres") for item in session.items):
        _refuse_without_postgres()


def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    if _is_xdist_controller(config) and "not postgres" not in (config.option.markexpr or ""):
        _refuse_without_postgres()


def _is_xdist_controller(config: pytest.Config) -> bool:
    return bool(getattr(config.option, "numprocesses", None)) and not hasattr(config, "workerinput")


def _is_xdist_process(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput") or _is_xdist_controller(config)


def _refuse_without_postgres() -> None:
    reason = postgres.unreachable_reason()
    if reason is not None:
        raise pytest.UsageError(
            f"PostgreSQL is not reachable at {postgres.display_url()} ({reason}). "
            f"Start it with: {postgres.START_HINT} "
            '(or leave its tests out: pytest -m "not postgres").'
        )


@pytest.fixture(autouse=True, scope="session")
def _quick_password_hashes() -> None:
    """The dashboard's argon2id at 1 MiB and one pass instead of 64 MiB and three: at the
    production cost, hashing was most of each sign-in test's time. What is stored (an
    argon2id hash) and how it is compared stay the same; processes started by a test (the
    demo, `quittance run`) hash at the production cost."""
    from argon2 import PasswordHasher

    from bridge.dashboard.passwords import use_hasher

    use_hasher(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture(scope="session")
def full_size(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--full-size"))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database URL: one SQLite file, or one PostgreSQL schema, per test.

    PostgreSQL tests fail (not skip) when the server is down: CI starts it, and a silently
    skipped half of the store suite would hide real bugs.
    """
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'quittance.db'}"
        return
    with postgres.schema_url() as url:
        yield url


@pytest.fixture
def pg_url() -> Iterator[str]:
    with postgres.schema_url() as url:
        yield url


@pytest.fixture
def smtp() -> Iterator[SMTPServer]:
    """A real SMTP server on loopback, keeping what it receives (test files may define their
    own, scripted one)."""
    with SMTPServer() as server:
        yield server


@pytest.fixture
def hook() -> Iterator[Hook]:
    """A real HTTP endpoint on loopback standing for the owner's alert target."""
    with Hook() as h:
        yield h
