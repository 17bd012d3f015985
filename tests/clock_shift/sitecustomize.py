"""Moves the wall clock of every Python process that starts with this folder on PYTHONPATH.

    TEST_CLOCK=+45d     PYTHONPATH=tests/clock_shift pytest -m "not postgres"
    TEST_CLOCK=new-year ...   # starts at 31 December 23:58, Paris time
    TEST_CLOCK=dst ...        # starts at 01:59 on the last Sunday of March, Paris
    TEST_CLOCK=new-year+75s   # 75 s later: midnight falls in the middle of the suite

The first process turns the wanted start into an offset from the real clock and leaves it in
the environment, so its subprocesses (xdist workers, `quittance run`, its workers) all see the
same moved clock, ticking. Monotonic time is left alone, so timeouts keep working. The
variables do not start with QUITTANCE_: tests strip those from the environment of the
subprocesses they start, and the clock must reach them. Used by
`make test-clock`; libfaketime is no instrument here (it hangs Python's timed waits).
"""

from __future__ import annotations

import os
import re
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")
OFFSET_VAR = "TEST_CLOCK_OFFSET"


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
    """`+Nd`: N days ahead; `new-year` / `dst`, optionally `+Ns` later; or an ISO datetime."""
    if match := re.fullmatch(r"\+(\d+)d", spec):
        return now + timedelta(days=int(match.group(1)))
    if match := re.fullmatch(r"(new-year|dst)(?:\+(\d+)s)?", spec):
        start = (
            _next_new_year_eve(now) if match.group(1) == "new-year" else _next_spring_forward(now)
        )
        return start + timedelta(seconds=int(match.group(2) or 0))
    return datetime.fromisoformat(spec)


def _install() -> None:
    spec = os.environ.get("TEST_CLOCK")
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
