"""The integrity check on its schedule (`[dashboard] verify_every_hours`): in the service's
scheduler when asked for, run by one replica per period, recorded like every other check;
and a check whose record the database refuses (a read-only role) still gives its result."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from sqlalchemy.exc import OperationalError
from typer.testing import CliRunner

from bridge.cli import app as cli_app
from bridge.config import load_settings
from bridge.integrity import CHECKED_EVENT, run_check
from bridge.service import build_scheduler, scheduled_integrity_check
from bridge.services import Services
from bridge.store import Store
from tests.support.config import write_config


def services(tmp_path: Path, name: str, hours: int) -> Services:
    config = write_config(tmp_path / f"{name}.toml", dashboard={"port": 0,
                          "verify_every_hours": hours})  # fmt: skip
    return Services.from_settings(load_settings(config, environ={}))


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[Services]:
    started = services(tmp_path, "a", 6)
    yield started
    started.close()


def test_the_scheduler_checks_integrity_every_configured_hours(svc: Services) -> None:
    job = build_scheduler(svc, "test").get_job("integrity")
    assert job is not None
    assert job.trigger.interval.total_seconds() == 6 * 3600


def test_no_scheduled_check_when_the_hours_are_zero(tmp_path: Path) -> None:
    quiet = services(tmp_path, "quiet", 0)
    try:
        assert build_scheduler(quiet, "test").get_job("integrity") is None
    finally:
        quiet.close()


def test_a_scheduled_check_is_recorded_with_its_trigger(svc: Services) -> None:
    scheduled_integrity_check(svc)
    (event,) = svc.store.events_of_kind(CHECKED_EVENT)
    assert event.detail["trigger"] == "schedule"
    assert event.detail["problem_count"] == 0


def test_two_replicas_on_one_database_run_one_check_per_period(
    svc: Services, tmp_path: Path
) -> None:
    other = services(tmp_path, "b", 6)  # the same database and archive (the folder's)
    try:
        scheduled_integrity_check(svc)
        scheduled_integrity_check(other)
    finally:
        other.close()
    assert len(svc.store.events_of_kind(CHECKED_EVENT)) == 1


def refuse_writes(*_args: object, **_kwargs: object) -> int:
    # what a read-only role (an auditor's) meets: the database itself refuses
    raise OperationalError("INSERT INTO events", {}, Exception("permission denied"))


def test_a_check_the_log_refuses_still_gives_its_result(
    svc: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Store, "append_event", refuse_writes)
    result = run_check(svc, "cli")
    assert (result.ok, result.recorded) == (True, False)


def test_verify_with_a_read_only_log_still_says_the_documents_are_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_config(tmp_path / "ro.toml", dashboard={"port": 0})
    monkeypatch.setattr(Store, "append_event", refuse_writes)
    try:
        result = CliRunner().invoke(cli_app, ["verify", "-c", str(config)])
    finally:
        structlog.reset_defaults()  # the in-process CLI leaves it on a closed stream
    assert result.exit_code == 0, result.output
    assert "could not be written to the event log" in result.output
