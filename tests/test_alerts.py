"""Owner alerts through apprise, delivered for real to a tiny HTTP server on loopback."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

import pytest
import structlog
from pydantic import SecretStr

from bridge.delivery.alerts import Alerter
from tests.support.hook import Hook

TOKEN = "T0KEN-abc123"

# apprise imports the stdlib's deprecated `imghdr` (its problem, not ours)
pytestmark = pytest.mark.filterwarnings("ignore:'imghdr' is deprecated:DeprecationWarning")


@pytest.fixture
def hook() -> Iterator[Hook]:
    with Hook(f"hooks/{TOKEN}") as h:  # a token in the URL, as real webhook URLs carry
        yield h


def memory_claim(now: Callable[[], datetime] = datetime.now) -> Callable[[str, timedelta], bool]:
    """What `Store.claim_alert` does, in memory: True once per key per window."""
    last: dict[str, datetime] = {}

    def claim(key: str, window: timedelta) -> bool:
        t = now()
        if key in last and t - last[key] < window:
            return False
        last[key] = t
        return True

    return claim


def closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_alert_is_delivered_and_deduplicated_within_window(hook: Hook) -> None:
    clock = [datetime(2026, 11, 28, 12, 0)]
    alerter = Alerter([SecretStr(hook.url)], memory_claim(lambda: clock[0]), timedelta(hours=1))

    assert alerter.alert("smtp-down", "Email en panne", "smtp.example.com ne répond plus") is True
    assert alerter.alert("smtp-down", "Email en panne", "encore") is False
    assert len(hook.posts) == 1
    assert hook.posts[0]["title"] == "Email en panne"
    assert hook.posts[0]["message"] == "smtp.example.com ne répond plus"

    assert alerter.alert("job-dead", "Job mort", "render #12") is True  # another key
    assert len(hook.posts) == 2

    clock[0] += timedelta(hours=1, minutes=1)  # the window has passed: alert again
    assert alerter.alert("smtp-down", "Email en panne", "toujours") is True
    assert len(hook.posts) == 3


def test_plain_string_urls_accepted(hook: Hook) -> None:
    alerter = Alerter([hook.url], memory_claim(), timedelta(minutes=60))
    assert alerter.alert("k", "t", "b") is True
    assert len(hook.posts) == 1


def test_no_urls_returns_false_and_warns() -> None:
    calls: list[str] = []

    def claim(key: str, window: timedelta) -> bool:
        calls.append(key)
        return True

    with structlog.testing.capture_logs() as events:
        alerter = Alerter([], claim, timedelta(minutes=60))
        assert alerter.alert("k", "t", "b") is False
    assert any(
        e["event"] == "alerts.not_configured" and e["log_level"] == "warning" for e in events
    )
    assert calls == []  # nothing claimed: no window burnt


def test_failing_url_returns_false_without_raising(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)  # what production logs (stdlib at WARNING and above)
    url = f"json://127.0.0.1:{closed_port()}/hooks/{TOKEN}"
    with structlog.testing.capture_logs() as events:
        alerter = Alerter([SecretStr(url)], memory_claim(), timedelta(minutes=60))
        assert alerter.alert("k", "t", "b") is False
    assert any(e["event"] == "alerts.failed" for e in events)
    assert TOKEN not in repr(events)
    assert all(TOKEN not in r.getMessage() for r in caplog.records)


def test_invalid_url_is_reported_by_position_not_content() -> None:
    with structlog.testing.capture_logs() as events:
        alerter = Alerter([f"nonsense://{TOKEN}"], memory_claim(), timedelta(minutes=60))
        assert alerter.configured is False
        assert alerter.alert("k", "t", "b") is False
    assert any(e["event"] == "alerts.invalid_url" and e["target"] == "#1" for e in events)
    assert TOKEN not in repr(events)


def test_claim_failure_still_alerts_once(hook: Hook) -> None:
    def broken_claim(key: str, window: timedelta) -> bool:
        raise RuntimeError("database is down")

    alerter = Alerter([hook.url], broken_claim, timedelta(minutes=60))
    assert alerter.alert("db-down", "Base de données", "injoignable") is True
    assert alerter.alert("db-down", "Base de données", "injoignable") is False
    assert len(hook.posts) == 1
