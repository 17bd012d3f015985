"""Retry-After, as connectors read it: delta-seconds or an HTTP-date, relative to now."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from connectors.http import retry_after


def test_retry_after_in_seconds_is_read_as_is() -> None:
    assert retry_after("3") == 3.0


def test_retry_after_as_an_http_date_is_the_time_left_until_it() -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    header = format_datetime(now + timedelta(seconds=90), usegmt=True)
    assert retry_after(header, now=now) == pytest.approx(90.0)


def test_retry_after_in_the_past_means_retry_now() -> None:
    now = datetime.now(UTC)
    assert retry_after(format_datetime(now - timedelta(hours=1), usegmt=True), now=now) == 0.0


@pytest.mark.parametrize("header", [None, "", "soon"])
def test_retry_after_absent_or_unreadable_leaves_the_wait_to_our_backoff(header) -> None:
    assert retry_after(header) is None
