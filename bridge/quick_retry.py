"""Quick retries inside one attempt of a step: the one tenacity policy of every client and SMTP.

A dropped connection or a 429 that says "wait 2 s" is retried here, within seconds; anything
longer goes back to the durable job queue (`bridge.worker`), which retries over hours. Each
caller raises `RetrySoon` (or names its own exception class) for an attempt worth repeating,
optionally with the wait the server asked for; otherwise the wait doubles from `initial`.
"""

from __future__ import annotations

import email.utils
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

# (the error of the attempt that failed, the seconds about to be waited, its attempt number)
OnRetry = Callable[[BaseException | None, float, int], None]


class RetrySoon(Exception):
    """This attempt failed in a way worth repeating in a few seconds.

    `wait`: what the server asked for (Retry-After, a rate-limit bucket), None for our backoff;
    `throttled`: the server is rate-limiting us rather than failing."""

    def __init__(self, message: str, wait: float | None = None, *, throttled: bool = False):
        super().__init__(message)
        self.wait = wait
        self.throttled = throttled


def quick_retries(
    *,
    attempts: int,
    initial: float,
    maximum: float = 10.0,
    retry_on: type[BaseException] | tuple[type[BaseException], ...] = RetrySoon,
    sleep: Callable[[float], None] = time.sleep,
    on_retry: OnRetry | None = None,
) -> Retrying:
    """At most `attempts` tries; between them the wait the error carries (`.wait`), else
    `initial`, 2×, 4×… capped at `maximum`. The last error is re-raised as it is."""
    backoff = wait_exponential(multiplier=initial, min=initial, max=maximum)

    def wait(state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        told = getattr(error, "wait", None)
        return float(told) if told is not None else float(backoff(state))

    def before_sleep(state: RetryCallState) -> None:
        # Only when a retry really follows (tenacity computes the wait before it decides).
        if on_retry is not None:
            error = state.outcome.exception() if state.outcome else None
            seconds = state.next_action.sleep if state.next_action else 0.0
            on_retry(error, seconds, state.attempt_number)

    return Retrying(
        stop=stop_after_attempt(max(1, attempts)),
        wait=wait,
        retry=retry_if_exception_type(retry_on),
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )


def retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds a Retry-After header asks for (delta-seconds or HTTP-date), None if absent."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:  # "inf" and "nan" parse as floats: no server means them
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
