"""Probes of the SMTP server and the shops: a real mail server on loopback (and a closed port
for "down"), a real shop sandbox, a real alert endpoint; /readyz never hears of them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient

from bridge.devsmtp import free_port
from bridge.outages import check_outages
from bridge.probes import ProbeResult, Probes, latest_probes, run_probes
from bridge.services import Services
from bridge.web.app import create_app, default_readiness
from connectors.woocommerce.sandbox import WooSandbox
from tests.support import postgres
from tests.support.clock import FrozenClock
from tests.support.failing_jobs import clock, make_services  # clock: a fixture
from tests.support.hook import Hook
from tests.support.shops import woo_shop
from tests.support.smtp import SMTPServer

__all__ = ["clock"]  # a fixture, used by name

pytestmark = pytest.mark.filterwarnings("ignore:'imghdr' is deprecated:DeprecationWarning")


@pytest.fixture
def smtp_port() -> int:
    return free_port()  # nothing listens there until a test starts a server on it


@pytest.fixture
def svc(
    tmp_path: Path, db_url: str, hook: Hook, clock: FrozenClock, smtp_port: int
) -> Iterator[Services]:
    services = make_services(tmp_path, db_url, hook, clock, smtp_port=smtp_port)
    yield services
    services.close()


NAME = "smtp"


def named(results: list[ProbeResult], name: str) -> ProbeResult:
    """The result of one probe among those run (the archive's is always there too)."""
    (result,) = [r for r in results if r.name == name]
    return result


def test_a_failing_smtp_probe_alerts_once_and_clears_once(
    svc: Services, clock: FrozenClock, hook: Hook, smtp_port: int
) -> None:
    probes = Probes()
    first = named(run_probes(svc, probes), NAME)
    assert not first.ok and first.failures == 1
    assert hook.posts == []  # one refused connection may be a restart: wait for a second
    clock.advance(minutes=5)
    second = named(run_probes(svc, probes), NAME)
    assert second.failures == 2 and second.failing_since == first.at
    (post,) = hook.posts
    assert post["title"] == "Quittance: the mail server does not answer Quittance's test connection"
    assert "Connection refused" in post["message"] and "2 checks in a row" in post["message"]
    clock.advance(minutes=5)
    run_probes(svc, probes)
    assert len(hook.posts) == 1  # still down: nothing new
    assert [row.cause for row in svc.store.outages()] == ["probe:smtp"]

    with SMTPServer(port=smtp_port):
        clock.advance(minutes=5)
        back = named(run_probes(svc, probes), NAME)
        assert back.ok and back.failures == 0
        clock.advance(minutes=5)
        run_probes(svc, probes)
    assert len(hook.posts) == 2
    assert hook.posts[1]["title"].startswith("Quittance: resolved — the mail server")
    assert "It lasted 15 min" in hook.posts[1]["message"]
    assert svc.store.outages() == []


def test_check_outages_leaves_probe_outages_alone(
    svc: Services, clock: FrozenClock, hook: Hook
) -> None:
    probes = Probes()
    run_probes(svc, probes)
    run_probes(svc, probes)
    assert check_outages(svc).cleared == ()  # no job fails, yet the mail server is still down
    assert [row.cause for row in svc.store.outages()] == ["probe:smtp"]


def test_the_probe_never_changes_readyz(svc: Services, hook: Hook) -> None:
    probes = Probes()
    run_probes(svc, probes)
    run_probes(svc, probes)
    assert [row.cause for row in svc.store.outages()] == ["probe:smtp"]  # the outage is open
    assert default_readiness(svc) == []  # readiness reads the database and archive only
    with TestClient(create_app(svc)) as client:
        assert client.get("/readyz").json() == {"status": "ready"}


def test_the_last_results_stay_in_memory(svc: Services, smtp_port: int) -> None:
    with SMTPServer(port=smtp_port):
        run_probes(svc)  # this process's own probes
    (result,) = [r for r in latest_probes() if r.name == "smtp"]
    assert result.ok and "reachable" in result.detail


def test_an_unreachable_shop_opens_its_own_outage(
    tmp_path: Path, db_url: str, hook: Hook, clock: FrozenClock
) -> None:
    with WooSandbox(seed=False) as sandbox:
        svc = make_services(tmp_path, db_url, hook, clock, shops=[woo_shop("the", sandbox)])
        try:
            probes = Probes()
            up = named(run_probes(svc, probes), "shop:the")
            assert up.name == "shop:the" and up.ok, up.detail
            sandbox.stop()
            run_probes(svc, probes)
            clock.advance(minutes=5)
            down = named(run_probes(svc, probes), "shop:the")
            assert not down.ok
            (post,) = hook.posts
            assert post["title"] == "Quittance: shop the does not answer Quittance"
            assert [row.cause for row in svc.store.outages()] == ["probe:shop:the"]
        finally:
            svc.close()


def test_an_archive_short_of_space_opens_its_own_outage(
    tmp_path: Path, db_url: str, hook: Hook, clock: FrozenClock
) -> None:
    # more free space asked for than any disk here has
    svc = make_services(tmp_path, db_url, hook, clock, storage={"archive_min_free_mb": 10**9})
    try:
        probes = Probes()
        run_probes(svc, probes)
        clock.advance(minutes=5)
        down = named(run_probes(svc, probes), "archive")
        assert not down.ok and "archive_min_free_mb" in down.detail
        (post,) = hook.posts
        assert (
            post["title"] == "Quittance: the archive's disk is short of space or cannot be written"
        )
        assert [row.cause for row in svc.store.outages()] == ["probe:archive"]
    finally:
        svc.close()


def test_a_database_that_takes_no_writes_is_told_once_and_when_it_is_back(
    tmp_path: Path, pg_url: str, hook: Hook, clock: FrozenClock
) -> None:
    svc = make_services(tmp_path, pg_url, hook, clock)
    schema = pg_url.rsplit("search_path%3D", 1)[1]
    try:
        probes = Probes()
        assert named(run_probes(svc, probes), "database").ok
        with psycopg.connect(postgres.ADMIN_URL.replace("+psycopg", "")) as holder:
            # a migration, a long transaction: nothing can be written to the jobs
            holder.execute(f'LOCK TABLE "{schema}".jobs IN ACCESS EXCLUSIVE MODE')
            run_probes(svc, probes)
            clock.advance(minutes=5)
            down = run_probes(svc, probes)
            holder.rollback()
        assert [r.name for r in down] == ["database"] and not down[0].ok
        (post,) = hook.posts
        assert post["title"] == "Quittance: the database does not take writes"
        clock.advance(minutes=5)
        run_probes(svc, probes)
        assert hook.posts[-1]["title"] == "Quittance: resolved — the database takes writes again"
        assert len(hook.posts) == 2
    finally:
        svc.close()
