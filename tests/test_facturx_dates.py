"""The PDF and XMP dates of a Factur-X file: UTC whatever the machine's time zone, a naive
datetime included (it is read as UTC, never in the local zone)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest

from bridge.render.facturx_pdf import pdf_date, xmp_date

NAIVE = datetime(2026, 11, 28, 8, 0)


@pytest.fixture
def far_from_utc(monkeypatch):
    """The process in New York time, restored after the test."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_naive_datetime_is_utc_in_the_pdf_date(far_from_utc) -> None:
    assert pdf_date(NAIVE) == "D:20261128080000+00'00'"


def test_naive_datetime_is_utc_in_the_xmp_date(far_from_utc) -> None:
    assert xmp_date(NAIVE) == "2026-11-28T08:00:00+00:00"


def test_aware_datetime_is_converted_to_utc() -> None:
    paris = datetime(2026, 11, 28, 9, 0, tzinfo=timezone(timedelta(hours=1)))
    assert xmp_date(paris) == "2026-11-28T08:00:00+00:00"
