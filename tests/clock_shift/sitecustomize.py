"""Moves the wall clock of every Python process that starts with this folder on PYTHONPATH.

    QUITTANCE_TEST_CLOCK=+45d     PYTHONPATH=tests/clock_shift pytest -m "not postgres"
    QUITTANCE_TEST_CLOCK=new-year ...   # starts at 31 December 23:58, Paris time
    QUITTANCE_TEST_CLOCK=dst ...        # starts at 01:59 on the last Sunday of March, Paris

The first process turns the wanted start into an offset from the real clock and leaves it in
the environment, so its subprocesses (xdist workers, `quittance run`, its workers) all see the
same moved clock, ticking. Monotonic time is left alone, so timeouts keep working. Used by
`make test-clock`; libfaketime is no instrument here (it hangs Python's timed waits).
"""

from __future__ import annotations

import os
import re
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")
OFFSET_VAR = "QUITTANCE_TEST_CLOCK_OFFSET"


def _next_new_year_eve(now: datetime) -> datetime:
    local = now.astimezone(PARIS)
    start = datetime(local.year, 12, 31, 23, 58, tzinfo=PARIS)
    return start if start > local else start.replace(year=local.year + 1)


def _next_spring_forward(now: datetime) -> datetime:
    """01:59 Paris on the next last Sunday of March (at 02:00 the clocks jump to 03:00)."""
    local = now.astimezone(PARIS)
    for year in (local.year, local.year + 1):
        last = datetime(year, 3, 31, 1, 59, tzinfo=PARIS)
        start = last - timedelta(days=(last.weekday() + 1) % 7)
        if start > local:
            return start
    raise AssertionError("unreachable")


def wanted_start(spec: str, now: datetime) -> datetime:
    if match := re.fullmatch(r"\+(\d+)d", spec):
        return now + timedelta(days=int(match.group(1)))
    if spec == "new-year":
        return _next_new_year_eve(now)
    if spec == "dst":
        return _next_spring_forward(now)
    return datetime.fromisoformat(spec)


def _install() -> None:
    spec = os.environ.get("QUITTANCE_TEST_CLOCK")
    if not spec:
        return
    import time_machine

    real_now = datetime.fromtimestamp(time.time(), UTC)
    if OFFSET_VAR not in os.environ:
        offset = (wanted_start(spec, real_now) - real_now).total_seconds()
        os.environ[OFFSET_VAR] = repr(offset)
    offset = float(os.environ[OFFSET_VAR])
    time_machine.travel(real_now + timedelta(seconds=offset), tick=True).start()


_install()
