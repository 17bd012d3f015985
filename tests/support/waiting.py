"""Waiting on events, never on the wall clock's speed.

A test waits for something it can observe (a row, a count, an idle queue, a process exit).
The cap is there only so that a hang fails the test instead of blocking CI: it is generous on
purpose and no test asserts how long the wait took.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

HANG = 120.0  # seconds: far beyond any healthy wait, even with two suites on two cores


def eventually(
    what: str, check: Callable[[], T], *, timeout: float = HANG, step: float = 0.05
) -> T:
    """Call `check` until it returns something truthy, and return that.

    `what` names the awaited event in the failure message ("timed out waiting for 6 emails").
    """
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(step)
