"""The dashboard's integrity page over a real bridge: documents issued by the real pipeline on
SQLite, archived on disk, checked by the same `verify` as `quittance verify`, each check
recorded in the append-only event log whoever ran it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from click.testing import Result
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from bridge.cli import app as cli_app
from bridge.devsmtp import CaptureSMTPServer
from bridge.integrity import CHECKED_EVENT, latest_check
from bridge.logs import configure_logging
from bridge.store import InvoiceRecord
from tests.support.dashboard import csrf_of, signed_in
from tests.support.portal import Bridge, new_email
from tests.support.waiting import eventually

pytestmark = pytest.mark.filterwarnings("ignore:'imghdr' is deprecated:DeprecationWarning")

REFRESH = '<meta http-equiv="refresh"'


@pytest.fixture(scope="module", autouse=True)
def _json_logs() -> Iterator[None]:
    configure_logging("WARNING", "json")  # the console renderer is slow and noisy
    yield
    structlog.reset_defaults()


@pytest.fixture(scope="module")
def smtp() -> Iterator[CaptureSMTPServer]:
    with CaptureSMTPServer() as server:
        yield server


@pytest.fixture
def bridge(tmp_path: Path, smtp: CaptureSMTPServer) -> Iterator[Bridge]:
    """A bridge of its own per test (some tamper with its archive), two documents issued."""
    started = Bridge.start(tmp_path, smtp)
    try:
        for _ in range(2):
            started.issue_for(new_email())
        yield started
    finally:
        started.close()


def quittance(*args: str) -> Result:
    """`quittance …` in-process; its logging (set up on the runner's stderr, closed once it
    returns) is put back to this module's, or the next log line of the bridge would fail."""
    try:
        return CliRunner().invoke(cli_app, list(args))
    finally:
        configure_logging("WARNING", "json")


def issued(bridge: Bridge) -> list[InvoiceRecord]:
    return sorted(bridge.store.iter_invoices(), key=lambda r: r.id)


def check_now(client: TestClient) -> str:
    """Press "Check now" and come back until the page no longer says it runs."""
    page = client.get("/integrity")
    answer = client.post(
        "/integrity/run", data={"csrf": csrf_of(page.text)}, follow_redirects=False
    )
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"].startswith("/integrity")
    return settled(client)


def settled(client: TestClient) -> str:
    def done() -> str | None:
        page = client.get("/integrity")
        assert page.status_code == 200
        return None if REFRESH in page.text else page.text

    return eventually("the integrity check to finish", done)


def test_integrity_page_says_never_checked(bridge: Bridge) -> None:
    page = signed_in(bridge.svc, "owner").get("/integrity")
    assert page.status_code == 200
    assert "Never checked" in page.text
    assert REFRESH not in page.text
    assert 'action="/integrity/run"' in page.text


def test_check_now_turns_green_with_the_count(bridge: Bridge) -> None:
    text = check_now(signed_in(bridge.svc, "owner"))
    assert "Numbering and archive intact: 2 document(s) checked" in text
    assert 'class="bad"' not in text


def test_a_tampered_archived_pdf_turns_the_check_red_naming_the_document(
    bridge: Bridge,
) -> None:
    first, second = issued(bridge)
    assert first.pdf_sha256
    altered = bridge.svc.archive.path_for(first.pdf_sha256)
    altered.chmod(0o644)  # the archive keeps its files read-only
    data = bytearray(altered.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one byte, in the middle
    altered.write_bytes(bytes(data))

    text = check_now(signed_in(bridge.svc, "owner"))

    assert "1 problem(s) found in 2 document(s)" in text
    assert first.number in text
    assert "the archived PDF was changed since it was issued" in text
    assert second.number not in text


def test_a_check_from_the_page_is_recorded_in_the_event_log(bridge: Bridge) -> None:
    check_now(signed_in(bridge.svc, "owner"))
    (event,) = bridge.store.events(limit=10, kind=CHECKED_EVENT)
    assert event.detail["trigger"] == "dashboard"
    assert event.detail["checked"] == 2
    assert event.detail["problems"] == [] and event.detail["problem_count"] == 0
    (audited,) = bridge.store.events(limit=10, kind="dashboard.integrity.run")
    assert audited.detail["user"] == "owner"


def test_quittance_verify_records_its_check_too(bridge: Bridge) -> None:
    result = quittance("verify", "-c", str(bridge.config))
    assert result.exit_code == 0, result.output
    latest = latest_check(bridge.svc)
    assert latest is not None and latest.ok
    assert (latest.trigger, latest.checked) == ("cli", 2)
    page = signed_in(bridge.svc, "owner").get("/integrity")
    assert "Numbering and archive intact: 2 document(s) checked" in page.text
    assert "the command line" in page.text


def test_an_accountant_may_run_a_check(bridge: Bridge) -> None:
    text = check_now(signed_in(bridge.svc, "accountant"))
    assert "Numbering and archive intact: 2 document(s) checked" in text
    (audited,) = bridge.store.events(limit=10, kind="dashboard.integrity.run")
    assert audited.detail["role"] == "accountant"


def test_check_now_without_csrf_is_refused(bridge: Bridge) -> None:
    client = signed_in(bridge.svc, "owner")
    answer = client.post("/integrity/run", data={"csrf": "forged"}, follow_redirects=False)
    assert answer.status_code == 400
    assert latest_check(bridge.svc) is None
